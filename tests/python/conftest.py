"""Shared fixtures: paths to the repo, ../shared, and the test task root."""

from __future__ import annotations

import os
import subprocess
import sys
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


def new_descendants(before: set[int], timeout: float = 10.0) -> set[int]:
    """Descendants not in ``before`` that are still there after up to ``timeout`` s.

    A killed process can linger a moment (as a zombie) on a loaded machine; a leak is
    one that stays.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = descendant_pids() - before
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


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


def _python_ok(bindir: Path) -> bool:
    py = bindir / "python3"
    if not (py.exists() and (bindir / "python").exists()):
        return False
    probe = "import flake8, sys; sys.exit(0 if flake8.__version__.startswith('7.') else 1)"
    if subprocess.run([str(py), "-c", probe], capture_output=True).returncode != 0:
        return False
    no_numpy = "import importlib.util, sys; sys.exit(importlib.util.find_spec('numpy') is not None)"
    return subprocess.run([str(py), "-c", no_numpy], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def aci_python() -> str:
    """A directory with `python`/`python3` that have flake8 7 and no numpy."""
    venv = Path(os.environ.get("MLGYM_ACI_VENV") or REPO / ".venv-aci")
    bindir = venv / "bin"
    if not _python_ok(bindir):
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [str(bindir / "python"), "-m", "pip", "install", "-q", "flake8==7.*"],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            msg = f"could not build the lint venv at {venv}: {err}"
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
        assert _python_ok(bindir), f"{venv} lacks flake8 7 or has numpy"
    return str(bindir)


def fresh_golden_workspace(tmp_path: Path, fixture: str | None) -> Path:
    """A writable copy of a golden ACI fixture (or an empty folder) at tmp_path/workspace."""
    ws = (tmp_path / "workspace").resolve()
    if not fixture:
        ws.mkdir()
        return ws
    import shutil

    shutil.copytree(SHARED / "spec" / "aci-golden" / "fixtures" / fixture, ws, symlinks=True)
    # ../shared is read-only; the recording ran as root on a writable copy.
    for root, dirs, files in os.walk(ws):
        for name in [*dirs, *files]:
            p = Path(root, name)
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o200)
    ws.chmod(ws.stat().st_mode | 0o200)
    return ws


#: The seed's quick-start command line of `mlgym run`, exactly as MLGym's README gives it.
QUICK_START = [
    "--container_type",
    "docker",
    "--task_config_path",
    "tasks/battleOfSexes.yaml",
    "--model",
    "litellm:claude-3-5-sonnet-20240620",
    "--per_instance_cost_limit",
    "4.00",
    "--agent_config_path",
    "configs/agents/default.yaml",
    "--temp",
    "1",
    "--gpus",
    "0",
    "--max_steps",
    "50",
    "--aliases_file",
    "./dockerfiles/aliases.sh",
]


def with_flags(argv: list[str], **flags: str | None) -> list[str]:
    """``argv`` with ``--name value`` pairs replaced (``None``: removed) or appended."""
    out = list(argv)
    for name, value in flags.items():
        key = f"--{name}"
        if key in out:
            i = out.index(key)
            if value is None:
                del out[i : i + 2]
            else:
                out[i + 1] = value
        elif value is not None:
            out += [key, value]
    return out
