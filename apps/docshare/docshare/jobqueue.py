"""Enqueueing document processing on the RQ queue ``docshare``.

Enqueueing is best effort: when Redis is down the upload still succeeds, the row stays
unprocessed and the worker's sweep processes it later.
"""

from __future__ import annotations

import logging
from typing import Protocol

import redis
from rq import Queue

from .config import QUEUE_NAME
from .redis_conn import CircuitBreaker

log = logging.getLogger(__name__)

PROCESS_JOB = "docshare.tasks.process_document_job"


class JobQueue(Protocol):
    def enqueue_processing(self, doc_id: int) -> bool:
        """True if the job was queued; False if it will be picked up by the sweep."""
        ...

    def length(self) -> int | None:
        """Jobs waiting, or None when unknown."""
        ...


class RQJobQueue:
    def __init__(self, client: redis.Redis, breaker: CircuitBreaker | None = None, name: str = QUEUE_NAME) -> None:
        self.queue = Queue(name, connection=client)
        self.breaker = breaker or CircuitBreaker()

    def enqueue_processing(self, doc_id: int) -> bool:
        if self.breaker.open:
            return False
        try:
            self.queue.enqueue(
                PROCESS_JOB,
                doc_id,
                job_id=f"process-{doc_id}",
                job_timeout=300,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
        except (redis.RedisError, OSError) as exc:
            self.breaker.failure()
            log.warning("could not enqueue document %s (the sweep will process it): %s", doc_id, exc)
            return False
        self.breaker.success()
        return True

    def length(self) -> int | None:
        if self.breaker.open:
            return None
        try:
            return int(self.queue.count)
        except (redis.RedisError, OSError) as exc:
            self.breaker.failure()
            log.warning("could not read the queue length: %s", exc)
            return None
