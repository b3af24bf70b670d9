"""Side-by-side benchmark: ``python -m etl_assets_tests.bench [--orders N]``.

One run serves N orders for one UTC day from the bundled demo API (its own process, pre-warmed),
then runs every variant in its own subprocess so that wall time and peak RSS are per variant:

- ``api``: a plain client (requests Session + orjson) reading the day: how fast the demo serves;
- ``tutorial``: the classic tutorial (``requests.get`` per page, pandas, ``drop_duplicates``,
  ``to_sql`` into SQLite) applying our cleaning rules through the per-element reference path;
- ``floor``: the least work that gives the same table (threaded fetch of sub-windows, page
  bodies unnested by DuckDB, one ``CREATE TABLE AS`` that cleans in SQL);
- ``dagster``: this project's raw_records → clean/rejected_records → sales_table, i.e.
  ``daily_sales_job`` run in this process with the in_process executor (as a run worker does),
  against a temp DuckDB file, with per-stage times and peak memory;
- ``materialize``: the same assets through ``dg.materialize``, the test helper, which also
  keeps every step's output in memory until it returns;
- ``cli``: the same through ``dagster asset materialize`` in a subprocess.

Every variant must end with the same orders (distinct order_ids and sum of amount) or the
benchmark fails before printing any figure.
"""
