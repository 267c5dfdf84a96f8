#!/usr/bin/env python3
"""A stand-in for a service of the stack: `listener tcp-6379` or `listener udp-111` (the systemd instance name).

TCP: greets each connection with "ok" and echoes every line until the client closes (long-lived
connections for the established-connection test). UDP: echoes each datagram. Listens on every IPv4
address on purpose: a service bound to 0.0.0.0 is what the firewall must still protect.
"""
from __future__ import annotations

import socket
import sys
import threading


def serve_tcp(port: int) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(64)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def echo(conn: socket.socket) -> None:
    with conn:
        conn.sendall(b"ok\n")
        while data := conn.recv(4096):
            conn.sendall(data)


def serve_udp(port: int) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("0.0.0.0", port))
    while True:
        data, peer = server.recvfrom(4096)
        server.sendto(data, peer)


if __name__ == "__main__":
    proto, _, port = sys.argv[1].partition("-")
    (serve_tcp if proto == "tcp" else serve_udp)(int(port))
