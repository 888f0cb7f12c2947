"""The local session's settings took effect in the JVM, not only in its configuration."""

from __future__ import annotations

import pytest

from fraudit.stream.spark_session import CHECKPOINT_MANAGER_KEY, CHECKPOINT_MANAGERS, DRIVER_MEMORY

pytestmark = pytest.mark.integration


def test_the_jvm_heap_ceiling_is_the_driver_memory(spark):
    assert DRIVER_MEMORY == "3g"
    ceiling = spark._jvm.java.lang.Runtime.getRuntime().maxMemory()
    # Spark's default (1g) would give ~1.0e9: the setting reached the JVM's command line.
    assert 2.5 * 2**30 < ceiling <= 3 * 2**30


def test_checkpoints_use_the_filesystem_manager_on_the_raw_local_filesystem(spark):
    assert spark.conf.get(CHECKPOINT_MANAGER_KEY) in CHECKPOINT_MANAGERS
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    assert hadoop.get("fs.file.impl") == "org.apache.hadoop.fs.RawLocalFileSystem"
