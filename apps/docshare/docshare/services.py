"""The app's collaborators, bundled so tests can substitute in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from .cache import ListingCache, RedisListingCache
from .config import Config
from .db import Database, ping
from .health import Check, disk_check, ping_check, writable_check
from .jobqueue import JobQueue, RQJobQueue
from .redis_conn import CircuitBreaker, web_client
from .repository import DocumentRepository, PostgresRepository
from .storage import BlobStore, FileStore


@dataclass
class Services:
    repo: DocumentRepository
    store: BlobStore
    cache: ListingCache
    queue: JobQueue
    health_checks: Mapping[str, Check] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def build_services(config: Config) -> Services:
    """Production wiring: PostgreSQL, Redis (short timeouts) and the documents directory."""
    db = Database(config.database_url, statement_timeout_ms=10_000, application_name="docshare-web")
    repo = PostgresRepository(db)
    store = FileStore(config.documents_dir, min_free_bytes=config.min_free_bytes)
    client = web_client(config.redis_url)
    breaker = CircuitBreaker()
    checks: dict[str, Check] = {
        "database": ping_check(partial(ping, config.database_url)),
        "redis": ping_check(client.ping),
        "documents": writable_check(store.probe_writable, config.documents_dir),
        "disk": disk_check(store.free_bytes, config.min_free_bytes),
    }
    return Services(
        repo=repo,
        store=store,
        cache=RedisListingCache(client, config.cache_ttl_seconds, breaker),
        queue=RQJobQueue(client, breaker),
        health_checks=checks,
        close=db.close,
    )
