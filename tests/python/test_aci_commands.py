"""MLGym's file-viewing and search commands through `mlgym.Session` (the Rust core).

Covers `open`, `goto`, `scroll_up`, `scroll_down`, `create`, `search_dir`, `search_file`
and `find_file` (the editing commands are in test_aci_edit.py). Every fixture is written
here, in `tmp_path`, and every expected observation is built from the format rules of
MLGym's interface (window header, `(N more lines above/below)`, `<n>:<text>` lines, the
documented messages), so these tests need nothing outside the repository.

Window arithmetic used below, for a file of `total` lines (`half = WINDOW // 2`):
`open f` puts CURRENT_LINE at WINDOW/2; `goto n` and `open f n` at
floor(n + WINDOW/2 - floor(WINDOW/6)); a scroll moves it by WINDOW - OVERLAP; then it is
clamped to [half, total - half]. The view shows `(floor(CL - WINDOW/2) more lines
above)`, the lines up to floor(CL + WINDOW/2) (at most WINDOW of them) and
`(round(total - CL - WINDOW/2) more lines below)`, rounding half away from zero.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlgym
import pytest

NO_FILE = "No file open. Use the open command first."
SCROLL_WARNING = (
    "WARNING: Scrolling many times in a row is very inefficient.\n"
    "If you know what you are looking for, use `search_file <pattern>` instead."
)


def numbered(n: int) -> str:
    """A file whose line i (1-based) is `line i`."""
    return "".join(f"line {i}\n" for i in range(1, n + 1))


def view(path: Path, total: int, first: int, last: int, *, above: int = 0, below: int = 0) -> str:
    """The window of a `numbered` file showing lines first..last."""
    out = [f"[File: {path} ({total} lines total)]"]
    if above:
        out.append(f"({above} more lines above)")
    out += [f"{i}:line {i}" for i in range(first, last + 1)]
    if below:
        out.append(f"({below} more lines below)")
    return "\n".join(out)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = (tmp_path / "workspace").resolve()
    root.mkdir()
    return root


def session(ws: Path, **shell_vars: object) -> mlgym.Session:
    return mlgym.Session(ws, env=shell_vars)


# --- open ----------------------------------------------------------------------------


def test_open_shows_first_window_and_sets_state(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        assert s.run("echo $CURRENT_FILE").state == {"open_file": "n/a", "working_dir": str(ws)}
        r = s.run("open a.txt")
        assert r.observation == view(ws / "a.txt", 30, 1, 10, below=20)
        assert r.exit_code == 0
        assert r.state == {"open_file": str(ws / "a.txt"), "working_dir": str(ws)}
        assert s.run("echo $CURRENT_FILE $CURRENT_LINE").observation == f"{ws / 'a.txt'} 5"


def test_open_with_line_number_puts_it_a_sixth_from_the_top(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        # CURRENT_LINE = 12 + 5 - 1 = 16: lines 12..21.
        want = view(ws / "a.txt", 30, 12, 21, above=11, below=9)
        assert s.run("open a.txt 12").observation == want


def test_open_line_number_out_of_range_is_clamped_with_warnings(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        assert s.run("open a.txt 40").observation == (
            "Warning: <line_number> (40) is greater than the number of lines in the file (30)\n"
            "Warning: Setting <line_number> to 30\n" + view(path, 30, 21, 30, above=20)
        )
        assert s.run("open a.txt 0").observation == (
            "Warning: <line_number> (0) is less than 1\n"
            "Warning: Setting <line_number> to 1\n" + view(path, 30, 1, 10, below=20)
        )


def test_open_errors(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(3))
    (ws / "sub").mkdir()
    with session(ws) as s:
        assert s.run("open").observation == 'Usage: open "<file>"'
        assert s.run("open missing.txt").observation == "File missing.txt not found"
        assert s.run("open sub").observation == (
            "Error: sub is a directory. You can only open files. Use cd or ls to navigate "
            "directories."
        )
        assert s.run("open a.txt abc").observation == (
            'Usage: open "<file>" [<line_number>]\nError: <line_number> must be a number'
        )
        # None of these opened anything.
        assert s.run("true").state["open_file"] == "n/a"


@pytest.mark.skipif(shutil.which("file") is None, reason="`file` (libmagic) is not installed")
def test_open_refuses_images(ws: Path) -> None:
    # A minimal 1x1 PNG: the signature and an IHDR chunk are enough for `file`.
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
    (ws / "pic.png").write_bytes(png + b"\x1f\x15\xc4\x89" + b"\0" * 16)
    with session(ws) as s:
        assert s.run("open pic.png").observation == (
            "Error: pic.png is an image file. Current environment does not support image viewing."
        )
        assert s.run("true").state["open_file"] == "n/a"


def test_open_large_file_only_refused_with_a_line_number(ws: Path) -> None:
    path = ws / "big.txt"
    path.write_text("".join(f"{i:09d}\n" for i in range(1, 2002)))  # 20,010 bytes
    with session(ws, WINDOW=4) as s:
        assert s.run("open big.txt 5").observation == (
            "The file is larger than 20000 characters, please use 'head -n NUM_LINES' to open it"
        )
        assert s.run("true").state["open_file"] == "n/a"
        want = [f"[File: {path} (2001 lines total)]"]
        want += [f"{i}:{i:09d}" for i in range(1, 5)] + ["(1997 more lines below)"]
        assert s.run("open big.txt").observation == "\n".join(want)


def test_open_counts_empty_and_unterminated_files(ws: Path) -> None:
    (ws / "empty.txt").write_text("")
    (ws / "unterm.txt").write_text("a\n\nc")
    with session(ws) as s:
        assert s.run("open empty.txt").observation == f"[File: {ws / 'empty.txt'} (0 lines total)]"
        # An unterminated last line counts; an empty line is printed as `<n>:`.
        assert s.run('open "unterm.txt"').observation == (
            f"[File: {ws / 'unterm.txt'} (3 lines total)]\n1:a\n2:\n3:c"
        )


def test_open_resolves_relative_paths_and_quotes(ws: Path) -> None:
    (ws / "sub").mkdir()
    (ws / "sub" / "my file.txt").write_text("x\n")
    with session(ws) as s:
        r = s.run("cd sub && open 'my file.txt'")
        assert r.observation == f"[File: {ws / 'sub' / 'my file.txt'} (1 lines total)]\n1:x"
        assert r.state == {
            "open_file": str(ws / "sub" / "my file.txt"),
            "working_dir": str(ws / "sub"),
        }
        assert s.run("open ../sub/../sub/my\\ file.txt").state["open_file"] == str(
            ws / "sub" / "my file.txt"
        )


def test_default_window_is_1000_lines(ws: Path) -> None:
    """The spec's checked example: 1500 lines, `open` then `goto 1200`."""
    path = ws / "long.txt"
    path.write_text(numbered(1500))
    with mlgym.Session(ws) as s:
        assert s.run("open long.txt").observation == view(path, 1500, 1, 1000, below=500)
        assert s.run("goto 1200").observation == view(path, 1500, 501, 1500, above=500)


def test_default_goto_offset_is_334(ws: Path) -> None:
    path = ws / "long.txt"
    path.write_text(numbered(3000))
    with mlgym.Session(ws) as s:
        s.run("open long.txt")
        # CURRENT_LINE = 1200 + 500 - 166 = 1534: lines 1035..2034.
        want = view(path, 3000, 1035, 2034, above=1034, below=966)
        assert s.run("goto 1200").observation == want


# --- goto ----------------------------------------------------------------------------


def test_goto_moves_the_window(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        # CURRENT_LINE = 15 + 5 - 1 = 19.
        assert s.run("goto 15").observation == view(path, 30, 15, 24, above=14, below=6)
        assert s.run("echo $CURRENT_LINE").observation == "19"
        # Near the end the window is clamped to the last 10 lines.
        assert s.run("goto 30").observation == view(path, 30, 21, 30, above=20)
        assert s.run("goto 1").observation == view(path, 30, 1, 10, below=20)


def test_goto_odd_window_rounds_half_away_from_zero(ws: Path) -> None:
    path = ws / "t.txt"
    path.write_text(numbered(20))
    with session(ws, WINDOW=7) as s:
        assert s.run("open t.txt").observation == view(path, 20, 1, 7, below=13)
        # CURRENT_LINE = floor(10 + 3.5 - 1) = 12; above floor(8.5) = 8; below round(4.5) = 5.
        assert s.run("goto 10").observation == view(path, 20, 9, 15, above=8, below=5)


def test_goto_errors(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        assert s.run("goto 3").observation == NO_FILE
        s.run("open a.txt")
        assert s.run("goto").observation == "Usage: goto <line>"
        assert s.run("goto x").observation == "Usage: goto <line>\nError: <line> must be a number"
        assert s.run("goto 31").observation == "Error: <line> must be less than or equal to 30"
        assert s.run("goto 1 2").observation == "goto allows only one line number at a time."
        # Errors leave the window where `open` put it.
        assert s.run("echo $CURRENT_LINE").observation == "5"


# --- scroll_down / scroll_up ---------------------------------------------------------


def test_scroll_down_and_up_move_by_window_minus_overlap(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text(numbered(30))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        # 5 -> 13: lines 9..18, two lines (OVERLAP) shared with the previous view.
        assert s.run("scroll_down").observation == view(path, 30, 9, 18, above=8, below=12)
        # 13 -> 21.
        assert s.run("scroll_down").observation == view(path, 30, 17, 26, above=16, below=4)
        s.run("echo no third scroll in a row")
        # 21 -> 29, clamped to 25.
        assert s.run("scroll_down").observation == view(path, 30, 21, 30, above=20)
        assert s.run("echo $CURRENT_LINE").observation == "25"
        # 25 -> 17.
        assert s.run("scroll_up").observation == view(path, 30, 13, 22, above=12, below=8)
        # 17 -> 9.
        assert s.run("scroll_up").observation == view(path, 30, 5, 14, above=4, below=16)
        s.run("echo no third scroll in a row")
        # 9 -> 1, clamped to 5: the top of the file.
        assert s.run("scroll_up").observation == view(path, 30, 1, 10, below=20)
        assert s.run("echo $CURRENT_LINE").observation == "5"


def test_scroll_at_the_edges_stays_put(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text(numbered(12))
    with session(ws, WINDOW=10, OVERLAP=0) as s:
        s.run("open a.txt")
        assert s.run("scroll_up").observation == view(path, 12, 1, 10, below=2)
        s.run("true")
        assert s.run("scroll_down").observation == view(path, 12, 3, 12, above=2)
        s.run("true")
        assert s.run("scroll_down").observation == view(path, 12, 3, 12, above=2)


def test_scroll_odd_window(ws: Path) -> None:
    path = ws / "t.txt"
    path.write_text(numbered(20))
    with session(ws, WINDOW=7) as s:
        s.run("open t.txt")
        # 3.5 -> 8.5: above floor(5) = 5, lines 6..12, below round(8) = 8.
        assert s.run("scroll_down").observation == view(path, 20, 6, 12, above=5, below=8)


def test_scroll_without_open_file(ws: Path) -> None:
    with session(ws) as s:
        assert s.run("scroll_down").observation == NO_FILE
        assert s.run("scroll_up").observation == NO_FILE


def test_scroll_warning_on_third_consecutive_scroll(ws: Path) -> None:
    path = ws / "a.txt"
    path.write_text(numbered(40))
    with session(ws, WINDOW=10) as s:
        s.run("open a.txt")
        assert s.run("scroll_down").observation == view(path, 40, 9, 18, above=8, below=22)
        assert s.run("scroll_down").observation == view(path, 40, 17, 26, above=16, below=14)
        third = s.run("scroll_down").observation
        assert third == view(path, 40, 25, 34, above=24, below=6) + "\n" + SCROLL_WARNING
        # scroll_up continues the same run of scrolls.
        assert s.run("scroll_up").observation.endswith(SCROLL_WARNING)
        # Any other action resets the count.
        s.run("goto 1")
        assert SCROLL_WARNING not in s.run("scroll_down").observation
        assert SCROLL_WARNING not in s.run("scroll_down").observation
        assert s.run("scroll_down").observation.endswith(SCROLL_WARNING)


def test_scroll_warning_threshold_is_configurable(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(40))
    with session(ws, WINDOW=10, WARN_AFTER_SCROLLING_TIMES=1) as s:
        s.run("open a.txt")
        assert s.run("scroll_down").observation.endswith(SCROLL_WARNING)


# --- create --------------------------------------------------------------------------


def test_create_writes_one_empty_line_and_opens_it(ws: Path) -> None:
    with session(ws) as s:
        r = s.run("create new.py")
        assert r.observation == f"[File: {ws / 'new.py'} (1 lines total)]\n1:"
        assert r.state["open_file"] == str(ws / "new.py")
    assert (ws / "new.py").read_bytes() == b"\n"


def test_create_existing_file_is_an_error_that_opens_it(ws: Path) -> None:
    (ws / "a.txt").write_text(numbered(12))
    with session(ws, WINDOW=10) as s:
        r = s.run("create a.txt")
        assert r.observation == "Error: File 'a.txt' already exists.\n" + view(
            ws / "a.txt", 12, 1, 10, below=2
        )
        assert r.state["open_file"] == str(ws / "a.txt")
    assert (ws / "a.txt").read_text() == numbered(12)


def test_create_usage_and_subdirectory(ws: Path) -> None:
    (ws / "pkg").mkdir()
    with session(ws) as s:
        assert s.run("create").observation == "Usage: create <filename>"
        assert s.run("true").state["open_file"] == "n/a"
        r = s.run("create pkg/mod.py")
        assert r.observation == f"[File: {ws / 'pkg' / 'mod.py'} (1 lines total)]\n1:"
        assert r.state["open_file"] == str(ws / "pkg" / "mod.py")


def test_create_then_state_survives_cd(ws: Path) -> None:
    (ws / "sub").mkdir()
    with session(ws) as s:
        s.run("create notes.txt")
        r = s.run("cd sub")
        assert r.state == {"open_file": str(ws / "notes.txt"), "working_dir": str(ws / "sub")}
        # The open file is still addressed by its absolute path.
        assert s.run("goto 1").observation == f"[File: {ws / 'notes.txt'} (1 lines total)]\n1:"


# --- search_dir ----------------------------------------------------------------------


@pytest.fixture
def tree(ws: Path) -> Path:
    (ws / "src").mkdir()
    (ws / "src" / "a.py").write_text("alpha one\nnothing\nalpha two\nalpha three\n")
    (ws / "src" / "b.py").write_text("alpha\nbeta alpha\ngamma\n")
    (ws / "notes.txt").write_text("no greek here\nalpha\n")
    (ws / ".hidden").mkdir()
    (ws / ".hidden" / "h.txt").write_text("alpha\n")
    (ws / "blob.bin").write_bytes(b"alpha\x00\x01\x02")
    return ws


def test_search_dir_counts_matching_lines_per_file(tree: Path) -> None:
    with session(tree) as s:
        # Hidden paths and binary files are skipped; files are listed by path.
        assert s.run("search_dir alpha").observation == "\n".join(
            [
                f'Found 6 matches for "alpha" in {tree}:',
                f"{tree / 'notes.txt'} (1 matches)",
                f"{tree / 'src' / 'a.py'} (3 matches)",
                f"{tree / 'src' / 'b.py'} (2 matches)",
                f'End of matches for "alpha" in {tree}',
            ]
        )


def test_search_dir_in_a_subdirectory(tree: Path) -> None:
    src = tree / "src"
    want = "\n".join(
        [
            f'Found 2 matches for "alpha t" in {src}:',
            f"{src / 'a.py'} (2 matches)",
            f'End of matches for "alpha t" in {src}',
        ]
    )
    with session(tree) as s:
        assert s.run("search_dir 'alpha t' src").observation == want
        # The same from inside the directory, with the default `./`.
        r = s.run("cd src && search_dir 'alpha t'")
        assert r.observation == want
        assert r.state["working_dir"] == str(src)


def test_search_dir_no_matches_and_errors(tree: Path) -> None:
    with session(tree) as s:
        assert s.run("search_dir zeta").observation == f'No matches found for "zeta" in {tree}'
        assert s.run("search_dir alpha nodir").observation == "Directory nodir not found"
        usage = "Usage: search_dir <search_term> [<dir>]"
        assert s.run("search_dir").observation == usage
        assert s.run("search_dir a b c").observation == usage


def test_search_dir_too_many_files(ws: Path) -> None:
    (ws / "many").mkdir()
    for i in range(101):
        (ws / "many" / f"f{i:03d}.txt").write_text("needle\n")
    with session(ws) as s:
        assert s.run("search_dir needle many").observation == (
            f'More than 101 files matched for "needle" in {ws / "many"}. Please narrow your search.'
        )


# --- search_file ---------------------------------------------------------------------


def test_search_file_in_the_open_file(tree: Path) -> None:
    path = tree / "src" / "a.py"
    with session(tree) as s:
        assert s.run("search_file alpha").observation == NO_FILE
        s.run("open src/a.py")
        assert s.run("search_file alpha").observation == "\n".join(
            [
                f'Found 3 matches for "alpha" in {path}:',
                "Line 1:alpha one",
                "Line 3:alpha two",
                "Line 4:alpha three",
                f'End of matches for "alpha" in {path}',
            ]
        )
        assert s.run("search_file zeta").observation == f'No matches found for "zeta" in {path}'


def test_search_file_with_a_file_argument(tree: Path) -> None:
    path = tree / "src" / "b.py"
    with session(tree) as s:
        # No file needs to be open; the path is resolved against the current directory.
        assert s.run("cd src && search_file beta b.py").observation == "\n".join(
            [
                f'Found 1 matches for "beta" in {path}:',
                "Line 2:beta alpha",
                f'End of matches for "beta" in {path}',
            ]
        )
        # A basic regular expression, matched against whole lines.
        assert s.run("search_file '^gam' b.py").observation == "\n".join(
            [
                f'Found 1 matches for "^gam" in {path}:',
                "Line 3:gamma",
                f'End of matches for "^gam" in {path}',
            ]
        )


def test_search_file_errors(tree: Path) -> None:
    usage = "Usage: search_file <search_term> [<file>]"
    with session(tree) as s:
        assert s.run("search_file").observation == usage
        assert s.run("search_file alpha nofile.py").observation == (
            f"{usage}\nError: File name nofile.py not found. Please provide a valid file name."
        )


# --- find_file -----------------------------------------------------------------------


def test_find_file_single_match(tree: Path) -> None:
    with session(tree) as s:
        assert s.run("find_file a.py").observation == (
            f'Found 1 matches for "a.py" in {tree}:\n{tree / "src" / "a.py"}'
        )
        # Unlike search_dir, hidden paths are searched.
        assert s.run("find_file h.txt").observation == (
            f'Found 1 matches for "h.txt" in {tree}:\n{tree / ".hidden" / "h.txt"}'
        )


def test_find_file_glob_and_directory(tree: Path) -> None:
    with session(tree) as s:
        lines = s.run("find_file '*.py'").observation.split("\n")
        assert lines[0] == f'Found 2 matches for "*.py" in {tree}:'
        # `find` order is the directory's; the set of paths is what is fixed.
        assert sorted(lines[1:]) == [str(tree / "src" / "a.py"), str(tree / "src" / "b.py")]
        lines = s.run("cd src && find_file '*.txt' ..").observation.split("\n")
        assert lines[0] == f'Found 2 matches for "*.txt" in {tree}:'
        assert sorted(lines[1:]) == [str(tree / ".hidden" / "h.txt"), str(tree / "notes.txt")]


def test_find_file_no_matches_and_errors(tree: Path) -> None:
    usage = "Usage: find_file <file_name> [<dir>]"
    with session(tree) as s:
        assert s.run("find_file zz").observation == f'No matches found for "zz" in {tree}'
        assert s.run("find_file a.py nodir").observation == "Directory nodir not found"
        assert s.run("find_file").observation == usage
        assert s.run("find_file a b c").observation == usage
