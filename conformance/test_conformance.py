"""Collected by `pytest --pyargs conformance`: one test per case and profile."""

from conformance.plugin import run_case


def test_case(conformance_case, conformance_context):
    run_case(conformance_context)
