"""The local SparkSession fraudit's jobs and tests use: UTC everywhere, small shuffles, and
a checkpoint that costs milliseconds per micro-batch rather than process spawns."""

from __future__ import annotations

from typing import Any

# Without Hadoop's native library (pip's pyspark has none), Hadoop's local file system sets
# every file's permissions by spawning `chmod`, and the default FileContext checkpoint
# manager writes each offset and commit file as a temporary file, a .crc side file and a
# rename, each created and chmod-ed. Measured here with Spark's rate source and an idle
# machine: walCommit 50 ms and commitOffsets 51 ms per micro-batch; with the FileSystem
# manager over the raw local file system (one file per log entry, one chmod each), 8 and
# 9 ms. The checkpoint's files are Spark's JSON logs; Glue's checkpoint (S3) is not affected.
CHECKPOINT_MANAGER_KEY = "spark.sql.streaming.checkpointFileManagerClass"
CHECKPOINT_MANAGERS = (  # Spark 4.1+ moved the class into a `checkpointing` package
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager",
    "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",
)


# The driver's (local mode: the whole JVM's) heap ceiling. Each micro-batch is collected to
# the driver as Arrow buffers of megabytes, which G1 allocates as humongous objects; with
# Spark's default 1g heap they set off a concurrent marking cycle after cycle. Measured here
# over 100,000 records end to end: G1 threads 1.8 CPU-s with 1g, 0.1 CPU-s with 3g
# (docs/BENCHMARKS.md). A ceiling, not an allocation: the heap grows only as it is used.
DRIVER_MEMORY = "3g"


def local_session(
    app_name: str = "fraudit",
    master: str = "local[2]",
    driver_memory: str = DRIVER_MEMORY,
    **conf: str,
) -> Any:
    """The session (the JVM is started here; `driver_memory` cannot change afterwards)."""
    import os
    import sys

    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the project's venv), not the first python3
    # on PATH, or they cannot import fraudit's data source and functions.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.pyspark.python", sys.executable)
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        # Micro-batches of ~10k rows: compiling whole-stage code for each batch's
        # plan cost more than it saved (transform + Arrow hand-over of 10k events:
        # median 0.50 s with it, 0.37 s without, bench/ and docs/BENCHMARKS.md).
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.ui.enabled", "false")
        # file:// without checksum side files (see CHECKPOINT_MANAGERS above).
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if CHECKPOINT_MANAGER_KEY not in conf:
        spark.conf.set(CHECKPOINT_MANAGER_KEY, _available_class(spark, CHECKPOINT_MANAGERS))
    return spark


def _available_class(spark: Any, names: tuple[str, ...]) -> str:
    """The first of `names` the session's JVM can load."""
    from py4j.protocol import Py4JJavaError

    loader = spark._jvm.java.lang.Thread.currentThread().getContextClassLoader()
    for name in names:
        try:
            loader.loadClass(name)
        except Py4JJavaError:  # ClassNotFoundException: try the next name
            pass
        else:
            return name
    raise RuntimeError(f"none of these Spark classes is available: {', '.join(names)}")
