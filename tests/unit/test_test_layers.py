"""The suite refuses a test module that carries no layer marker."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

pytest_plugins = ["pytester"]

CONFTEST = textwrap.dedent("""
    from pathlib import Path

    from tests.support.layers import check_layers


    def pytest_collection_modifyitems(config, items):
        check_layers(items, Path(__file__).parent)
""")


def write_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module_text: str
) -> None:
    # The run is a subprocess of its own: it imports the layer check from this checkout.
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    unit: u\n    integration: i\n    e2e: e\n")
    folder = pytester.mkpydir("unit")
    (folder / "test_sample.py").write_text(textwrap.dedent(module_text))


def test_a_module_without_its_layer_marker_fails_the_run(pytester, monkeypatch):
    write_suite(
        pytester,
        monkeypatch,
        """
        def test_anything():
            assert True
    """,
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unit/test_sample.py: no layer marker*"])


def test_a_module_with_another_layer_s_marker_fails_the_run(pytester, monkeypatch):
    write_suite(
        pytester,
        monkeypatch,
        """
        import pytest

        pytestmark = pytest.mark.integration

        def test_anything():
            assert True
    """,
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unit/test_sample.py: no layer marker*"])


def test_a_module_with_its_marker_runs(pytester, monkeypatch):
    write_suite(
        pytester,
        monkeypatch,
        """
        import pytest

        pytestmark = [pytest.mark.unit]

        def test_anything():
            assert True
    """,
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
