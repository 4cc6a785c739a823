"""Shared fixtures: paths to the repo, ../shared, and the test task root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "root"


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared; skips outside CI when it is absent, fails in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present (test data lives in ../shared)")
    return path


@pytest.fixture
def fixture_root() -> Path:
    return FIXTURE_ROOT


def descendant_pids() -> set[int]:
    """Every live process below this one."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    stack = [os.getpid()]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out
