"""Reading a ``.env`` file into the process environment (``mlgym run`` does it first)."""

from __future__ import annotations

import os
from pathlib import Path


def load_dotenv(path: str | os.PathLike[str] = ".env", *, override: bool = False) -> list[str]:
    """Loads ``KEY=VALUE`` lines of a ``.env`` file into ``os.environ``.

    Blank lines and ``#`` comments are skipped, ``export`` prefixes allowed, values may
    be quoted. Variables already set win unless ``override``. Returns the keys set.
    """
    p = Path(path)
    if not p.is_file():
        return []
    loaded: list[str] = []
    for raw in p.read_text(errors="replace").splitlines():
        parsed = _parse_line(raw)
        if parsed is None:
            continue
        key, value = parsed
        if override or key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded


def _parse_line(raw: str) -> tuple[str, str] | None:
    line = raw.strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("export "):
        line = line[len("export ") :].lstrip()
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key.replace("_", "").isalnum():
        return None
    value = value.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        value = value[1:end] if end != -1 else value[1:]
        if quote == '"':
            value = value.replace("\\n", "\n")
    else:
        value = value.split(" #", 1)[0].rstrip()
    return key, value
