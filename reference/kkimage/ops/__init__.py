"""Running tasks: each task's pull, push, copy and mirror, in that order, sharing one engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..credentials import DockerCredentials
from ..g2 import G2Spec
from ..registry import Registries
from ..task import MirrorSpec, PullSpec, PushSpec, Task
from ..transport import Transport
from .copy import copy
from .engine import Engine, ImageResult
from .g2 import run_g2
from .mirror import mirror
from .pull import pull
from .push import push

# 16 connections at most, to one registry and in all: enough to fill a slow link (where
# per-connection throughput is what limits), as few as aria2's per-server cap.
DEFAULT_JOBS = 16


class RunOptions(NamedTuple):
    jobs: int = DEFAULT_JOBS
    connections_per_registry: int = DEFAULT_JOBS
    keep_going: bool = False  # every task as if it said keep_going: true


def run_tasks(
    tasks: list[Task],
    variables: dict[str, Any],
    engine: Engine,
    options: RunOptions,
    report: Callable[[ImageResult], None],
) -> None:
    """Run `tasks` in order, handing each image's result to `report` (R-ARG-2). An error
    outside any one image (bad input, a store that cannot be read) is raised."""
    transport = Transport()
    credentials = DockerCredentials()
    said: set[str] = set()

    def warn_once(message: str) -> None:
        if message not in said:
            said.add(message)
            engine.warn(message)

    def registries(spec: PullSpec | PushSpec | MirrorSpec | G2Spec) -> Registries:
        return Registries(
            spec.auths,
            spec.skip_tls_verify,
            transport,
            options.connections_per_registry,
            cancelled=engine.cancelled,
            warn=warn_once,
            credentials=credentials,
        )

    for task in tasks:
        engine.keep_going = options.keep_going or task.keep_going
        for step in _steps(task, registries, variables, engine):
            batch = step()
            for result in batch:
                report(result)
            if not engine.keep_going and any(result.failed for result in batch):
                return  # the first failure stops the run


def _steps(
    task: Task,
    registries: Callable[[Any], Registries],
    variables: dict[str, Any],
    engine: Engine,
) -> list[Callable[[], list[ImageResult]]]:
    """A task's operations, in the order they run (R-ARG-2)."""
    steps: list[Callable[[], list[ImageResult]]] = []
    if task.pull:
        steps.append(lambda s=task.pull: pull(engine, registries(s), s))
    if task.push:
        steps.append(lambda s=task.push: push(engine, registries(s), s, variables))
    if task.copy:
        steps.append(lambda s=task.copy: copy(engine, s, variables))
    if task.mirror:
        steps.append(lambda s=task.mirror: mirror(engine, registries(s), s, variables))
    if task.export or task.import_:
        from . import archive  # tarfile and the OCI layouts: imported by the runs that need them

        if task.export:
            steps.append(lambda s=task.export: archive.export(engine, s))
        if task.import_:
            steps.append(lambda s=task.import_: archive.import_(engine, s))
    if task.g2:
        where = f"task {task.name!r}"
        steps.append(lambda s=task.g2: run_g2(engine, lambda: registries(s), s, variables, where))
    return steps


__all__ = ["DEFAULT_JOBS", "Engine", "ImageResult", "RunOptions", "run_tasks"]
