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
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etl_assets_tests.ports import free_port

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


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server tests may create databases on (trust auth)."""

    host: str = PG_HOST
    port: int = PG_PORT
    user: str = PG_USER

    def url(self, database: str, *, password: str = FAKE_PASSWORD) -> str:
        return f"postgresql://{self.user}:{password}@{self.host}:{self.port}/{database}"

    def admin(self):  # psycopg2 connection to the maintenance database, autocommit
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=5
        )
        connection.autocommit = True
        return connection


SHARED_PG = PgServer()


def postgres_url(database: str, *, password: str = FAKE_PASSWORD) -> str:
    return SHARED_PG.url(database, password=password)


@contextlib.contextmanager
def fresh_databases(*roles: str, server: PgServer = SHARED_PG) -> Iterator[dict[str, str]]:
    """New, empty PostgreSQL databases (role -> name), dropped on exit."""
    if server == SHARED_PG:
        require_postgres()
    tag = uuid.uuid4().hex[:10]
    names = {role: f"etl_test_{tag}_{role}" for role in roles}
    admin = server.admin()
    try:
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        with contextlib.suppress(Exception):
            admin.close()
        admin = server.admin()
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass(frozen=True)
class PrivatePostgres(PgServer):
    """A PostgreSQL cluster of our own (initdb + pg_ctl, Debian's binaries) on a free port."""

    data: Path = Path()
    log: Path = Path()

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data}"
        self._pg_ctl("-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if not found:
        pytest.skip(f"PostgreSQL's {name} is not installed (a private cluster needs it)")
    return str(found)


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def private_postgres(workdir: Path) -> Iterator[PrivatePostgres]:
    """A fresh cluster (trust auth) on a free port, stopped and removed on exit. Its files live
    in a temp folder of their own (the postgres user must reach it when we run as root); its
    log is copied to ``workdir``."""
    root = Path(tempfile.mkdtemp(prefix="etl-test-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        for path in (root, data):
            shutil.chown(path, "postgres")
    initdb = [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    server = PrivatePostgres(
        host="127.0.0.1", port=free_port(), user="postgres", data=data, log=root / "postgres.log"
    )
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop("immediate")
        workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(server.log, workdir / "postgres.log")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_rabbitmq_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost for guest (rabbitmqctl), deleted on exit; yields the broker URL."""
    require_rabbitmq()
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("RabbitMQ's rabbitmqctl is not installed (a private vhost needs it)")
    vhost = f"etl_test_{uuid.uuid4().hex[:10]}"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"pyamqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


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
