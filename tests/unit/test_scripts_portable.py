"""The shell scripts run on macOS's bash 3.2 too: none of bash 4's constructs (a static check)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Each with what bash 3.2 does with it instead of what the author meant.
BASH4_ONLY = {
    r"\bmapfile\b|\breadarray\b": "mapfile/readarray: command not found",
    r"\b(declare|local|typeset)\s+-[a-zA-Z]*[An]": "associative arrays and namerefs: invalid option",
    r"\$\{[^}]*(,,?|\^\^?)\}": "case conversion in ${...}: bad substitution",
    r"\$\{[^}]*@[QEPAa]\}": "${var@op}: bad substitution",
    r"\bcoproc\b": "coproc: command not found",
    r"\|&|&>>|;;&|;&": "|&, &>>, ;;& and ;&: syntax error",
}


def shell_scripts() -> list[Path]:
    return sorted(REPO.glob("scripts/*.sh")) + [REPO / ".ci" / "run"]


def test_no_script_uses_what_bash_3_2_lacks():
    found = []
    for path in shell_scripts():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            found += [
                f"{path.relative_to(REPO)}:{number}: {why}: {line.strip()}"
                for pattern, why in BASH4_ONLY.items()
                if re.search(pattern, code)
            ]
    assert not found, "\n".join(found)


def test_the_check_sees_each_construct():
    samples = [
        "mapfile -t ids < x",
        "declare -A extras=(",
        'echo "${name,,}"',
        'echo "${v@Q}"',
        "a |& b",
        "local -n ref=x",
    ]
    assert all(any(re.search(p, s) for p in BASH4_ONLY) for s in samples)
