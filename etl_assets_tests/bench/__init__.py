"""Side-by-side benchmark: ``python -m etl_assets_tests.bench [--orders N] [--rounds R]``.

One run serves N orders for one UTC day from the bundled demo API (its own process, pre-warmed),
then runs each variant R times (rounds interleaved, the tutorial baseline fewer), each time as a
whole process measured as ``/usr/bin/time`` would: wall time, and the max RSS of the largest
process of its tree (``wait4``'s ``ru_maxrss``). The table shows medians and ratios to the floor
of the same run.

- ``floor`` (``floor.py``): the least work that gives the same orders: http.client in four
  threads, orjson for the ``next`` links, the page bodies as one Arrow column, one DuckDB
  statement that cleans them into the sales table;
- ``dagster`` (``variants.py``): this project's ``daily_sales_job`` (raw_records →
  clean/rejected_records → sales_table) in one process, as a run worker executes it;
- ``cli``: exactly ``dagster asset materialize -m etl_assets --select 'raw_records*'
  --partition D`` with DAGSTER_HOME (the project's dagster.yaml), SALES_API_URL and
  ETL_DUCKDB_PATH: the run users launch (it also builds daily_sales_summary);
- ``dlt`` (``peer_dlt.py``): the best peer, a dlt resource yielding one Arrow table per page,
  merged on ``order_id`` into DuckDB (needs the ``bench`` extra; skipped with a reason without);
- ``tutorial`` (``baselines.py``): requests, pandas, ``to_sql`` into SQLite;
- ``api``: a plain client reading the day once: how fast the demo serves.

Every run of every variant must end with the same orders (distinct order_ids and sum of amount)
or the benchmark fails before printing the table (``__main__.py`` measures, ``results.py`` prints).
"""
