#!/usr/bin/env python3
"""Stub application for the nginx scenario: answers with its host name.

Switches (files, read on every request):
  /run/stub-upstream/fail   contains an HTTP status: every page but /healthz answers it
  /run/stub-upstream/slow   contains seconds: every page waits that long first
Pages:
  /nocache        Cache-Control: no-store (never cached by nginx)
  /short          Cache-Control: max-age=1 (becomes stale quickly)
  /private        Cache-Control: private
  /download/NAME  X-Accel-Redirect: /_protected/documents/NAME
  /healthz        "ok", no-store
  anything else   no cache headers: nginx micro-caches it
"""
from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATE = Path("/run/stub-upstream")
HOST = socket.gethostname()
PADDING = "lorem ipsum dolor sit amet " * 40


def _switch(name: str) -> str | None:
    path = STATE / name
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Upstream", HOST)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, f"ok {HOST}\n", {"Cache-Control": "no-store"})
            return
        slow = _switch("slow")
        if slow:
            time.sleep(float(slow))
        fail = _switch("fail")
        if fail:
            self._send(int(fail), f"failing {HOST}\n", {"Cache-Control": "no-store"})
            return
        headers: dict[str, str] = {}
        if path == "/nocache":
            headers["Cache-Control"] = "no-store"
        elif path == "/short":
            headers["Cache-Control"] = "max-age=1"
        elif path == "/private":
            headers["Cache-Control"] = "private"
        elif path.startswith("/headers"):
            headers.update({"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "unsafe-url"})
        elif path.startswith("/download/"):
            headers["Cache-Control"] = "no-store"
            headers["X-Accel-Redirect"] = "/_protected/documents/" + path.removeprefix("/download/")
        body = f"<html><body><p>host={HOST} path={path} time={time.time():.3f}</p><p>{PADDING}</p></body></html>\n"
        self._send(200, body, headers)

    do_HEAD = do_GET  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._send(200, f"posted {HOST}\n", {"Cache-Control": "no-store"})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


if __name__ == "__main__":
    STATE.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
