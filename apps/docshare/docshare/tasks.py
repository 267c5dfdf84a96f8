"""RQ job functions. They run in the worker process, which builds its services once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .cache import ListingCache, RedisListingCache
from .config import load_config
from .db import Database
from .processing import process_document
from .redis_conn import web_client
from .repository import PostgresRepository
from .storage import FileStore


@dataclass(frozen=True)
class WorkerContext:
    repo: PostgresRepository
    store: FileStore
    cache: ListingCache


@lru_cache(maxsize=1)
def worker_context() -> WorkerContext:
    config = load_config()
    db = Database(config.database_url, statement_timeout_ms=60_000, application_name="docshare-worker")
    return WorkerContext(
        repo=PostgresRepository(db),
        store=FileStore(config.documents_dir),
        cache=RedisListingCache(web_client(config.redis_url), config.cache_ttl_seconds),
    )


def process_document_job(doc_id: int) -> dict[str, object] | None:
    ctx = worker_context()
    result = process_document(doc_id, ctx.repo, ctx.store)
    if result is None:
        return None
    ctx.cache.invalidate()  # the listing shows processing results
    return {"sha256": result.sha256, "size": result.size_bytes, "mime_type": result.mime_type, "error": result.error}
