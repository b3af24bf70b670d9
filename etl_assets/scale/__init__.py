"""The scale-out mode: PostgreSQL instance, Celery workers, DuckLake warehouse (docs/scale-out.md).

``settings`` reads and validates the variables (no Dagster import); ``celery`` builds the Celery
executor; ``worker`` is ``etl-celery-worker``; ``instance`` writes the PostgreSQL dagster.yaml.
"""
