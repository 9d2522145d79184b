"""torch's requirements without Triton, for the lab's CPU-only installs.

PyPI's Linux torch is the CUDA build. Among its requirements is Triton (1 GB installed), the
compiler `torch.compile` uses for GPU kernels: torch imports and trains without it, and the lab
trains on the CPU without compiling. So the trainer image and `make venv` install torch with
`--no-deps` and then the requirements this prints. NVIDIA's libraries stay: torch's own shared
libraries link against them, and it does not import without them. The CPU index's torch does not
require Triton, so there this prints torch's own list.

    python3 torch-deps.py requirements [WHEEL]   one requirement per line: of the installed torch,
                                                 or of the torch wheel WHEEL (not installed yet)
    python3 torch-deps.py check CMD ...          run `pip check` (or `uv pip check`): succeed when
                                                 its only complaint is the Triton left out

Standard library only: it runs with the image's bare Python before anything else is installed.
"""

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata

# Triton's distribution names (PEP 503-normalised) across torch versions: `pytorch-triton` (and
# `-rocm`) in older builds, `triton` since.
LEFT_OUT = re.compile(r"^(triton|pytorch-triton.*)$")
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# What pip's and uv's checks print about one unmet requirement of torch.
TORCH_COMPLAINT = re.compile(r"^(?:torch \S+|The package `torch`) requires `?([A-Za-z0-9][A-Za-z0-9._-]*)")
SUMMARY = re.compile(r"^(Checked \d+ packages?|Found \d+ incompatibilit|No broken requirements)")


def normalise(name):
    """The PEP 503 form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_left_out(name):
    """Whether the distribution `name` is one the lab installs torch without."""
    return bool(LEFT_OUT.match(normalise(name)))


def runtime_requirements(requires):
    """torch's `Requires-Dist` lines that a CPU install needs: no extras, no Triton."""
    kept = []
    for line in requires or []:
        marker = line.partition(";")[2]
        if re.search(r"\bextra\s*==", marker):
            continue
        name = NAME.match(line)
        if name and not is_left_out(name.group(1)):
            kept.append(line.strip())
    return kept


def wheel_requirements(path):
    """The `Requires-Dist` lines of a wheel file, read without installing it."""
    with zipfile.ZipFile(path) as wheel:
        meta = next(n for n in wheel.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n))
        message = Parser().parsestr(wheel.read(meta).decode("utf-8"))
    return message.get_all("Requires-Dist") or []


def check(command):
    """Run a dependency check; only complaints about torch's left-out Triton may remain."""
    result = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode == 0:
        return 0
    other = []
    for line in lines:
        complaint = TORCH_COMPLAINT.match(line)
        if complaint and is_left_out(complaint.group(1)):
            continue
        if not SUMMARY.match(line):
            other.append(line)
    if other or not lines:
        print("\n".join(other or [f"{' '.join(command)} failed with no output"]), file=sys.stderr)
        return 1
    return 0


def main(argv):
    if argv[:1] == ["requirements"] and len(argv) <= 2:
        requires = wheel_requirements(argv[1]) if len(argv) == 2 else metadata.requires("torch")
        print("\n".join(runtime_requirements(requires)))
        return 0
    if argv[:1] == ["check"] and len(argv) > 1:
        return check(argv[1:])
    print(__doc__.split("\n\n")[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
