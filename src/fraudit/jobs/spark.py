"""The local SparkSession fraudit's jobs and tests use: UTC everywhere, small shuffles."""

from __future__ import annotations

from typing import Any


def local_session(app_name: str = "fraudit", master: str = "local[2]",
                  **conf: str) -> Any:
    import os
    import sys

    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the project's venv), not the first python3
    # on PATH, or they cannot import fraudit's data source and functions.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.appName(app_name).master(master)
               .config("spark.pyspark.python", sys.executable)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4")
               # Micro-batches of ~10k rows: compiling whole-stage code for each batch's
               # plan cost more than it saved (transform + Arrow hand-over of 10k events:
               # median 0.50 s with it, 0.37 s without, bench/ and docs/BENCHMARKS.md).
               .config("spark.sql.codegen.wholeStage", "false")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
