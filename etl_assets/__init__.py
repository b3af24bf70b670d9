"""etl_assets: sales orders from a REST API into DuckDB, as Dagster software-defined assets.

``dagster ... -m etl_assets`` finds ``defs`` here; the wiring lives in ``definitions.py``.
"""

from etl_assets.definitions import defs

__all__ = ["defs"]
