"""scripts/torch-deps.py: torch goes into the images and the venv without Triton.

PyPI's Linux torch requires Triton, the GPU compiler of torch.compile; the lab trains on the CPU,
so it installs torch with --no-deps and then the requirements the script prints, and accepts a
dependency check whose only complaint is the Triton left out. NVIDIA's libraries stay (torch's
shared libraries link them). The images' own proof is
tests/e2e/test_stack.py::test_the_trainer_image_carries_torch_without_triton.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "torch-deps.py"

# torch's own plain requirements (2.15.0), which the CPU index's torch lists alone.
CPU_STACK = [
    "filelock",
    "typing-extensions>=4.13.0",
    "setuptools>=77.0.3",
    "sympy>=1.13.3",
    "networkx>=2.5.1",
    "jinja2",
    "fsspec>=0.8.5",
]
# Requires-Dist of PyPI's torch 2.15.0 (Linux x86_64) beyond those, and of an older CUDA 12 build.
CUDA_13 = CPU_STACK + [
    'cuda-toolkit[cublas,cudart,cufft]==13.2.2; platform_system == "Linux"',
    'cuda-bindings<14,>=13.0.3; platform_system == "Linux" and python_version < "3.15"',
    'nvidia-cudnn-cu13==9.26.0.51; platform_system == "Linux"',
    'nvidia-nccl-cu13==2.30.7; platform_system == "Linux"',
]
TORCH_2_15 = CUDA_13 + [
    'triton~=3.9.0; platform_system == "Linux" and python_version < "3.16"',
    'optree>=0.13.0; extra == "optree"',
    'pyyaml; extra == "pyyaml"',
]
TORCH_2_4 = [
    "filelock",
    "sympy",
    'nvidia-cuda-nvrtc-cu12==12.1.105; platform_system == "Linux" and platform_machine == "x86_64"',
    'Nvidia_CUBLAS_cu12==12.1.3.1; platform_system == "Linux"',
    'triton==3.0.0; platform_system == "Linux" and platform_machine == "x86_64" and python_version < "3.13"',
    'pytorch-triton-rocm==3.0.0; platform_system == "Linux"',
]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def wheel(tmp_path: Path, requires: list[str]) -> Path:
    """A wheel file whose METADATA lists ``requires`` (nothing else in it is read)."""
    path = tmp_path / "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    lines = ["Metadata-Version: 2.4", "Name: torch", "Version: 2.15.0"] + [
        f"Requires-Dist: {r}" for r in requires
    ]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("torch/__init__.py", "")
        archive.writestr("torch-2.15.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("requires", "kept"),
    [(TORCH_2_15, CUDA_13), (TORCH_2_4, ["filelock", "sympy"] + TORCH_2_4[2:4]), (CPU_STACK, CPU_STACK)],
    ids=["cuda-13-build", "cuda-12-build", "cpu-index-build"],
)
def test_a_wheel_s_requirements_leave_out_triton_and_the_extras(tmp_path, requires, kept):
    result = run("requirements", str(wheel(tmp_path, requires)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == kept


def test_the_installed_torch_s_requirements_are_those_of_its_metadata():
    from importlib import metadata

    result = run("requirements")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed and set(printed) <= set(metadata.requires("torch"))
    assert not [line for line in printed if line.lower().startswith("triton")]


def check(tmp_path: Path, output: str, returncode: int) -> subprocess.CompletedProcess:
    """torch-deps.py check over a command that prints ``output`` and exits with ``returncode``."""
    (tmp_path / "out.txt").write_text(output)
    command = (
        f"import sys; sys.stdout.write(open({str(tmp_path / 'out.txt')!r}).read()); sys.exit({returncode})"
    )
    return run("check", sys.executable, "-c", command)


UV_TRITON = (
    "Checked 131 packages in 1ms\nFound 1 incompatibility\n"
    "The package `torch` requires `triton~=3.9.0 ; sys_platform == 'linux'`, but it's not installed\n"
)
PIP_TRITON = "torch 2.4.0 requires pytorch-triton-rocm, which is not installed.\n"


@pytest.mark.parametrize("output", [UV_TRITON, PIP_TRITON], ids=["uv", "pip"])
def test_a_check_whose_only_complaint_is_triton_passes(tmp_path, output):
    result = check(tmp_path, output, 1)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "complaint",
    [
        "The package `torch` requires `sympy>=1.13.3`, but it's not installed",
        "The package `torch` requires `nvidia-cudnn-cu13==9.26.0.51`, but it's not installed",
        "torch 2.15.0 has requirement filelock>=3, but you have filelock 2.0.",
        "s3torchconnector 1.5.0 requires s3torchconnectorclient, which is not installed.",
        "The package `minio` requires `urllib3`, but `1.0` is installed",
    ],
)
def test_any_other_complaint_fails_the_check_and_is_shown(tmp_path, complaint):
    result = check(tmp_path, UV_TRITON + complaint + "\n", 1)
    assert result.returncode == 1
    assert result.stderr.strip() == complaint


def test_a_check_that_fails_without_saying_why_fails(tmp_path):
    result = check(tmp_path, "", 1)
    assert result.returncode == 1 and "failed with no output" in result.stderr


def test_without_a_known_command_it_prints_its_usage():
    result = run("install")
    assert result.returncode == 2 and "requirements [WHEEL]" in result.stderr
