"""The real services the scale-out tests use, and fresh, private pieces of them.

PostgreSQL (127.0.0.1:5432, trust auth, user postgres) and Redis (127.0.0.1:6379) run on this
project's machines. A test that needs one skips with a reason naming it when it is unreachable,
unless ``ETL_REQUIRE_SERVICES=1`` (set by .ci/run) makes that a failure. Each test gets its own
databases and Redis DB numbers and drops them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

REQUIRE_VARIABLE = "ETL_REQUIRE_SERVICES"
PG_HOST = os.environ.get("ETL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ETL_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("ETL_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("ETL_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("ETL_TEST_REDIS_PORT", "6379"))
RABBIT_HOST = os.environ.get("ETL_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBIT_PORT = int(os.environ.get("ETL_TEST_RABBITMQ_PORT", "5672"))

FAKE_PASSWORD = "Sc4le-0ut-s3cret"
"""Put in every PostgreSQL URL (trust auth ignores it) to prove it is never written or logged."""

REDIS_TEST_DBS = range(4, 16)
"""Redis DB numbers tests may claim (0-3 are left to people)."""
REDIS_CLAIM_KEY = "etl_assets_test_claim"


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, with ETL_REQUIRE_SERVICES=1, fail) when the service does not answer."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1")
    pytest.skip(reason)


def require_postgres() -> None:
    require_service("PostgreSQL", PG_HOST, PG_PORT)


def require_redis() -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)


def require_rabbitmq() -> None:
    require_service("RabbitMQ", RABBIT_HOST, RABBIT_PORT)


def postgres_url(database: str, *, password: str = FAKE_PASSWORD) -> str:
    return f"postgresql://{PG_USER}:{password}@{PG_HOST}:{PG_PORT}/{database}"


def _admin():
    import psycopg2

    connection = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5
    )
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def fresh_databases(*roles: str) -> Iterator[dict[str, str]]:
    """New, empty PostgreSQL databases (role -> name), dropped on exit."""
    require_postgres()
    tag = uuid.uuid4().hex[:10]
    names = {role: f"etl_test_{tag}_{role}" for role in roles}
    admin = _admin()
    try:
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass(frozen=True)
class RedisDbs:
    broker: str
    backend: str


@contextlib.contextmanager
def fresh_redis_dbs() -> Iterator[RedisDbs]:
    """Two empty Redis DB numbers (broker, result backend), claimed, then flushed on exit."""
    require_redis()
    import redis

    claimed: list[redis.Redis] = []
    candidates = list(REDIS_TEST_DBS)
    random.shuffle(candidates)
    try:
        for number in candidates:
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
            if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, "1", nx=True, ex=3600):
                claimed.append(client)
            else:
                client.close()
            if len(claimed) == 2:
                break
        if len(claimed) < 2:
            pytest.fail(f"no two empty Redis DBs among {list(REDIS_TEST_DBS)}")
        numbers = [c.connection_pool.connection_kwargs["db"] for c in claimed]
        base = f"redis://{REDIS_HOST}:{REDIS_PORT}"
        yield RedisDbs(broker=f"{base}/{numbers[0]}", backend=f"{base}/{numbers[1]}")
    finally:
        for client in claimed:
            client.flushdb()
            client.close()
