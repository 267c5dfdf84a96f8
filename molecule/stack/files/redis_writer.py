#!/usr/bin/env python3
"""Write to Redis through a restart and tell which writes it acknowledged (no client library needed).

    redis_writer.py HOST USER PASSWORD SECONDS   SET a new key every 50 ms for SECONDS; prints JSON
                                                 {"acknowledged": [keys answered +OK], "refused": n}
    redis_writer.py HOST USER PASSWORD check KEY...   prints the keys that do not exist (space-separated)
"""
from __future__ import annotations

import json
import socket
import sys
import time
import uuid


def command(sock: socket.socket, *args: str) -> bytes:
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    sock.sendall(payload.encode())
    return sock.recv(4096)


def connect(host: str, user: str, password: str) -> socket.socket:
    sock = socket.create_connection((host, 6379), timeout=2)
    if not command(sock, "AUTH", user, password).startswith(b"+OK"):
        raise ConnectionError("AUTH refused")
    return sock


def write(host: str, user: str, password: str, seconds: float) -> dict:
    acknowledged: list[str] = []
    refused = 0
    sock = None
    deadline = time.monotonic() + seconds
    run = uuid.uuid4().hex[:8]
    i = 0
    while time.monotonic() < deadline:
        key = f"stack-test:{run}:{i}"
        i += 1
        try:
            sock = sock or connect(host, user, password)
            if command(sock, "SET", key, "1").startswith(b"+OK"):
                acknowledged.append(key)
            else:
                refused += 1
        except OSError:
            refused += 1
            sock = None
        time.sleep(0.05)
    return {"acknowledged": acknowledged, "refused": refused}


def check(host: str, user: str, password: str, keys: list[str]) -> list[str]:
    sock = connect(host, user, password)
    return [k for k in keys if command(sock, "EXISTS", k).strip() != b":1"]


if __name__ == "__main__":
    host, user, password, mode = sys.argv[1:5]
    if mode == "check":
        print(" ".join(check(host, user, password, sys.argv[5:])))
    else:
        print(json.dumps(write(host, user, password, float(mode))))
