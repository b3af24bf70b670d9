"""The scale-out settings, commands and wiring that need no service (both installs run these)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etl_assets.query import check_read_only, plain_value
from etl_assets.query import main as query_main
from etl_assets.scale import settings
from etl_assets.scale.settings import SettingError

VENV_BIN = Path(sys.executable).parent
SECRET = "hunter2-pw"
PG = f"postgresql://etl:{SECRET}@db.example:5432/dagster"
SCALE_INSTALLED = all(
    __import__("importlib").util.find_spec(m) for m in ("dagster_celery", "dagster_postgres")
)


@pytest.mark.parametrize(
    ("reader", "env", "variable"),
    [
        (settings.postgres_url, {"DAGSTER_POSTGRES_URL": "mysql://x@h/db"}, "DAGSTER_POSTGRES_URL"),
        (settings.postgres_url, {"DAGSTER_POSTGRES_URL": "postgresql://h:port/db"}, "DAGSTER_"),
        (settings.postgres_url, {"DAGSTER_POSTGRES_URL": "postgresql://h:5432"}, "DAGSTER_"),
        (settings.celery_settings, {}, "CELERY_BROKER_URL"),
        (settings.celery_settings, {"CELERY_BROKER_URL": "redis://h/0"}, "CELERY_RESULT_BACKEND"),
        (
            settings.celery_settings,
            {"CELERY_BROKER_URL": "http://h/0", "CELERY_RESULT_BACKEND": "rpc://"},
            "CELERY_BROKER_URL",
        ),
        (settings.warehouse_kind, {"ETL_WAREHOUSE": "sqlite"}, "ETL_WAREHOUSE"),
        (settings.ducklake_settings, {}, "ETL_DUCKLAKE_CATALOG"),
        (settings.ducklake_settings, {"ETL_DUCKLAKE_CATALOG": "lake"}, "ETL_DUCKLAKE_CATALOG"),
        (
            settings.ducklake_settings,
            {"ETL_DUCKLAKE_CATALOG": "dbname=lake"},
            "ETL_DUCKLAKE_DATA_PATH",
        ),
        (settings.backfill_days_per_run, {"ETL_BACKFILL_DAYS_PER_RUN": "0"}, "ETL_BACKFILL_DAYS"),
        (settings.backfill_days_per_run, {"ETL_BACKFILL_DAYS_PER_RUN": "two"}, "ETL_BACKFILL"),
        (settings.max_concurrent_runs, {"ETL_MAX_CONCURRENT_RUNS": "-1"}, "ETL_MAX_CONCURRENT"),
        (settings.max_concurrent_runs, {"ETL_MAX_CONCURRENT_RUNS": " "}, "ETL_MAX_CONCURRENT"),
    ],
)
def test_a_bad_value_fails_naming_its_variable(reader, env, variable) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingError, match=variable):
        reader(env)


def test_defaults_and_good_values() -> None:
    assert settings.postgres_url({}) is None
    assert settings.postgres_url({"DAGSTER_POSTGRES_URL": PG}) == PG
    assert settings.warehouse_kind({}) == "duckdb"
    assert settings.backfill_days_per_run({}) == 1
    assert settings.max_concurrent_runs({}) == 4
    celery = settings.celery_settings(
        {"CELERY_BROKER_URL": "pyamqp://guest@127.0.0.1:5672//", "CELERY_RESULT_BACKEND": "rpc://"}
    )
    assert celery.backend == "rpc://"
    lake = settings.ducklake_settings(
        {"ETL_DUCKLAKE_CATALOG": "dbname=lake host=127.0.0.1", "ETL_DUCKLAKE_DATA_PATH": "/x/y"}
    )
    assert lake.data_path == "/x/y/"


def test_passwords_never_reach_errors_or_descriptions() -> None:
    bad = PG.replace("5432", "54x2")
    with pytest.raises(SettingError) as caught:
        settings.postgres_url({"DAGSTER_POSTGRES_URL": bad})
    assert SECRET not in str(caught.value)
    assert settings.redact(f"a {PG} b") == "a postgresql://etl:***@db.example:5432/dagster b"
    assert SECRET not in settings.redact(f"dbname=x password={SECRET} host=y")
    assert settings.scrub(f"failed: {SECRET}", PG) == "failed: ***"
    lake = settings.DuckLakeSettings(catalog=PG, data_path="/d/")
    assert SECRET not in lake.describe()


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("DAGSTER_POSTGRES_URL", f"postgres//etl:{SECRET}@db.example:5432/dagster"),
        ("DAGSTER_POSTGRES_URL", f"postgresql:/etl:{SECRET}@db.example/dagster"),
        ("DAGSTER_POSTGRES_URL", "postgresql://etl:hun/ter2#pw@db.example:5432/dagster"),
        ("DAGSTER_POSTGRES_URL", f"postgresql://etl:{SECRET}@db.example:5432"),
        ("CELERY_BROKER_URL", f"redis//:{SECRET}@127.0.0.1:6379/0"),
        ("CELERY_RESULT_BACKEND", f"rediss//:{SECRET}@127.0.0.1:6379/1"),
        ("ETL_DUCKLAKE_CATALOG", f"postgresql://etl:{SECRET}@db.example:99999x/lake"),
    ],
)
def test_a_malformed_url_is_refused_without_its_password(variable: str, url: str) -> None:
    env = {
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1",
        "ETL_DUCKLAKE_DATA_PATH": "/lake/",
        variable: url,
    }
    reader = {
        "DAGSTER_POSTGRES_URL": settings.postgres_url,
        "CELERY_BROKER_URL": settings.celery_settings,
        "CELERY_RESULT_BACKEND": settings.celery_settings,
        "ETL_DUCKLAKE_CATALOG": settings.ducklake_settings,
    }[variable]
    with pytest.raises(SettingError) as caught:
        reader(env)
    message = str(caught.value)
    assert message.startswith(f"{variable}=") and "***@" in message
    for piece in (SECRET, "hun", "ter2", "pw"):
        assert piece not in message


def test_celery_with_a_duckdb_file_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_assets.definitions import build_definitions  # its module builds with today's env

    monkeypatch.setenv("ETL_EXECUTOR", "celery")
    monkeypatch.delenv("ETL_WAREHOUSE", raising=False)

    with pytest.raises(SettingError, match=r"ETL_WAREHOUSE=ducklake.*one writing process"):
        build_definitions()


@pytest.mark.skipif(not SCALE_INSTALLED, reason="the 'scale' extra is not installed")
def test_celery_definitions_split_backfills_and_use_the_celery_executor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dagster as dg

    from etl_assets.definitions import build_definitions

    monkeypatch.setenv("ETL_EXECUTOR", "celery")
    monkeypatch.setenv("ETL_WAREHOUSE", "ducklake")
    monkeypatch.setenv("ETL_DUCKLAKE_CATALOG", PG)
    monkeypatch.setenv("ETL_DUCKLAKE_DATA_PATH", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("ETL_BACKFILL_DAYS_PER_RUN", "2")
    monkeypatch.setenv("SALES_API_URL", "http://127.0.0.1:1")
    defs = build_definitions()
    for asset in defs.assets or []:
        assert isinstance(asset, dg.AssetsDefinition)
        assert asset.backfill_policy == dg.BackfillPolicy.multi_run(2)
    job = defs.resolve_job_def("daily_sales_job")
    assert job.executor_def.name == "celery_executor"
    manager = defs.resources["io_manager"]  # type: ignore[index]
    assert SECRET not in repr(manager.ducklake_catalog)  # an EnvVar: its name, not its value


def test_one_machine_backfills_stay_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from etl_assets.definitions import build_definitions

    monkeypatch.delenv("ETL_EXECUTOR", raising=False)
    monkeypatch.setenv("SALES_API_URL", "http://127.0.0.1:1")
    for asset in build_definitions().assets or []:
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()  # type: ignore[union-attr]


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ETL_", "DAGSTER_"))}
    return subprocess.run(
        argv, env={**full, **env}, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_etl_dagster_home_postgres_writes_an_env_reference(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = _run([str(VENV_BIN / "etl-dagster-home"), "--storage", "postgres"],
                   {"DAGSTER_HOME": str(home)}, tmp_path)  # fmt: skip
    assert missing.returncode == 2 and "DAGSTER_POSTGRES_URL is not set" in missing.stderr
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_POSTGRES_URL": PG,
        "ETL_MAX_CONCURRENT_RUNS": "6",
        "ETL_WAREHOUSE": "ducklake",
    }
    done = _run([str(VENV_BIN / "etl-dagster-home")], env, tmp_path)  # postgres: the URL is set
    assert done.returncode == 0, done.stderr
    text = (home / "dagster.yaml").read_text()
    assert "env: DAGSTER_POSTGRES_URL" in text and SECRET not in text
    assert "max_concurrent_runs: 6" in text and "default_limit: 6" in text
    assert "run_monitoring:" in text
    import yaml

    parsed = yaml.safe_load(text)
    assert parsed["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    again = _run([str(VENV_BIN / "etl-dagster-home"), "--storage", "postgres"],
                 {**env, "ETL_MAX_CONCURRENT_RUNS": "2"}, tmp_path)  # fmt: skip
    assert again.returncode == 1 and "--force" in again.stderr


def test_etl_celery_worker_refuses_an_incomplete_environment(tmp_path: Path) -> None:
    worker = [str(VENV_BIN / "etl-celery-worker"), "--name", "w1"]
    no_lake = _run(worker, {}, tmp_path)
    assert no_lake.returncode == 2 and "needs ETL_WAREHOUSE=ducklake" in no_lake.stderr
    lake = {
        "ETL_WAREHOUSE": "ducklake",
        "ETL_DUCKLAKE_CATALOG": PG,
        "ETL_DUCKLAKE_DATA_PATH": str(tmp_path),
    }
    no_broker = _run(worker, lake, tmp_path)
    assert no_broker.returncode == 2 and "CELERY_BROKER_URL is not set" in no_broker.stderr
    bad_name = _run([*worker[:-1], "w1@host"], lake, tmp_path)
    assert bad_name.returncode == 2 and "--name" in bad_name.stderr


def test_query_helpers() -> None:
    from decimal import Decimal

    assert plain_value(None) == ""
    assert plain_value(1e-7) == "0.0000001"
    assert plain_value(2.5) == "2.5"
    assert plain_value(Decimal("1E+3")) == "1000"
    assert check_read_only("  from mart.sales_table ").strip() == "from mart.sales_table"
    for refused in ("delete from t", "select 1; select 2", "attach 'x.db'", "copy t to 'f.csv'"):
        with pytest.raises(ValueError):
            check_read_only(refused)


def test_etl_query_csv_on_the_duckdb_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            "CREATE SCHEMA mart; CREATE TABLE mart.sales_table AS SELECT * FROM (VALUES"
            " (1, 'O''Brien, \"x\"', 2.50::DECIMAL(12,2), NULL::VARCHAR),"
            " (2, 'b', 1e-7::DOUBLE, 'z')) t(order_id, product, amount, note)"
        )
    monkeypatch.setenv("ETL_DUCKDB_PATH", str(db))
    monkeypatch.delenv("ETL_WAREHOUSE", raising=False)
    assert query_main(["--csv", "select * from mart.sales_table order by order_id"]) == 0
    out, err = capsys.readouterr()
    assert list(csv.reader(io.StringIO(out))) == [
        ["order_id", "product", "amount", "note"],
        ["1", 'O\'Brien, "x"', "2.5", ""],
        ["2", "b", "0.0000001", "z"],
    ]
    assert err == ""
    assert query_main(["delete from mart.sales_table"]) == 2
    assert query_main(["select nope from mart.sales_table"]) == 1
    _, err = capsys.readouterr()
    assert "DELETE" in err and "nope" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DAGSTER_POSTGRES_URL", PG.replace("5432", "54x2")),
        ("ETL_MAX_CONCURRENT_RUNS", "many"),
        ("ETL_BACKFILL_DAYS_PER_RUN", "0"),
        ("ETL_WAREHOUSE", "parquet"),
    ],
)
def test_a_malformed_variable_fails_the_load_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from etl_assets.definitions import build_definitions  # its module builds with today's env

    monkeypatch.setenv("SALES_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError, match=variable) as caught:
        build_definitions()
    assert SECRET not in str(caught.value)


def test_a_missing_service_skips_naming_it_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_assets_tests.ports import free_port
    from etl_assets_tests.scale.services import REQUIRE_VARIABLE, require_service

    port = free_port()  # nothing listens there
    monkeypatch.delenv(REQUIRE_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis is not reachable"):
        require_service("Redis", "127.0.0.1", port)
    monkeypatch.setenv(REQUIRE_VARIABLE, "1")
    with pytest.raises(
        pytest.fail.Exception, match=f"Redis is not reachable.*{REQUIRE_VARIABLE}=1"
    ):
        require_service("Redis", "127.0.0.1", port)
