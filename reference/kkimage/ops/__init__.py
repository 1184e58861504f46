"""Running tasks: each task's pull, push, copy and mirror, in that order, sharing one engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..g2 import G2Spec
from ..registry import Registries
from ..task import MirrorSpec, PullSpec, PushSpec, Task
from ..transport import Transport
from .archive import export, import_
from .copy import copy
from .engine import Engine, ImageResult
from .g2 import run_g2
from .mirror import mirror
from .pull import pull
from .push import push

# 16 connections at most, to one registry and in all: enough to fill a slow link (where
# per-connection throughput is what limits), as few as aria2's per-server cap.
DEFAULT_JOBS = 16


@dataclass(frozen=True)
class RunOptions:
    jobs: int = DEFAULT_JOBS
    connections_per_registry: int = DEFAULT_JOBS


def run_tasks(
    tasks: list[Task],
    variables: dict[str, Any],
    engine: Engine,
    options: RunOptions,
    report: Callable[[ImageResult], None],
) -> list[ImageResult]:
    transport = Transport(pool_size=max(options.jobs, options.connections_per_registry))

    def registries(spec: PullSpec | PushSpec | MirrorSpec | G2Spec) -> Registries:
        return Registries(
            spec.auths,
            spec.skip_tls_verify,
            transport,
            options.connections_per_registry,
            cancelled=engine.cancelled,
        )

    results: list[ImageResult] = []

    def done(batch: list[ImageResult]) -> None:
        for result in batch:
            report(result)
        results.extend(batch)

    for task in tasks:
        if task.pull:
            done(pull(engine, registries(task.pull), task.pull))
        if task.push:
            done(push(engine, registries(task.push), task.push, variables))
        if task.copy:
            done(copy(engine, task.copy, variables))
        if task.mirror:
            done(mirror(engine, registries(task.mirror), task.mirror, variables))
        if task.export:
            done(export(engine, task.export))
        if task.import_:
            done(import_(engine, task.import_))
        if task.g2:
            spec = task.g2
            where = f"task {task.name!r}"
            done(run_g2(engine, lambda s=spec: registries(s), spec, variables, where))
    return results


__all__ = ["DEFAULT_JOBS", "Engine", "ImageResult", "RunOptions", "run_tasks"]
