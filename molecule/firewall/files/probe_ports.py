#!/usr/bin/env python3
"""Probe ports from this host: `probe-ports host:tcp/5432 host:udp/111 ...` prints JSON {target: state}.

States: open (TCP connect succeeded, or a UDP datagram came back), refused (RST or ICMP port
unreachable), filtered (no answer within the timeout: dropped). All targets are probed at once.
`probe-ports --hold host:tcp/5432 DIR` keeps one connection open: it writes DIR/state "connected"
after the greeting, waits for DIR/go, then sends a line and writes "echoed" or "failed: <why>".
"""
from __future__ import annotations

import concurrent.futures
import json
import socket
import sys
import time
from pathlib import Path

TIMEOUT = 2.0


def probe(target: str) -> str:
    host, _, rest = target.rpartition(":")
    proto, _, port = rest.partition("/")
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect((host, int(port)))
            if proto == "udp":
                sock.send(b"probe\n")
                sock.recv(64)
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "filtered"
    except OSError as err:
        return f"error: {err}"


def hold(target: str, folder: Path) -> None:
    host, _, rest = target.rpartition(":")
    port = int(rest.partition("/")[2])
    state = folder / "state"
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
            sock.settimeout(10)
            sock.recv(16)
            state.write_text("connected")
            deadline = time.monotonic() + 300
            while not (folder / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            sock.sendall(b"still there?\n")
            answer = sock.recv(64)
            state.write_text("echoed" if answer == b"still there?\n" else f"failed: answer {answer!r}")
    except OSError as err:
        state.write_text(f"failed: {err}")


if __name__ == "__main__":
    if sys.argv[1] == "--hold":
        hold(sys.argv[2], Path(sys.argv[3]))
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
            print(json.dumps(dict(zip(sys.argv[1:], pool.map(probe, sys.argv[1:])))))
