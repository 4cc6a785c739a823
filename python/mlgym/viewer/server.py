"""The viewer's HTTP server (``http.server``): the page, its assets and a small JSON API.

Routes: ``/`` (the page), ``/static/<file>``, ``/api/index`` (every trajectory's
metadata), ``/api/traj?path=<relative path>`` (one ``.traj``, sent as stored, only when
a trajectory is opened). Only files listed in the index can be read.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from mlgym.viewer.index import TrajectoryIndex

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("mlgym.viewer")


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], index: TrajectoryIndex) -> None:
        self.index = index
        super().__init__(address, ViewerHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}/"


class ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        route = url.path
        try:
            if route in ("/", "/index.html"):
                self._static("index.html")
            elif route.startswith("/static/"):
                self._static(route[len("/static/") :])
            elif route == "/api/index":
                self._index()
            elif route == "/api/traj":
                self._traj(parse_qs(url.query).get("path", [""])[0])
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {route}")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _static(self, name: str) -> None:
        allowed = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        path = allowed.get(name)
        if path is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such file: {name}")
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(HTTPStatus.OK, path.read_bytes(), ctype)

    def _index(self) -> None:
        entries = self.server.index.refresh()
        self._json(
            {
                "root": str(self.server.index.root),
                "runs": [e.to_dict() for e in entries],
            }
        )

    def _traj(self, rel: str) -> None:
        index = self.server.index
        entry = next((e for e in index.entries if e.path == rel), None)
        if entry is None:
            self._error(HTTPStatus.NOT_FOUND, f"unknown trajectory: {rel}")
            return
        try:
            body = index.file_of(entry).read_bytes()
        except OSError as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
            return
        self._send(HTTPStatus.OK, body, "application/json; charset=utf-8")


def make_server(
    root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000
) -> ViewerServer:
    """A server for the trajectories under ``root`` (``port=0`` picks a free port)."""
    return ViewerServer((host, port), TrajectoryIndex(root))
