"""The local Spark session's JVM runs with the options the session factory sets."""

from __future__ import annotations

import pytest

from schemahub_lib.spark import COMPILE_THRESHOLD_SCALING

pytestmark = pytest.mark.spark


def _vm_option(spark: object, name: str) -> str:
    jvm = spark._jvm  # type: ignore[attr-defined]
    bean_class = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(bean_class)
    return str(bean.getVMOption(name).getValue())


def test_the_jit_compiles_lukewarm_driver_code_later(spark_session: object) -> None:
    # The JVM's default is 1.0: every unify run then spent ~1.3 s of a 2-core machine's CPU
    # compiling planning code with C2 (bench notes in schemahub_lib/spark.py).
    assert float(_vm_option(spark_session, "CompileThresholdScaling")) == float(COMPILE_THRESHOLD_SCALING)
    assert COMPILE_THRESHOLD_SCALING > 1


def test_the_jvm_runs_in_utc(spark_session: object) -> None:
    jvm = spark_session._jvm  # type: ignore[attr-defined]
    assert jvm.java.util.TimeZone.getDefault().getID() == "UTC"
