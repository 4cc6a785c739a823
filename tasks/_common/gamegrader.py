"""Engine shared by the repeated-game graders (battleOfSexes, prisonersDilemma, blotto).

This module is a secret file: the env copies it, with the task's ``target.py`` (the
opponent), next to the pristine ``evaluate.py`` in a private grading directory, and
removes that directory afterwards. It never exists in the agent's workspace.

How a grading run works:

* The grader (this process) reads a nonce and the env's secret key from stdin, loads the
  opponent, and starts a *worker* subprocess in the workspace (through the sandbox
  launcher in ``MLGYM_AGENT_LAUNCHER`` when the env gives one). Only the worker imports the agent's
  ``strategy.py``; agent code never runs in this process.
* The worker talks to the grader over two dedicated pipes, one JSON document per line.
  Its stdout goes to /dev/null and its stderr to the grader's stderr, so nothing the
  strategy prints can reach the grader's stdout.
* All games are played round by round in lockstep. For each round the grader sends the
  opponent's moves of the previous round (the worker keeps the histories), the worker
  answers with one move per game, and the grader validates every move before it plays
  the opponent's reply and scores the round.
* The result goes to stdout as one line: ``MLGYM-METRICS <nonce> {"Score": ...}``.

Standard library only; Python 3.8+.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import random
import re
import select
import subprocess
import sys
import time

# Defaults shared by the three games (MLGym-Bench: 10 rounds x 10,000 simulated games).
ROUNDS = 10
GAMES = 10_000
DEFAULT_SEED = 2024
# Wall-clock budget of a whole grading run, and the largest reply line accepted.
TIME_LIMIT_S = 600.0
MAX_REPLY_BYTES = 64 << 20
NONCE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class GradingError(Exception):
    """A failure to report on stderr (the run exits non-zero, with no metrics line)."""


def derive_seed(seed: int, purpose: str, key: str = "") -> int:
    """A 64-bit seed for `purpose`. Keyed by the env's secret, the opponent's draws cannot
    be rebuilt from the strategy's own seed (or anything else the agent can observe)."""
    message = f"mlgym-games/{seed}/{purpose}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


# --------------------------------------------------------------------------- worker
# Runs as `python -c WORKER_SOURCE <read fd> <write fd> <workspace> <kind> <seed>`.
# It is plain source (not a file in the grading directory), so the worker never learns
# where the grading directory is.
WORKER_SOURCE = r"""
import sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
import json, operator, os, random, traceback

rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
workspace, kind, seed = sys.argv[3], sys.argv[4], int(sys.argv[5])
inbox = os.fdopen(rfd, "r", encoding="utf-8")
outbox = os.fdopen(wfd, "w", encoding="utf-8")

def send(obj):
    outbox.write(json.dumps(obj, default=lambda o: {"unserialisable": repr(o)[:200]}))
    outbox.write("\n")
    outbox.flush()

def fail(where):
    send({"error": where + ":\n" + traceback.format_exc(limit=8)[-4000:]})
    sys.exit(1)

def as_int(x):
    if isinstance(x, float):
        return x  # left for the grader to reject (moves must be integers)
    try:
        return operator.index(x)
    except TypeError:
        return x

def normalise(move):
    if kind == "binary":
        return move if type(move) is int else as_int(move)
    if type(move) is list and all(type(x) is int for x in move):
        return move[:]
    if isinstance(move, (str, bytes, dict)):
        return move
    try:
        return [as_int(x) for x in move]
    except TypeError:
        return move

random.seed(seed)
os.chdir(workspace)
sys.path.insert(0, workspace)
if not os.path.isfile(os.path.join(workspace, "strategy.py")):
    send({"error": "strategy.py not found in the workspace " + workspace})
    sys.exit(1)
try:
    import strategy
    row_strategy = strategy.row_strategy
except BaseException:
    fail("importing row_strategy from strategy.py failed")
if not callable(row_strategy):
    send({"error": "strategy.row_strategy is not a function"})
    sys.exit(1)
if "numpy" in sys.modules:
    try:
        sys.modules["numpy"].random.seed(seed % (2 ** 32))
    except Exception:
        pass
send({"ready": True})

histories = None
mine = None
while True:
    line = inbox.readline()
    if not line:
        break
    request = json.loads(line)
    if histories is None:
        histories = [[] for _ in range(request["games"])]
    else:
        for h, own, theirs in zip(histories, mine, request["opponent"]):
            h.append((own, theirs))
    moves = []
    g = 0
    try:
        for g, h in enumerate(histories):
            moves.append(normalise(row_strategy(list(h))))
    except BaseException:
        fail("row_strategy raised an exception in game %d, round %d" % (g, len(histories[g]) + 1))
    mine = moves
    send({"moves": moves})
"""


class Worker:
    """The subprocess that runs the agent's strategy; spoken to over two pipes."""

    def __init__(self, workspace: str, kind: str, seed: int, deadline: float):
        self.deadline = deadline
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLGYM_")}
        env["PYTHONHASHSEED"] = "0"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        kwargs = {}
        launcher = _launcher()
        owner = None if launcher else _workspace_owner(workspace)
        if owner is not None:
            # Grading as root (container backends): the strategy runs as the workspace's
            # owner, so it cannot read the private grading directory.
            uid, gid = owner
            kwargs["preexec_fn"] = lambda: (os.setgroups([]), os.setgid(gid), os.setuid(uid))
        try:
            self.proc = subprocess.Popen(
                launcher
                + [
                    sys.executable,
                    "-c",
                    WORKER_SOURCE,
                    str(to_worker_r),
                    str(from_worker_w),
                    os.environ.get("MLGYM_AGENT_WORKSPACE") or workspace,
                    kind,
                    str(seed),
                ],
                cwd="/" if launcher else workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sys.stderr,
                pass_fds=(to_worker_r, from_worker_w),
                start_new_session=True,
                **kwargs,
            )
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self.wfd = to_worker_w
        self.rfd = from_worker_r
        os.set_blocking(self.wfd, False)  # a worker that stops reading cannot block us
        self.buffer = b""

    def send(self, obj) -> None:
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                _, ready, _ = select.select([], [self.wfd], [], self._left())
                if not ready:
                    raise GradingError(self._timeout_text())
                try:
                    n = os.write(self.wfd, view[: 1 << 16])
                except BlockingIOError:
                    continue
                view = view[n:]
        except (BrokenPipeError, ConnectionResetError):
            raise GradingError(self._died_text()) from None

    def receive(self) -> dict:
        chunks = [self.buffer]
        size = len(self.buffer)
        while b"\n" not in chunks[-1]:
            if size > MAX_REPLY_BYTES:
                raise GradingError("the strategy worker sent an oversized reply")
            ready, _, _ = select.select([self.rfd], [], [], self._left())
            if not ready:
                raise GradingError(self._timeout_text())
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise GradingError(self._died_text())
            chunks.append(chunk)
            size += len(chunk)
        line, self.buffer = b"".join(chunks).split(b"\n", 1)
        try:
            reply = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise GradingError("the strategy worker sent a malformed reply") from None
        if not isinstance(reply, dict):
            raise GradingError("the strategy worker sent a malformed reply")
        if "error" in reply:
            raise GradingError(f"your strategy failed: {str(reply['error'])[:4000]}")
        return reply

    def close(self) -> None:
        """Stops the worker (and anything it started in its session) at once."""
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _timeout_text(self) -> str:
        return (
            f"the evaluation exceeded its time limit of {TIME_LIMIT_S:.0f} s "
            "(is row_strategy very slow or stuck in a loop?)"
        )

    def _died_text(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        return (
            "the process running your strategy stopped before the games were over "
            f"(exit status {code}); row_strategy must return a move, not exit"
        )


def _launcher() -> list:
    """The argv prefix that starts a process in the agent's sandbox (local backend)."""
    raw = os.environ.get("MLGYM_AGENT_LAUNCHER")
    if not raw:
        return []
    prefix = json.loads(raw)
    if not (isinstance(prefix, list) and all(isinstance(a, str) for a in prefix)):
        raise GradingError("MLGYM_AGENT_LAUNCHER must be a JSON list of strings")
    return prefix


def _workspace_owner(workspace: str):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        st = os.stat(workspace)
    except OSError:
        return None
    if st.st_uid == 0:
        return None
    return st.st_uid, st.st_gid


def _harden() -> None:
    """Best effort: make this process's /proc entries (environ, fds, memory) unreadable
    to the worker, which runs as the same user on the local backend."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


# --------------------------------------------------------------------------- grader
def _check_move(kind: str, move, game: int, round_no: int, fields: int, budget: int):
    """Returns the move when valid; raises a GradingError naming the problem otherwise."""
    if kind == "binary":
        if type(move) is int and (move == 0 or move == 1):
            return move
    elif (
        type(move) is list
        and len(move) == fields
        and all(type(x) is int for x in move)
        and min(move) >= 0
        and sum(move) <= budget
    ):
        return move
    where = f"game {game}, round {round_no}"
    if kind == "binary":
        raise GradingError(
            f"invalid move in {where}: row_strategy returned {_show(move)}; it must return "
            "the integer 0 or 1"
        )
    if type(move) is not list or len(move) != fields:
        raise GradingError(
            f"invalid allocation in {where}: row_strategy returned {_show(move)}; it must "
            f"return a list of {fields} non-negative integers"
        )
    for x in move:
        if type(x) is not int or x < 0:
            raise GradingError(
                f"invalid allocation in {where}: {_show(move)}; every entry must be a "
                "non-negative integer"
            )
    if sum(move) > budget:
        raise GradingError(
            f"invalid allocation in {where}: {_show(move)} uses {sum(move)} soldiers; at "
            f"most {budget} are available"
        )
    return move


def _show(move) -> str:
    if isinstance(move, dict) and set(move) == {"unserialisable"}:
        return f"a value that is not a number ({str(move['unserialisable'])[:120]})"
    text = json.dumps(move)
    return text if len(text) <= 160 else text[:157] + "..."


def play(
    kind: str,
    payoff,
    opponent,
    workspace: str,
    seed: int,
    fields: int = 0,
    budget: int = 0,
    games: int = GAMES,
    rounds: int = ROUNDS,
    key: str = "",
) -> float:
    """Plays `games` games of `rounds` rounds against `opponent(history, rng)` and
    returns the row player's mean payoff per round. `kind` is "binary" (moves 0/1) or
    "allocation" (lists of `fields` non-negative ints summing to at most `budget`)."""
    rng = random.Random(derive_seed(seed, "opponent", key))
    deadline = time.monotonic() + TIME_LIMIT_S
    worker = Worker(workspace, kind, derive_seed(seed, "strategy", key), deadline)
    try:
        worker.receive()  # the "ready" message, or the import error
        histories = [[] for _ in range(games)]
        total = 0.0
        # Moves are simultaneous: the opponent's replies for a round depend only on the
        # earlier rounds, so the grader computes them (and checks and scores the previous
        # round) while the worker is thinking.
        worker.send({"games": games})
        col_moves = [opponent(history, rng) for history in histories]
        for r in range(rounds):
            reply = worker.receive()
            moves = reply.get("moves")
            if type(moves) is not list or len(moves) != games:
                raise GradingError("the strategy worker sent a malformed reply")
            if r + 1 < rounds:
                worker.send({"opponent": col_moves})
            for g in range(games):
                row = _check_move(kind, moves[g], g, r + 1, fields, budget)
                col = col_moves[g]
                total += payoff(row, col)
                histories[g].append((row, col))
            if r + 1 < rounds:
                col_moves = [opponent(history, rng) for history in histories]
    finally:
        worker.close()
    score = total / (games * rounds)
    if not math.isfinite(score):
        raise GradingError("the score is not a finite number")
    return score


def _read_secrets():
    """The nonce and the opponents' key from stdin (one line each), or (None, "")."""
    stdin = sys.stdin
    if stdin is None:
        return None, ""
    try:
        if stdin.isatty():
            return None, ""
        nonce = stdin.readline().strip()
        key = stdin.readline().strip()
    except (OSError, ValueError):
        return None, ""
    return nonce or None, key


def main(kind: str, payoff, opponent, grading_dir: str, secret_names, **rules) -> int:
    """Entry point called by evaluate.py once it has found the secret files."""
    nonce, key = _read_secrets()
    if nonce is None:
        print(
            "No nonce on stdin: this grader is meant to be run by `validate`/`submit`.",
            file=sys.stderr,
        )
        return 1
    if not NONCE_RE.match(nonce) or (key and not NONCE_RE.match(key)):
        print("malformed nonce or key on stdin", file=sys.stderr)
        return 2
    raw_seed = os.environ.get("MLGYM_GRADING_SEED", "").strip()
    try:
        seed = int(raw_seed) if raw_seed else DEFAULT_SEED
    except ValueError:
        print(f"MLGYM_GRADING_SEED must be an integer, got {raw_seed!r}", file=sys.stderr)
        return 2
    workspace = os.path.abspath(os.environ.get("MLGYM_WORKSPACE") or os.getcwd())
    if os.environ.get("MLGYM_WORKSPACE"):
        # A real grading run: the opponent is loaded, so its files can go now, before
        # any agent code starts. The env removes the grading directory afterwards anyway.
        for name in secret_names:
            try:
                os.unlink(os.path.join(grading_dir, name))
            except OSError:
                pass
    _harden()
    try:
        score = play(kind, payoff, opponent, workspace, seed, key=key, **rules)
    except GradingError as err:
        print(f"Evaluation failed: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(f"MLGYM-METRICS {nonce} {json.dumps({'Score': score})}\n")
    sys.stdout.flush()
    return 0
