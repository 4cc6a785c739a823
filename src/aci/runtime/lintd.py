"""mlgym-rs lint server for the shell runtime's `edit` and `insert`.

Started by the runtime's lint client (lint.sh) with the session's `python3`; it reads
requests on stdin and answers on stdout, one request at a time:

    B<TAB><path>                          lint <path> now and remember the result
    A<TAB><start><TAB><end><TAB><n><TAB><path>
                                          lint <path> again and answer the errors that
                                          are new relative to the remembered result

An `A` answer is a line with a count followed by that many lines `- <CODE> <message>`.
A `B` answer is `OK`. On start the server prints `READY <pid>`, or `NOLINT` (and exits)
when flake8 cannot be imported.

Linting is flake8 with `--isolated --select=F821,F822,F831,E111,E112,E113,E999,E902`,
run in-process: the options and plugins are loaded once, and a result is reused while
the file's bytes are unchanged. The filtering of new errors follows the behaviour MLGym
documents for its `_split_string` helper: previous errors above the edited window are
kept as they are, those inside it are dropped, those below it are shifted by the change
in line count, and an error is new when no (shifted) previous error has the same file,
line, column and text.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings

ARGS = ["--isolated", "--select=F821,F822,F831,E111,E112,E113,E999,E902"]
# Warning categories Python shows by default; MLGym captures flake8's stderr with its
# stdout, and such a line breaks its filter, which then reports nothing.
HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


class Linter:
    def __init__(self) -> None:
        from flake8 import checker
        from flake8.main import application

        self._checker = checker
        self.app = application.Application()
        self.app.initialize(ARGS)
        self.checkers = self._prune(self.app.plugins.checkers)
        self.cache: dict[tuple[str, bytes], str] = {}

    @staticmethod
    def _prune(checkers):  # type: ignore[no-untyped-def]
        """Keep only what can report a selected code: pyflakes (F821, F822, F831) and
        pycodestyle's `indentation` check (E111, E112, E113); E999 and E902 come from
        flake8 itself. Running the other ~30 pycodestyle checks would only produce codes
        that `--select` discards."""
        try:
            import pycodestyle
            from flake8.plugins import finder

            def indentation(
                logical_line,
                previous_logical,
                indent_char,
                indent_level,
                previous_indent_level,
                indent_size,
            ):  # type: ignore[no-untyped-def]
                return pycodestyle.indentation(
                    logical_line,
                    previous_logical,
                    indent_char,
                    indent_level,
                    previous_indent_level,
                    indent_size,
                )

            tree = [p for p in checkers.tree if p.plugin.package == "pyflakes"]
            logical = [
                p._replace(obj=indentation, parameters=finder._parameters_for(indentation))
                for p in checkers.logical_line
                if p.plugin.package == "pycodestyle"
            ]
            if len(tree) != 1 or len(logical) != 1:
                return checkers
            return type(checkers)(tree=tree, logical_line=logical, physical_line=[])
        except Exception:
            return checkers

    def _run(self, path: str) -> str:
        app = self.app
        assert app.options is not None and app.guide is not None and app.plugins is not None
        app.options.filenames = [path]
        out = io.StringIO()
        formatter = app.formatter
        assert formatter is not None
        formatter.output_fd = out
        manager = self._checker.Manager(
            style_guide=app.guide, plugins=self.checkers, argv=ARGS + [path]
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            manager.start()
            manager.run()
            manager.stop()
            manager.report()
        formatter.output_fd = None
        text = out.getvalue()
        if any(not issubclass(w.category, HIDDEN) for w in caught):
            text += "\n<warning>"
        return text.rstrip("\n")

    def lint(self, path: str) -> str:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return self._run(path)
        key = (path, hashlib.sha1(data).digest())
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        text = self._run(path)
        if len(self.cache) > 64:
            self.cache.clear()
        self.cache[key] = text
        return text


def _parse(text: str) -> list[tuple[str, int, int, str]]:
    errors = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        prefix, _sep, problem = line.partition(": ")
        filename, row, col = prefix.split(":")
        errors.append((filename, int(row), int(col), problem))
    return errors


def new_errors(after: str, before: str, start: int, end: int, n_lines: int) -> list[str]:
    """The `- <problem>` lines of errors in `after` that `before` does not explain."""
    try:
        errors = _parse(after)
        if before:
            shift = n_lines - (end - start + 1)
            previous = []
            for err in _parse(before):
                if err[1] < start:
                    previous.append(err)
                elif start <= err[1] <= end:
                    continue
                else:
                    previous.append((err[0], err[1] + shift, err[2], err[3]))
            errors = [e for e in errors if e not in previous]
    except ValueError:
        # Unparsable linter output (e.g. a warning line): MLGym's filter fails and the
        # edit goes through.
        return []
    return [f"- {e[3]}" for e in errors]


def main() -> int:
    out = sys.stdout
    try:
        out.reconfigure(encoding="utf-8", errors="surrogateescape")  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        pass
    try:
        linter = Linter()
    except Exception:
        out.write("NOLINT\n")
        out.flush()
        return 0
    out.write(f"READY {os.getpid()}\n")
    out.flush()
    before = ""
    for raw in sys.stdin.buffer:
        fields = raw.rstrip(b"\n").split(b"\t")
        try:
            if fields[0] == b"B" and len(fields) >= 2:
                path = os.fsdecode(b"\t".join(fields[1:]))
                before = linter.lint(path)
                out.write("OK\n")
            elif fields[0] == b"A" and len(fields) >= 5:
                start, end, n_lines = (int(x) for x in fields[1:4])
                path = os.fsdecode(b"\t".join(fields[4:]))
                lines = new_errors(linter.lint(path), before, start, end, n_lines)
                lines = [line.replace("\n", " ") for line in lines]
                out.write(f"{len(lines)}\n")
                for line in lines:
                    out.write(line + "\n")
            else:
                out.write("0\n")
        except Exception:
            out.write("0\n" if fields[0] != b"B" else "ERR\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
