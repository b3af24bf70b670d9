"""etl_assets: sales orders from a REST API into DuckDB, as Dagster software-defined assets."""
