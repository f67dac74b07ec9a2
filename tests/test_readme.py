"""The README's promises that CI relies on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README has a Quick start block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_the_quick_start_is_two_commands_and_ci_runs_the_second_verbatim() -> None:
    scan, check = quick_start_commands()
    assert "mentionwatch scan -c examples/mentionwatch.yaml" in scan
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert check in ci.splitlines()
