"""Stand-alone driver for the bash runtime (src/shell/runtime.sh).

It speaks the step protocol of docs/internals/shell-protocol.md exactly as the Rust
`shell` layer does, so the runtime can be developed and checked on its own:

* spawns `/bin/bash --norc --noprofile` (argv[0] `/bin/bash`, stdout and stderr on one
  pipe, stdin a pipe), writes the start-up and a sync step;
* per action applies what MLGym does before the shell sees it: the multi-line guard
  (without MLGym's double-slicing truncation), `.strip()`, the working blocklist and the
  malformed-edit check (both answered without the shell);
* writes the step bytes with PAD empty lines computed from `MlgymLineModel`, reads to
  the marker, and normalises the output like MLGym (reference section 2.1).

`AciSession.step(action)` returns `(observation, exit_code, state)`; `state` is
`{"open_file": ..., "working_dir": ...}` as MLGym's state command reports it.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "src" / "shell" / "runtime.sh"
LINTD = REPO / "src" / "shell" / "lintd.py"

ALIASES = (
    "alias ll='ls -alF'\nalias la='ls -A'\nalias l='ls -CF'\nalias ls='ls -F'\n"
    "shopt -s expand_aliases\n"
)

MALFORMED_EDIT = (
    "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark "
    "the end of your edit."
)
EDIT_PATTERN = re.compile(r"^edit\s+(\d+):(\d+)(?:\n|$|\s)", re.MULTILINE)
# (name, end marker) of MLGym's multi-line commands; its submit pattern is compiled
# with the end marker `None`.
MULTILINE = [("edit", "end_of_edit"), ("insert", "end_of_insert"), ("submit", "None")]
BLOCK_PREFIX = {"vim", "vi", "emacs", "nano"}
BLOCK_STANDALONE = {
    "python",
    "python3",
    "ipython",
    "bash",
    "sh",
    "/bin/bash",
    "/bin/sh",
    "su",
    "vim",
    "vi",
}
TQDM = re.compile(r"(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])")


# ---------------------------------------------------------------------------------------
# What the agent and the env do to an action before the shell sees it
# ---------------------------------------------------------------------------------------


def _first_block(text: str) -> tuple[re.Match[str], str] | None:
    best = None
    for name, end in MULTILINE:
        pat = re.compile(
            rf"^\s*({re.escape(name)})\s*(.*?)^({re.escape(end)})\s*$", re.DOTALL | re.MULTILINE
        )
        m = pat.search(text)
        if m and (best is None or m.start() < best[0].start()):
            best = (m, end)
    return best


def guard_multiline_input(action: str) -> str:
    """MLGym's `guard_multiline_input`, minus its double-slicing truncation.

    Repeatedly finds the earliest `edit`/`insert` block (`^\\s*<name>\\s*(.*?)^<end>\\s*$`,
    DOTALL|MULTILINE); text before it is kept as its own piece; unless the block's first
    line already ends with `<< '<end>'`, that first line gets ` << '<end>'` appended. The
    pieces are joined with `\\n`. As in MLGym, a block whose match starts on a blank line
    (a second block right after another, or a blank line before it) has that blank line
    as its first line, so the heredoc opener lands there and the command itself becomes
    heredoc text: MLGym then runs only the first of two back-to-back edits.
    """
    parsed: list[str] = []
    rest = action
    while rest.strip():
        found = _first_block(rest)
        if found is None:
            parsed.append(rest)
            break
        m, end = found
        pre, block, rest = rest[: m.start()], rest[m.start() : m.end()], rest[m.end() :]
        if pre.strip():
            parsed.append(pre)
        if block.strip():
            first_line = block.split("\n")[0]
            if not first_line.strip().endswith(f"<< '{end}'"):
                block = block.replace(first_line, first_line + f" << '{end}'", 1)
            parsed.append(block)
    return "\n".join(parsed)


def blocked_command(action: str) -> str | None:
    trimmed = action.strip()
    if trimmed in BLOCK_STANDALONE:
        return trimmed
    words = trimmed.split()
    if words and words[0] in BLOCK_PREFIX:
        return words[0]
    return None


def is_malformed_edit(action: str) -> bool:
    return bool(re.match(EDIT_PATTERN, action)) and "end_of_edit" not in action


def normalize(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
    kept = [
        line
        for line in text.splitlines()
        if line and not line.startswith("///PROCESS-DONE:") and not TQDM.search(line)
    ]
    return re.sub(r"///PROCESS-DONE:.+?:PROCESS-DONE///", "", "\n".join(kept))


# ---------------------------------------------------------------------------------------
# MLGym's line counter
# ---------------------------------------------------------------------------------------


def _lines(text: str) -> int:
    return text.count("\n") + 1


def eof_line_index(action: str) -> int | None:
    """1-based index of the first line that is exactly `EOF` (it ends MLGym's check)."""
    for i, line in enumerate(action.split("\n"), 1):
        if line == "EOF":
            return i
    return None


@dataclass
class MlgymLineModel:
    """Where MLGym's shell is in its input (docs/internals/shell-protocol.md)."""

    FIRST_CHECK_LINE = 121
    STATE_LINES = 6
    next_check: int = FIRST_CHECK_LINE

    def eval_line(self, action: str) -> int:
        k = eof_line_index(action)
        if k is not None:
            return self.next_check + k + 1
        return self.next_check + _lines(action) + 3

    def after_shell_step(self, action: str, ran: bool) -> None:
        n = _lines(action)
        used = n + 3
        if ran:
            used += (n + 1) + (_lines(action.strip()) + 1)
        self.next_check += used + self.STATE_LINES

    def after_env_step(self) -> None:
        self.next_check += self.STATE_LINES


# ---------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------


@dataclass
class StepResult:
    observation: str
    exit_code: int | None
    state: dict[str, str]
    ran: bool = True
    raw: bytes = b""
    #: Milliseconds from writing the step to reading its marker (normalisation excluded).
    elapsed_ms: float = 0.0


@dataclass
class AciSession:
    """One bash driven through the step protocol."""

    workspace: str
    env: dict[str, str] = field(default_factory=dict)
    path_prefix: list[str] = field(default_factory=list)
    runtime: Path = RUNTIME
    timeout: float = 60.0
    #: Process environment changes: a value of None removes the variable.
    environ: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.seq = 0
        self.lines_sent = 0
        self.model = MlgymLineModel()
        self.state = {"open_file": "n/a", "working_dir": self.workspace}
        self._tmp = tempfile.mkdtemp(prefix="aci-harness-")
        self.state_file = os.path.join(self._tmp, "state.sh")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
        environ["LANG"] = "C.UTF-8"
        environ["__MLGYM_LINTD"] = str(self.runtime.parent / "lintd.py")
        environ.pop("BASH_ENV", None)
        environ.pop("ENV", None)
        for key, value in self.environ.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        if self.path_prefix:
            environ["PATH"] = os.pathsep.join([*self.path_prefix, environ.get("PATH", "")])
        self.proc = subprocess.Popen(
            ["/bin/bash", "--norc", "--noprofile"],
            executable="/bin/bash",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workspace,
            env=environ,
            start_new_session=True,
        )
        script = (
            "WINDOW=1000; OVERLAP=2; CURRENT_LINE=0; CURRENT_FILE=; "
            "SEARCH_RESULTS=(); SEARCH_FILES=(); SEARCH_INDEX=0\n"
        )
        for name, value in self.env.items():
            script += f"{name}={shlex.quote(str(value))}\n"
        script += f"export __MLGYM_STATE_FILE={shlex.quote(self.state_file)}\n"
        script += f"source {shlex.quote(str(self.runtime))}\n"
        script += f"cd {shlex.quote(self.workspace)}\n"
        script += ALIASES
        self._send(script.encode())
        sync = self._round_trip("true", model=False, internal=True)
        if sync.exit_code is None:
            raise RuntimeError(f"shell did not start: {sync.raw!r}")
        self.startup_output = sync.raw

    # -- low level ------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        self.lines_sent += data.count(b"\n")
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read_to_marker(self, marker: bytes) -> tuple[bytes, bytes]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        deadline = time.monotonic() + self.timeout
        while True:
            pos = buf.find(marker)
            if pos >= 0:
                end = buf.find(b"\x1e\n", pos + len(marker))
                if end >= 0:
                    trailer = bytes(buf[pos + len(marker) : end])
                    out = bytes(buf[:pos])
                    # The runtime prints a newline before the marker.
                    if out.endswith(b"\n"):
                        out = out[:-1]
                    return out, trailer
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no marker; output so far: {bytes(buf)[-2000:]!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"shell exited; output: {bytes(buf)[-2000:]!r}")
            buf += chunk

    def _round_trip(self, action: str, model: bool, internal: bool = False) -> StepResult:
        self.seq += 1
        seq = self.seq
        delim = f"__MLGYM_{self.nonce}_{seq}"
        pre = f"__mlgym_pre {seq}{' internal' if internal else ''} <<'{delim}'\n{action}\n{delim}\n"
        eval_unpadded = self.lines_sent + pre.count("\n") + 1
        pad = max(0, self.model.eval_line(action) - eval_unpadded) if model else 0
        data = (
            pre
            + "\n" * pad
            + f'eval "$__mlgym_cmd" </dev/null; __mlgym_post {self.nonce} {seq} $?\n'
        )
        t0 = time.perf_counter()
        self._send(data.encode())
        raw, trailer = self._read_to_marker(f"\x1eMLGYM:{self.nonce}:{seq}:".encode())
        elapsed = (time.perf_counter() - t0) * 1000
        code_s, cwd, open_file = trailer.decode("utf-8", "surrogateescape").split("\x1f")
        ran = not code_s.startswith("!")
        try:
            code: int | None = int(code_s.lstrip("!"))
        except ValueError:
            code = None
        if model:
            self.model.after_shell_step(action, ran)
        self.state = {"open_file": open_file or "n/a", "working_dir": cwd}
        return StepResult(normalize(raw), code, dict(self.state), ran, raw, elapsed)

    # -- agent-level step ---------------------------------------------------------------

    def step_result(self, action: str) -> StepResult:
        run_action = guard_multiline_input(action).strip()
        name = blocked_command(run_action)
        if name is not None:
            self.model.after_env_step()
            return StepResult(
                f"Interactive operation '{name}' is not supported by this environment",
                None,
                dict(self.state),
                False,
            )
        if is_malformed_edit(run_action):
            self.model.after_env_step()
            return StepResult(MALFORMED_EDIT, None, dict(self.state), False)
        return self._round_trip(run_action, model=True)

    def step(self, action: str) -> tuple[str, int | None, dict[str, str]]:
        r = self.step_result(action)
        return r.observation, r.exit_code, r.state

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        subprocess.run(["rm", "-rf", self._tmp], check=False)

    def __enter__(self) -> AciSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # a tiny REPL for poking at the runtime
    import sys

    ws = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    with AciSession(ws) as s:
        print("actions are read until a line '.'; Ctrl-D quits")
        while True:
            lines = []
            try:
                while (line := input()) != ".":
                    lines.append(line)
            except EOFError:
                break
            obs, code, state = s.step("\n".join(lines))
            print(obs)
            print(f"--- exit {code} {state}")
