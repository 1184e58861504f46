"""Check functions, by name. A case names its check; the check gets the case's context and
its params as keyword arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHECKS: dict[str, Callable[..., Any]] = {}


def check(function: Callable[..., Any]) -> Callable[..., Any]:
    CHECKS[function.__name__] = function
    return function


def all_checks() -> dict[str, Callable[..., Any]]:
    from . import (  # noqa: F401
        archives,
        auth,
        copy,
        errors,
        formats,
        layout,
        platforms,
        push,
        robustness,
        tasks,
        templates,
        tls,
    )

    return CHECKS
