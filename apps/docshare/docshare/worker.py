"""The background worker: ``python -m docshare.worker``.

An RQ worker on queue ``docshare`` (SimpleWorker: jobs run in this process, so the sweep
thread below never meets fork). A sweep thread processes rows still unprocessed after a grace
period, e.g. uploads whose job could not be queued while Redis was down; it needs only the
database and the documents volume, so it keeps working without Redis. An advisory lock keeps
one sweep at a time across hosts.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import redis
from rq import Queue, SimpleWorker

from .config import QUEUE_NAME, Config, load_config
from .db import LOCK_SWEEP, LockNotAcquired, advisory_lock
from .logs import setup_logging
from .processing import process_pending
from .redis_conn import worker_client
from .tasks import worker_context

log = logging.getLogger("docshare.worker")

SWEEP_INTERVAL = float(os.environ.get("DOCSHARE_SWEEP_INTERVAL", "60"))
SWEEP_GRACE = float(os.environ.get("DOCSHARE_SWEEP_GRACE", "30"))
FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0


def sweep_once() -> int:
    ctx = worker_context()
    try:
        with advisory_lock(ctx.repo.db.connection(), LOCK_SWEEP, wait=False):
            done = process_pending(ctx.repo, ctx.store, grace_seconds=SWEEP_GRACE)
    except LockNotAcquired:
        return 0
    if done:
        ctx.cache.invalidate()
    return done


def sweep_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            done = sweep_once()
            if done:
                log.info("sweep processed %d document(s)", done)
        except Exception:  # noqa: BLE001 - keep sweeping; the next round may succeed
            log.exception("sweep failed")
        stop.wait(SWEEP_INTERVAL)


class DocshareWorker(SimpleWorker):
    """SimpleWorker that also tells our loop about SIGTERM/SIGINT (RQ owns the handlers while working)."""

    stop_event: threading.Event = threading.Event()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_event.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run(config: Config, stop: threading.Event | None = None, sweep: bool = True, handle_signals: bool = True) -> int:
    """Work the queue until SIGTERM/SIGINT (or ``stop``); survive Redis outages."""
    stop = stop or threading.Event()
    if sweep:
        threading.Thread(target=sweep_loop, args=(stop,), name="sweep", daemon=True).start()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    delay = FIRST_RETRY_DELAY
    while not stop.is_set():
        if handle_signals:  # RQ replaces these while it works; ours cover the waits in between
            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
        try:
            connection = worker_client(config.redis_url)
            connection.ping()
            worker = DocshareWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
            worker.stop_event = stop
            delay = FIRST_RETRY_DELAY
            # RQ handles SIGTERM/SIGINT itself (warm shutdown) and also returns when it meets
            # an error it cannot handle: then start over.
            worker.work(with_scheduler=False, logging_level=logging.getLevelName(log.getEffectiveLevel()))
            if stop.is_set():
                break
            log.warning("RQ worker stopped without a shutdown request; restarting in %.0fs", delay)
            stop.wait(delay)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("redis unavailable (%s); retrying in %.0fs, the sweep keeps processing", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
    stop.set()
    return 0


def main() -> int:
    setup_logging()
    return run(load_config())


if __name__ == "__main__":
    raise SystemExit(main())
