"""MLGym's `edit` and `insert` commands, with and without flake8, through `mlgym.Session`.

Fixtures are written here in `tmp_path`; expected observations follow the interface's
format rules: after a successful `edit a:b` the window is centred at line a - 1, after
`insert n` at n + 1; a lint failure shows the errors, the edited and the original code
in small windows, and leaves the file, WINDOW and CURRENT_LINE as they were.

Lint tests need a `python3` with flake8 7 on the session's PATH (the `aci_python`
fixture of conftest.py builds one, and skips outside CI if it cannot).
"""

from __future__ import annotations

from pathlib import Path

import mlgym
import pytest

UPDATED = (
    "File updated. Please review the changes and make sure they are correct (correct "
    "indentation, no duplicate lines, etc). Edit the file again if necessary."
)
NO_FILE = "No file open. Use the `open` command first."
D = "-" * 49
MALFORMED = (
    "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the "
    "end of your edit."
)


def window(path: Path, lines: list[str], first: int, last: int) -> str:
    """The view of a file holding ``lines`` that shows lines first..last (1-based)."""
    out = [f"[File: {path} ({len(lines)} lines total)]"]
    if first > 1:
        out.append(f"({first - 1} more lines above)")
    out += [f"{i}:{lines[i - 1]}" for i in range(first, last + 1)]
    if last < len(lines):
        out.append(f"({len(lines) - last} more lines below)")
    return "\n".join(out)


def text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = (tmp_path / "workspace").resolve()
    root.mkdir()
    return root


@pytest.fixture
def lint_env(aci_python: str) -> dict[str, str]:
    """Process environment whose `python3` has flake8 7 (linting on)."""
    return {"PATH": f"{aci_python}:/usr/local/bin:/usr/bin:/bin"}


NO_LINT = {"__MLGYM_LINTD": "/nonexistent/lintd.py"}


def session(ws: Path, process_env: dict[str, str] | None = None, **shell_vars: object):
    return mlgym.Session(ws, env=shell_vars, process_env=process_env)


# --- edit ----------------------------------------------------------------------------


def test_edit_replaces_a_line_and_centres_on_it(ws: Path) -> None:
    path = ws / "a.txt"
    lines = [f"line {i}" for i in range(1, 31)]
    path.write_text(text(lines))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        r = s.run("edit 20:20\nchanged twenty\nend_of_edit")
        lines[19] = "changed twenty"
        # CURRENT_LINE = 19: lines 15..24.
        assert r.observation == window(path, lines, 15, 24) + "\n" + UPDATED
        assert r.exit_code == 0
        assert r.state["open_file"] == str(path)
        assert s.run("echo $CURRENT_LINE").observation == "19"
    assert path.read_text() == text(lines)


def test_edit_range_with_more_and_fewer_lines(ws: Path) -> None:
    path = ws / "a.txt"
    lines = [f"line {i}" for i in range(1, 13)]
    path.write_text(text(lines))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        r = s.run("edit 3:4\nthree\nthree and a half\nfour\nend_of_edit")
        lines[2:4] = ["three", "three and a half", "four"]
        # CURRENT_LINE = 2, clamped to 5: lines 1..10 of 13.
        assert r.observation == window(path, lines, 1, 10) + "\n" + UPDATED
        # An empty body deletes the range.
        r = s.run("edit 12:13\nend_of_edit")
        del lines[11:13]
        # CURRENT_LINE = 11, clamped to 6: lines 2..11 of 11.
        assert r.observation == window(path, lines, 2, 11) + "\n" + UPDATED
    assert path.read_text() == text(lines)


def test_edit_body_is_taken_verbatim(ws: Path) -> None:
    path = ws / "s.sh"
    path.write_text("placeholder\n")
    body = ["echo \"$HOME\" '$PATH' `date`", "\tindented\\n with a backslash", "   "]
    with session(ws) as s:
        s.run("open s.sh")
        r = s.run("edit 1:1\n" + "\n".join(body) + "\nend_of_edit")
        assert r.observation == window(path, body, 1, 3) + "\n" + UPDATED
    assert path.read_text() == text(body)


def test_edit_ends_the_file_with_a_newline_and_leaves_no_backup(ws: Path) -> None:
    path = ws / "u.txt"
    path.write_text("a\nb")
    with session(ws) as s:
        s.run("open u.txt")
        assert s.run("edit 1:1\nA\nend_of_edit").observation == (
            f"[File: {path} (2 lines total)]\n1:A\n2:b\n{UPDATED}"
        )
    assert path.read_text() == "A\nb\n"
    assert sorted(p.name for p in ws.iterdir()) == ["u.txt"]


def test_edit_ignores_an_extra_argument(ws: Path) -> None:
    (ws / "a.txt").write_text("one\ntwo\n")
    (ws / "b.txt").write_text("other\n")
    with session(ws) as s:
        s.run("open a.txt")
        r = s.run("edit 2:2 b.txt\nTWO\nend_of_edit")
        assert r.observation == f"[File: {ws / 'a.txt'} (2 lines total)]\n1:one\n2:TWO\n{UPDATED}"
    assert (ws / "a.txt").read_text() == "one\nTWO\n"
    assert (ws / "b.txt").read_text() == "other\n"


def test_edit_errors_leave_the_file_alone(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text("one\ntwo\n")
    usage = "Usage: edit <start_line>:<end_line>"
    with session(ws) as s:
        assert s.run("edit 1:1\nx\nend_of_edit").observation == NO_FILE
        s.run("open a.txt")
        assert s.run("edit 1\nx\nend_of_edit").observation == usage
        assert s.run("edit\nx\nend_of_edit").observation == usage
        assert s.run("edit x:2\nx\nend_of_edit").observation == (
            f"{usage}\nError: start_line must be a number"
        )
        assert s.run("edit 1:y\nx\nend_of_edit").observation == (
            f"{usage}\nError: end_line must be a number"
        )
    assert path.read_text() == "one\ntwo\n"


def test_edit_without_end_marker_is_malformed(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text("one\ntwo\n")
    with session(ws) as s:
        s.run("open a.txt")
        r = s.run("edit 1:1\nreplacement")
        assert r.observation == MALFORMED
        assert r.exit_code is None  # answered without the shell
        assert r.state["open_file"] == str(path)
    assert path.read_text() == "one\ntwo\n"


def test_edit_when_the_backup_cannot_be_written(ws: Path) -> None:
    # The backup copy goes to `backup_<name>` next to the file; a directory there makes
    # it fail (this works even as root, for whom a mode-0444 file is still writable).
    path = ws / "p.txt"
    path.write_text("p1\np2\n")
    (ws / "backup_p.txt").mkdir()
    with session(ws) as s:
        s.run("open p.txt")
        r = s.run("edit 1:1\nnew\nend_of_edit")
        assert r.observation == f"Error: You cannot edit read-only file {path}"
        assert r.exit_code == 1
        r = s.run("insert 1\nnew\nend_of_insert")
        assert r.observation == f"Error: You cannot edit read-only file {path}"
        assert r.exit_code == 1
    assert path.read_text() == "p1\np2\n"


# --- insert --------------------------------------------------------------------------


def test_insert_after_a_line_centres_below_it(ws: Path) -> None:
    path = ws / "a.txt"
    lines = [f"line {i}" for i in range(1, 31)]
    path.write_text(text(lines))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        r = s.run("insert 20\nnew A\nnew B\nend_of_insert")
        lines[20:20] = ["new A", "new B"]
        # CURRENT_LINE = 21: lines 17..26 of 32.
        assert r.observation == window(path, lines, 17, 26) + "\n" + UPDATED
        assert s.run("echo $CURRENT_LINE").observation == "21"
    assert path.read_text() == text(lines)


def test_insert_at_top_and_end(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text("middle\n")
    with session(ws) as s:
        s.run("open a.txt")
        assert s.run("insert 0\ntop\nend_of_insert").observation == (
            f"[File: {path} (2 lines total)]\n1:top\n2:middle\n{UPDATED}"
        )
        assert s.run("insert 2\nbottom\nend_of_insert").observation == (
            f"[File: {path} (3 lines total)]\n1:top\n2:middle\n3:bottom\n{UPDATED}"
        )
    assert path.read_text() == "top\nmiddle\nbottom\n"


def test_insert_into_a_created_file(ws: Path) -> None:
    with session(ws) as s:
        s.run("create notes.txt")
        r = s.run("insert 1\nfirst note\nend_of_insert")
        assert (
            r.observation
            == f"[File: {ws / 'notes.txt'} (2 lines total)]\n1:\n2:first note\n{UPDATED}"
        )
    assert (ws / "notes.txt").read_text() == "\nfirst note\n"


def test_insert_errors(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text("one\n")
    usage = "Usage: insert <line_number>"
    with session(ws) as s:
        assert s.run("insert 1\nx\nend_of_insert").observation == NO_FILE
        s.run("open a.txt")
        assert s.run("insert\nx\nend_of_insert").observation == usage
        assert s.run("insert x\nx\nend_of_insert").observation == (
            f"{usage}\nError: line_number must be a number"
        )
    assert path.read_text() == "one\n"


# --- linting -------------------------------------------------------------------------

M_LINES = [f"v{i} = {i}" for i in range(1, 31)]


def test_edit_with_undefined_name_is_rejected(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "m.py"
    path.write_text(text(M_LINES))
    edited = list(M_LINES)
    edited[14] = "v15 = undefined_thing"
    with session(ws, lint_env, WINDOW=10) as s:
        s.run("open m.py")
        r = s.run("edit 15:15\nv15 = undefined_thing\nend_of_edit")
        # Edited view: WINDOW = 1 + 10, CURRENT_LINE = 14 -> lines 9..19.
        # Original view: WINDOW = 15 - 14 + 10, CURRENT_LINE = 15 -> lines 10..20.
        assert r.observation == "\n".join(
            [
                "Your proposed edit has introduced new syntax error(s). Please read this error "
                "message carefully and then retry editing the file.",
                "ERRORS:",
                "- F821 undefined name 'undefined_thing'",
                "This is how your edit would have looked if applied",
                D,
                window(path, edited, 9, 19),
                D,
                "This is the original code before your edit",
                D,
                window(path, M_LINES, 10, 20),
                D,
                "Your changes have NOT been applied. Please fix your edit command and try again.",
                "You either need to 1) Specify the correct start/end line arguments or 2) "
                "Correct your edit code.",
                "DO NOT re-run the same failed edit command. Running it again will lead to the "
                "same error.",
            ]
        )
        assert s.run("echo $WINDOW $CURRENT_LINE").observation == "10 5"
    assert path.read_text() == text(M_LINES)
    assert sorted(p.name for p in ws.iterdir()) == ["m.py"]


def test_insert_with_undefined_name_is_rejected(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "m.py"
    path.write_text(text(M_LINES))
    inserted = M_LINES[:15] + ["w = missing_name"] + M_LINES[15:]
    with session(ws, lint_env) as s:
        s.run("open m.py")
        r = s.run("insert 15\nw = missing_name\nend_of_insert")
        # Inserted view: WINDOW = 1 + 10, CURRENT_LINE = 15 -> lines 10..20 of 31.
        # Original view: WINDOW = 10, CURRENT_LINE = 15 -> lines 11..20.
        assert r.observation == "\n".join(
            [
                "Your proposed insertion has introduced new syntax error(s). Please read this "
                "error message carefully and then retry inserting into the file.",
                "ERRORS:",
                "- F821 undefined name 'missing_name'",
                "This is how your insertion would have looked if applied",
                D,
                window(path, inserted, 10, 20),
                D,
                "This is the original code before your insertion",
                D,
                window(path, M_LINES, 11, 20),
                D,
                "Your changes have NOT been applied. Please fix your insert command and try again.",
                "You either need to 1) Specify the correct line number argument or 2) Correct "
                "your insertion code.",
                "DO NOT re-run the same failed insert command. Running it again will lead to "
                "the same error.",
            ]
        )
        # The default window (1000 lines) and the `open` position are restored.
        assert s.run("echo $WINDOW $CURRENT_LINE").observation == "1000 500"
    assert path.read_text() == text(M_LINES)


def test_edit_with_bad_indentation_is_rejected(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "m.py"
    path.write_text("x = 1\ny = x\n")
    with session(ws, lint_env) as s:
        s.run("open m.py")
        obs = s.run("edit 1:1\n  x = 1\nend_of_edit").observation.split("\n")
        assert obs[1:3] == ["ERRORS:", "- E999 IndentationError: unexpected indent"]
        assert obs[3:7] == [
            "This is how your edit would have looked if applied",
            D,
            f"[File: {path} (2 lines total)]",
            "1:  x = 1",
        ]
    assert path.read_text() == "x = 1\ny = x\n"


def test_valid_python_edit_is_applied_with_lint_on(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "m.py"
    path.write_text("def f(a):\n    return a\n")
    with session(ws, lint_env) as s:
        s.run("open m.py")
        r = s.run("edit 2:2\n    b = a + 1\n    return b\nend_of_edit")
        assert r.observation == "\n".join(
            [f"[File: {path} (3 lines total)]", "1:def f(a):", "2:    b = a + 1", "3:    return b"]
            + [UPDATED]
        )
        # A syntax error is caught by the same linter (proves it was running).
        assert "ERRORS:\n- E999 " in s.run("edit 1:1\ndef f(a:\nend_of_edit").observation
    assert path.read_text() == "def f(a):\n    b = a + 1\n    return b\n"


def test_existing_errors_are_not_blamed_on_an_edit(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "old.py"
    path.write_text("print(undefined_a)\nx = 1\ny = 2\nprint(undefined_b)\n")
    with session(ws, lint_env) as s:
        s.run("open old.py")
        # One error above the edited range (kept as is) and one below it (shifted by +2).
        r = s.run("edit 2:2\nx = 1\nw = 0\nv = 0\nend_of_edit")
        assert r.observation.endswith(UPDATED), r.observation
        assert "ERRORS:" not in r.observation
        # Appending after the last line: both old errors lie above the insertion.
        r = s.run("insert 6\nz = 3\nend_of_insert")
        assert r.observation.endswith(UPDATED), r.observation
    assert path.read_text() == (
        "print(undefined_a)\nx = 1\nw = 0\nv = 0\ny = 2\nprint(undefined_b)\nz = 3\n"
    )


def test_insert_above_an_existing_error_reports_it(ws: Path, lint_env: dict[str, str]) -> None:
    """MLGym's filter shifts errors below the window by n_new - (end - start + 1), which is
    0 for an insertion, so an old error below an insertion counts as new (spec 2.5)."""
    path = ws / "old.py"
    path.write_text("x = 1\nprint(undefined_a)\n")
    with session(ws, lint_env) as s:
        s.run("open old.py")
        obs = s.run("insert 0\ny = 2\nend_of_insert").observation.split("\n")
        assert obs[:3] == [
            "Your proposed insertion has introduced new syntax error(s). Please read this "
            "error message carefully and then retry inserting into the file.",
            "ERRORS:",
            "- F821 undefined name 'undefined_a'",
        ]
    assert path.read_text() == "x = 1\nprint(undefined_a)\n"


def test_only_python_files_are_linted(ws: Path, lint_env: dict[str, str]) -> None:
    path = ws / "notes.txt"
    path.write_text("x = 1\n")
    with session(ws, lint_env) as s:
        s.run("open notes.txt")
        r = s.run("edit 1:1\n  x = undefined_name\nend_of_edit")
        assert r.observation == f"[File: {path} (1 lines total)]\n1:  x = undefined_name\n{UPDATED}"
    assert path.read_text() == "  x = undefined_name\n"


def test_python_edit_is_applied_when_no_linter_can_start(ws: Path) -> None:
    path = ws / "m.py"
    path.write_text("x = 1\n")
    with session(ws, NO_LINT) as s:
        s.run("open m.py")
        r = s.run("edit 1:1\nx = undefined_name\nend_of_edit")
        assert r.observation == f"[File: {path} (1 lines total)]\n1:x = undefined_name\n{UPDATED}"
    assert path.read_text() == "x = undefined_name\n"
