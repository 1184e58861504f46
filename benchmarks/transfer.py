"""Transfer benchmark: kkimage against skopeo (and a raw parallel fetch) in one run.

    python benchmarks/transfer.py [--quick] [--output results/benchmark.md]

Absolute times drift on shared machines, so the report gives ratios of times measured in the
same run, each the median of --repeat runs (--throttled-repeat for the slow throttled runs,
whose margins are wide); the contenders take turns. Workload (defaults): 12 two-platform images
sharing a base layer, with 4 MiB incompressible unique layers, and one image with a 1 GiB
layer (for memory). Registries are the CNCF distribution binary on loopback; the throttled
runs go through the fault proxy at 8 MiB/s per connection. Every push goes to a new, empty
registry: skopeo remembers where blobs are (its blob-info cache) and would otherwise mount
what an earlier run uploaded.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import Fault, FaultProxy
from kkimage_fixtures.registry import RunningRegistry, start_binary
from kkimage_fixtures.seed import RegistryClient

MiB = 1 << 20
PLATFORMS = (("linux", "amd64", None), ("linux", "arm64", "v8"))
RAW_FILES = "raw parallel fetch into files"
RAW_DISCARD = "raw parallel fetch, bytes discarded"


@dataclass
class Workload:
    count: int = 12
    layer: int = 4 * MiB
    big: int = 1024 * MiB
    rate: int = 8 * MiB
    repeat: int = 7
    throttled_repeat: int = 3
    # Real gzip streams (of incompressible bytes): skopeo recompresses a "gzip" layer that
    # is not one, and would be timed doing work no real image asks of it.
    gzipped: bool = True

    @functools.cached_property
    def base(self) -> list[images.Content]:
        """The layer every image shares."""
        return images.shared_base("bench-base", self.layer, self.gzipped)

    def images(self) -> dict[str, images.Image]:
        return {
            f"bench{i:02d}": images.multi_arch(
                f"bench{i:02d}",
                platforms=PLATFORMS,
                base=self.base,
                layer_sizes=(self.layer,),
                attestation=False,
                gzipped=self.gzipped,
            )
            for i in range(self.count)
        }


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{result.stderr[-2000:]}")
    return result


def plain(host: str) -> list[dict]:
    return [{"repo": host, "plain_http": True}]


# ext4 without a journal (the file system of this benchmark's machines) skips, whenever it
# allocates an inode, each inode freed in the last 60 s (fs/ext4/ialloc.c, recently_deleted),
# reading its table block: files deleted between runs made every later run's file creation
# slower, the registries' most of all (docs/performance.md, "Files set aside").
RECENTLY_FREED = 60.0


def drop_cached(path: Path) -> None:
    """Drop a written (and synced) file's pages from the page cache, as deleting it would."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Runner:
    """The commands being compared, writing their files under `workdir`."""

    def __init__(self, workdir: Path, jobs: int, quiet: float) -> None:
        self.workdir, self.jobs = workdir, jobs
        # Python programs run as installed ones do, from cached bytecode, even where
        # PYTHONDONTWRITEBYTECODE is set (it would make every kkimage run compile its sources).
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.quiet = quiet  # seconds between deleting files and the next timed run
        self.deleted_at = -quiet

    def fresh(self, name: str) -> Path:
        """A new path in the scratch directory, which `clean` empties."""
        scratch = self.workdir / "scratch"
        scratch.mkdir(exist_ok=True)
        return scratch / f"{name}-{time.monotonic_ns()}"

    def clean(self) -> None:
        """Set aside what the last runs wrote, so that no run pays for an earlier one's files:
        written back, out of the page cache, out of the way, but not deleted until the job's
        runs are over (`empty_attic`)."""
        scratch = self.workdir / "scratch"
        if not scratch.exists():
            return
        os.sync()
        for path in scratch.rglob("*"):
            if path.is_file() and not path.is_symlink():
                drop_cached(path)
        attic = self.workdir / "attic"
        attic.mkdir(exist_ok=True)
        scratch.rename(attic / str(time.monotonic_ns()))

    def empty_attic(self) -> None:
        """Delete what was set aside (after a job); the next job's first run waits for
        `quiet` seconds to pass (`settle`)."""
        shutil.rmtree(self.workdir / "attic", ignore_errors=True)
        os.sync()
        self.deleted_at = time.monotonic()

    def settle(self) -> None:
        """Before a job's first timed run: until the last deletion is `quiet` seconds old."""
        time.sleep(max(0.0, self.deleted_at + self.quiet - time.monotonic()))

    def task(self, operation: str, args: dict) -> list[str]:
        """The kkimage command running a task file of one `operation`."""
        path = self.fresh("task").with_suffix(".yaml")
        path.write_text(yaml.safe_dump([{"name": operation, "image": {operation: args}}]))
        return [sys.executable, "-m", "kkimage", "run", str(path)]

    def pull_task(self, host: str, names: list[str], store: Path) -> list[str]:
        manifests = [f"{host}/bench/{n}:v1" for n in names]
        args = {"images_dir": str(store), "manifests": manifests, "auths": plain(host)}
        return self.task("pull", args)

    def kk_pull(self, host: str, names: list[str], store: Path, *extra: str):
        return run([*self.pull_task(host, names, store), *extra], self.env)

    def kk_push(self, store: Path, host: str):
        dest = f"{host}/mirror/" + "{{ .module.image.src.reference.repository }}:v1"
        args = {"images_dir": str(store), "dest": dest, "auths": plain(host)}
        return run(self.task("push", args), self.env)

    @staticmethod
    def skopeo(names: list[str], source: str, dest: str, tls_flag: str) -> None:
        """`skopeo copy --all` per image; `{name}` in `source`/`dest` is the image's name."""
        for name in names:
            run(
                [
                    "skopeo",
                    "copy",
                    "--all",
                    "--quiet",
                    tls_flag,
                    source.format(name=name),
                    dest.format(name=name),
                ]
            )

    def skopeo_pull(self, host: str, names: list[str], layout: Path) -> None:
        self.skopeo(
            names,
            f"docker://{host}/bench/{{name}}:v1",
            f"oci:{layout}:{{name}}",
            "--src-tls-verify=false",
        )

    def skopeo_push(self, layout: Path, names: list[str], host: str) -> None:
        self.skopeo(
            names,
            f"oci:{layout}:{{name}}",
            f"docker://{host}/mirror/bench/{{name}}:v1",
            "--dest-tls-verify=false",
        )

    def raw_fetch(
        self, host: str, blobs: list[tuple[str, str]], size: int, into_files: bool
    ) -> None:
        """The floor, in a process of its own (see rawfetch.py); `size`: all the blobs' bytes,
        which it must have received (and written)."""
        listing = self.fresh("blobs").with_suffix(".json")
        listing.write_text(json.dumps(blobs))
        argv = [sys.executable, str(Path(__file__).with_name("rawfetch.py"))]
        argv += [host, str(listing), str(self.jobs)]
        done = run([*argv, str(self.fresh("raw"))] if into_files else argv, self.env)
        if int(done.stdout) != size:
            raise SystemExit(f"raw fetch moved {done.stdout.strip()} bytes, not {size}")


_MEASURE = """
import os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - started)
"""


def peak_rss_kib(argv: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Peak resident memory (KiB) and wall time of a command, from wait4's rusage in a small
    launcher process: a child forked from this (large) process would count our pages too."""
    answer = run([sys.executable, "-c", _MEASURE, *argv], env).stdout.split()
    if answer[0] != "0":
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}")
    return int(answer[1]), float(answer[2])


def children_cpu() -> float:
    """CPU seconds used by this process's finished children (the measured commands)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(registry: RunningRegistry | None) -> float:
    """CPU seconds a running registry has used so far (0 when there is none to watch)."""
    if registry is None or registry.process is None:
        return 0.0
    fields = Path(f"/proc/{registry.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    name: str
    seconds: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    registry_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class Benchmark:
    def __init__(self, workload: Workload, workdir: Path, jobs: int, quiet: float) -> None:
        self.workload, self.workdir = workload, workdir
        self.runner = Runner(workdir, jobs, quiet)
        self.rows: dict[str, Row] = {}
        self.facts: dict[str, str] = {}
        self.rss_mib: float | None = None
        self.serving: RunningRegistry | None = None  # the registry whose CPU is counted

    def measure(
        self,
        contenders: dict[str, Callable[[Any], object]],
        around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        throttled: bool = False,
    ) -> None:
        """Time each `work(value)` `repeat` times, each inside a fresh `around()` (which
        yields `value`, e.g. an empty registry); setting up and tearing down are not timed.

        The contenders take turns within each repetition, so a machine that slows down or
        speeds up during the run affects them alike; the order rotates between repetitions,
        so none always follows the same one; each starts on a quiet machine.
        """
        repeat = self.workload.throttled_repeat if throttled else self.workload.repeat
        turns = list(contenders.items())
        self.runner.settle()
        for repetition in range(repeat):
            shift = repetition % len(turns)
            for name, work in turns[shift:] + turns[:shift]:
                row = self.rows.setdefault(name, Row(name))
                with around() as value:
                    os.sync()
                    client, registry = children_cpu(), process_cpu(self.serving)
                    started = time.perf_counter()
                    work(value)
                    row.seconds.append(time.perf_counter() - started)
                    row.client_cpu.append(children_cpu() - client)
                    row.registry_cpu.append(process_cpu(self.serving) - registry)
                self.runner.clean()
        self.runner.empty_attic()

    @contextlib.contextmanager
    def registry(self, throttled: bool) -> Iterator[str]:
        """A new empty registry, behind a proxy throttling uploads if `throttled`; its CPU is
        the one counted while it runs."""
        with start_binary("plain", self.runner.fresh("registry")) as registry:
            watched, self.serving = self.serving, registry
            try:
                if not throttled:
                    yield registry.host
                    return
                with FaultProxy(registry.url) as proxy:
                    for method in ("PUT", "PATCH"):  # skopeo uploads with PATCH, then PUT
                        proxy.add(
                            Fault(
                                "throttle",
                                "/blobs/uploads/",
                                method,
                                rate=self.workload.rate,
                                times=None,
                            )
                        )
                    yield proxy.host
            finally:
                self.serving = watched

    def run(self) -> None:
        corpus = self.workload.images()
        names = sorted(corpus)
        # Each distinct blob once, from one repository that has it: the floor of any pull.
        holder = {d: f"bench/{n}" for n, i in corpus.items() for d in i.blobs}
        blobs = [(holder[d], d) for d in sorted(holder)]
        distinct = {d: b.size for i in corpus.values() for d, b in i.blobs.items()}
        size = sum(distinct.values())
        self.facts["distinct blobs"] = f"{len(distinct)}, {size / MiB:.1f} MiB"
        runner = self.runner
        with start_binary("plain", self.workdir / "source") as source:
            self.serving = source
            seeder = RegistryClient(source.url)
            for name, image in corpus.items():
                seeder.push(f"bench/{name}", image)
            store = self.workdir / "store"
            runner.kk_pull(source.host, names, store)
            layout = self.workdir / "layout"
            runner.skopeo_pull(source.host, names, layout)
            for throttle in (False, True):
                prefix = "throttled pull" if throttle else "pull"
                with self.source_view(source, throttle) as host:
                    contenders = {
                        f"{prefix}, kkimage": lambda _, h=host: runner.kk_pull(
                            h, names, runner.fresh("kk")
                        ),
                        f"{prefix}, skopeo": lambda _, h=host: runner.skopeo_pull(
                            h, names, runner.fresh("oci")
                        ),
                    }
                    if not throttle:
                        contenders[f"{prefix}, {RAW_FILES}"] = lambda _, h=host: runner.raw_fetch(
                            h, blobs, size, into_files=True
                        )
                        contenders[f"{prefix}, {RAW_DISCARD}"] = lambda _, h=host: runner.raw_fetch(
                            h, blobs, size, into_files=False
                        )
                    self.measure(contenders, throttled=throttle)
            for throttle in (False, True):
                prefix = "throttled push" if throttle else "push"
                self.measure(
                    {
                        f"{prefix}, kkimage": lambda host: runner.kk_push(store, host),
                        f"{prefix}, skopeo": lambda host: runner.skopeo_push(layout, names, host),
                    },
                    functools.partial(self.registry, throttle),
                    throttled=throttle,
                )
            self.measure(
                {"no-op re-run, kkimage": lambda _: runner.kk_pull(source.host, names, store)}
            )
            summary = json.loads(runner.kk_pull(source.host, names, store, "--json").stdout)
            moved = sum(i["bytes_transferred"] for i in summary["images"])
            self.facts["no-op re-run: blob bytes transferred"] = str(moved)
            self.mounting(store, names, self.workload.base[0].digest)
            if self.workload.big:
                seeder.push(
                    "bench/bench-big", images.single("bench-big", layer_sizes=(self.workload.big,))
                )
                self.memory(source.host)

    @contextlib.contextmanager
    def source_view(self, source: RunningRegistry, throttle: bool) -> Iterator[str]:
        """The source registry, or a proxy throttling its blob downloads."""
        if not throttle:
            yield source.host
            return
        with FaultProxy(source.url) as proxy:
            proxy.add(
                Fault("throttle", "/blobs/sha256:", "GET", rate=self.workload.rate, times=None)
            )
            yield proxy.host

    def mounting(self, store: Path, names: list[str], base: str) -> None:
        """Push every image to its own new repository, counting at a proxy how the `base`
        layer they share got there."""
        with (
            start_binary("plain", self.runner.fresh("registry")) as target,
            FaultProxy(target.url) as proxy,
        ):
            self.runner.kk_push(store, proxy.host)
            mounts = proxy.traffic.count(rf"mount=sha256(:|%3A){base[7:]}", "POST")
            uploads = proxy.traffic.count(rf"digest=sha256(:|%3A){base[7:]}", "PUT")
            uploaded = proxy.traffic.received("/blobs/uploads/")
        self.facts["push to new repositories: bytes uploaded"] = f"{uploaded / MiB:.1f} MiB"
        self.facts["shared base layer: uploads / mounts"] = (
            f"{uploads} / {mounts} (of {len(names)} repositories)"
        )

    def memory(self, host: str) -> None:
        size = f"{self.workload.big / MiB:.0f} MiB"
        pull = self.runner.pull_task(host, ["bench-big"], self.runner.fresh("kk-big"))
        os.sync()
        kk, kk_time = peak_rss_kib(pull, self.runner.env)
        self.runner.clean()  # skopeo must not pay for writing back kkimage's gigabyte
        sk, sk_time = peak_rss_kib(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                f"docker://{host}/bench/bench-big:v1",
                f"oci:{self.runner.fresh('oci-big')}:big",
            ],
            self.runner.env,
        )
        self.rss_mib = kk / 1024
        self.facts[f"peak RSS pulling a {size} layer (kkimage / skopeo)"] = (
            f"{kk / 1024:.1f} MiB / {sk / 1024:.1f} MiB"
        )
        self.facts[f"time pulling a {size} layer (kkimage / skopeo)"] = (
            f"{kk_time:.2f} s / {sk_time:.2f} s"
        )

    def ratio(self, a: str, b: str) -> float:
        return self.rows[a].median / self.rows[b].median

    def report(self) -> str:
        targets = [
            ("pull: kkimage / skopeo", self.ratio("pull, kkimage", "pull, skopeo"), 0.4),
            ("push: kkimage / skopeo", self.ratio("push, kkimage", "push, skopeo"), 0.4),
            (
                f"pull: kkimage / {RAW_FILES}",
                self.ratio("pull, kkimage", f"pull, {RAW_FILES}"),
                1.2,
            ),
            (
                "throttled pull: kkimage / skopeo",
                self.ratio("throttled pull, kkimage", "throttled pull, skopeo"),
                0.15,
            ),
            (
                "throttled push: kkimage / skopeo",
                self.ratio("throttled push, kkimage", "throttled push, skopeo"),
                0.15,
            ),
            (
                "no-op re-run of the images, kkimage (s)",
                self.rows["no-op re-run, kkimage"].median,
                0.5,
            ),
        ]
        if self.rss_mib is not None:
            targets.append(
                (f"peak RSS, {self.workload.big / MiB:.0f} MiB layer (MiB)", self.rss_mib, 64)
            )
        lines = ["| target | measured | goal | |", "|---|---|---|---|"]
        for name, value, goal in targets:
            lines.append(f"| {name} | {value:.3f} | ≤ {goal} | {'✓' if value <= goal else '✗'} |")
        lines += [
            "",
            "| measurement | median (s) | runs (s) | CPU (s): command / registry |",
            "|---|---|---|---|",
        ]
        for row in self.rows.values():
            runs = ", ".join(f"{s:.3f}" for s in row.seconds)
            client, registry = map(statistics.median, (row.client_cpu, row.registry_cpu))
            lines.append(
                f"| {row.name} | {row.median:.3f} | {runs} | {client:.2f} / {registry:.2f} |"
            )
        lines += ["", "| fact | value |", "|---|---|"]
        discard = self.ratio("pull, kkimage", f"pull, {RAW_DISCARD}")
        lines.append(f"| pull: kkimage / {RAW_DISCARD} (no goal) | {discard:.3f} |")
        lines += [f"| {k} | {v} |" for k, v in self.facts.items()]
        return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Workload()
    parser.add_argument("--images", type=int, default=default.count)
    parser.add_argument("--layer-mib", type=float, default=default.layer / MiB)
    parser.add_argument(
        "--big-mib", type=float, default=default.big / MiB, help="0: skip the memory run"
    )
    parser.add_argument("--rate-mib", type=float, default=default.rate / MiB)
    parser.add_argument("--repeat", type=int, default=default.repeat)
    parser.add_argument("--throttled-repeat", type=int, default=default.throttled_repeat)
    parser.add_argument("--jobs", type=int, default=16, help="threads of the raw fetch")
    parser.add_argument("--quick", action="store_true", help="a small workload (smoke test)")
    parser.add_argument("--output", type=Path, help="also write the report there")
    args = parser.parse_args()
    if shutil.which("skopeo") is None:
        print("benchmark: skopeo is needed (apt-get install skopeo)", file=sys.stderr)
        return 2
    workload = Workload(
        args.images,
        int(args.layer_mib * MiB),
        int(args.big_mib * MiB),
        int(args.rate_mib * MiB),
        args.repeat,
        args.throttled_repeat,
    )
    if args.quick:
        workload = Workload(2, 256 << 10, 8 * MiB, 4 * MiB, 1, 1)
    with tempfile.TemporaryDirectory(prefix="kkimage-bench-") as workdir:
        quiet = 0.0 if args.quick else RECENTLY_FREED
        benchmark = Benchmark(workload, Path(workdir), args.jobs, quiet)
        benchmark.run()
        report = benchmark.report()
    print(report, end="")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
