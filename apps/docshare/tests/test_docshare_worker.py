from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from docshare import worker
from docshare.config import Config

CONFIG = Config(database_url="postgresql://u@db:5432/d", redis_url="redis://redis:6379/0")


class FakeConnection:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def ping(self) -> bool:
        if self.fail:
            raise redis.ConnectionError("refused")
        return True


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "FIRST_RETRY_DELAY", 0.01)
    monkeypatch.setattr(worker, "MAX_RETRY_DELAY", 0.02)


def test_restarts_rq_after_unrequested_exit_and_stops_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    calls: list[int] = []

    class FakeWorker:
        stop_event: threading.Event

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def work(self, **kwargs: Any) -> bool:
            calls.append(1)
            if len(calls) == 3:
                self.stop_event.set()  # what DocshareWorker.request_stop does on SIGTERM
            return False

    monkeypatch.setattr(worker, "worker_client", lambda url: FakeConnection(fail=False))
    monkeypatch.setattr(worker, "DocshareWorker", FakeWorker)
    monkeypatch.setattr(worker, "Queue", lambda *a, **k: None)
    assert worker.run(CONFIG, stop=stop, sweep=False, handle_signals=False) == 0
    assert len(calls) == 3


def test_waits_for_redis_without_crashing(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    attempts: list[int] = []

    def client(url: str) -> FakeConnection:
        attempts.append(1)
        if len(attempts) == 4:
            stop.set()
        return FakeConnection(fail=True)

    monkeypatch.setattr(worker, "worker_client", client)
    assert worker.run(CONFIG, stop=stop, sweep=False, handle_signals=False) == 0
    assert len(attempts) == 4


def test_request_stop_sets_the_loop_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import SimpleWorker

    event = threading.Event()
    monkeypatch.setattr(SimpleWorker, "request_stop", lambda self, signum, frame: None)
    w = worker.DocshareWorker.__new__(worker.DocshareWorker)
    w.stop_event = event
    w.request_stop(15, None)
    assert event.is_set()
