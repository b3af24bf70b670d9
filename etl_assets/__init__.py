"""etl_assets: sales orders from a REST API into DuckDB, as Dagster software-defined assets.

``dagster ... -m etl_assets`` finds ``defs`` here. It is built on first access (PEP 562), so the
demo API and the pure modules import without loading Dagster or reading the pipeline's settings.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from etl_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'etl_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
