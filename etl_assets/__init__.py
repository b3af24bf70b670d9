"""etl_assets: sales orders from a REST API into DuckDB, as Dagster software-defined assets.

``dagster ... -m etl_assets`` finds ``defs`` here. It is built on first access (PEP 562), so the
demo API and the pure modules import without loading Dagster or reading the pipeline's settings.
"""

import atexit
import gc
from typing import Any

__all__ = ["defs"]


def _skip_final_collections() -> None:
    """At exit, freeze every object so the interpreter's last garbage collections skip them.

    A Dagster process that ran a day of orders holds millions of objects (Dagster, pandas, the
    run's leftovers); walking them at shutdown took ~0.7 s of every run. The memory goes back
    to the system when the process ends either way.
    """
    gc.freeze()


def __getattr__(name: str) -> Any:
    if name == "defs":
        from etl_assets.definitions import defs

        globals()["defs"] = defs  # later lookups find it without calling __getattr__
        # What exists now (Dagster, pandas, DuckDB, the definitions) lives as long as the
        # process: frozen, it is no longer walked by each full collection of a run (Python's own,
        # and the one before each step's load), ~0.1 s a run at 1M orders.
        gc.freeze()
        atexit.register(_skip_final_collections)
        return defs
    raise AttributeError(f"module 'etl_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
