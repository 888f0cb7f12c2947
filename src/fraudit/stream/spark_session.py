"""The local SparkSession fraudit's jobs and tests use: UTC everywhere, small shuffles, and
a checkpoint that costs milliseconds per micro-batch rather than process spawns."""

from __future__ import annotations

from typing import Any

# Checkpoint through the FileSystem manager over the raw local file system: without
# Hadoop's native library the default spawns chmod per file (docs/STREAMING.md, "What a
# checkpoint costs per micro-batch"). Glue's checkpoint (S3) is not affected.
CHECKPOINT_MANAGER_KEY = "spark.sql.streaming.checkpointFileManagerClass"
CHECKPOINT_MANAGERS = (  # Spark 4.1+ moved the class into a `checkpointing` package
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager",
    "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",
)


# The JVM's heap ceiling (local mode: driver and executors are one JVM). Room for each
# batch's Arrow buffers without constant garbage collection (docs/STREAMING.md, "The JVM's
# heap"); a ceiling, not an allocation.
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
        # Small micro-batches: compiling whole-stage code costs more than it saves
        # (docs/STREAMING.md, "How the local session is set up").
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
