"""The stack tests' traffic counter (molecule/stack/tests/conftest.py): a request that meets nginx closing
a kept-alive connection is sent again, once, as a browser would; every other failure is counted."""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[2] / "molecule" / "stack" / "tests" / "conftest.py"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


@pytest.fixture(scope="module")
def stack():
    os.environ.setdefault("MOLECULE_INVENTORY_FILE", "/dev/null")  # read at import; no host is reached here
    spec = importlib.util.spec_from_file_location("stack_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def serve(answers_per_connection: int, connections: int) -> tuple[str, threading.Thread]:
    """A server that answers `answers_per_connection` requests on each connection, then closes it
    without answering the next one (as nginx does to an idle kept-alive connection when it reloads)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        for _ in range(connections):
            conn, _ = listener.accept()
            with conn:
                for _ in range(answers_per_connection):
                    conn.recv(65536)
                    conn.sendall(ANSWER)
                conn.recv(65536)  # the next request arrives, and the connection is closed unanswered
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


def run_traffic(stack, url: str, thread: threading.Thread):
    traffic = stack.Traffic(url, paths=("/",), rate=200, headers={})
    with traffic:
        thread.join(timeout=10)
        time.sleep(0.05)
    return traffic


def test_a_kept_alive_connection_closed_unanswered_is_sent_again_once(stack):
    url, thread = serve(answers_per_connection=2, connections=3)
    traffic = run_traffic(stack, url, thread)
    assert traffic.retried >= 2, traffic.errors
    assert traffic.statuses[200] >= 5, traffic.statuses
    assert any("RemoteDisconnected" in error and "retried" in error for error in traffic.errors)


def test_a_new_connection_closed_unanswered_is_a_failure(stack):
    url, thread = serve(answers_per_connection=0, connections=2)
    traffic = run_traffic(stack, url, thread)
    assert traffic.retried == 0 and traffic.failed >= 1, traffic.errors
    assert traffic.statuses[200] == 0


def test_a_refused_connection_is_a_failure_not_a_retry(stack):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    traffic = stack.Traffic(f"http://127.0.0.1:{port}", paths=("/",), rate=100, headers={})
    with traffic:
        time.sleep(0.2)
    assert traffic.retried == 0 and traffic.failed >= 1
    assert "Connection refused" in traffic.errors[0] or "ConnectionRefusedError" in traffic.errors[0]
