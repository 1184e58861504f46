"""kkimage against the tools a platform engineer reaches for: crane, regctl and skopeo.

    python benchmarks/peers.py [--quick] [--repeat 5] [--only pull,copy] [--output FILE]

Jobs: pull (registry -> directory), push (that directory -> an empty registry), copy
(registry -> an empty registry), and the pull through a link throttled to 8 MiB/s per
connection and through one that adds 50 ms to every request; on 12 two-platform images (4 MiB
layers, 100 MiB) and on 48 (1 MiB layers). Each peer runs each job in each realistic way (one
process where it takes several images, a shell loop, four at a time as `xargs -P4` would) and
its best way is the one compared. Every output is verified, so that nobody wins by doing
less. Every push and copy goes to a new registry. The contenders take turns, and the order
rotates between repetitions; ratios are of medians from the same run.

crane and regctl are built from the Go module proxy into --tools-dir (cached); a tool that
cannot be had is skipped, and the report says so. kkimage runs on the interpreter running the
benchmark, which the report names (how it was built matters: docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from transfer import (
    RECENTLY_FREED,
    MiB,
    Row,
    Runner,
    Workload,
    children_cpu,
    peak_rss_kib,
    process_cpu,
    run,
)

from conformance.stores import sha256_file
from kkimage_fixtures import images
from kkimage_fixtures.distribution import go_install
from kkimage_fixtures.faultproxy import Fault, FaultProxy
from kkimage_fixtures.registry import RunningRegistry, start_binary
from kkimage_fixtures.seed import RegistryClient

TOOLS = {
    "crane": ("github.com/google/go-containerregistry/cmd/crane", "v0.22.1"),
    "regctl": ("github.com/regclient/regclient/cmd/regctl", "v0.11.7"),
}
PARALLEL = 4  # "four at a time": xargs -P4
GOAL = 0.8  # kkimage / best peer, every job
DELAY = 0.05  # seconds added to each request on the high-latency link


@dataclass
class Job:
    """One measured transfer: where from, where to, what must arrive."""

    kind: str  # pull | push | copy
    source: str  # host the images come from (pull, copy), or "" (push: from disk)
    names: list[str]
    dest: str = ""  # host they go to (push, copy)
    inputs: dict[str, Path] = field(default_factory=dict)  # push: each tool's pulled directory


Command = Callable[[Job, Path], None]


def each(names: list[str], argv: Callable[[str], list[str]], parallel: int) -> None:
    """One command per image, `parallel` at a time (1: a shell loop)."""
    if parallel == 1:
        for name in names:
            run(argv(name))
        return
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda name: run(argv(name)), names))


class Contenders:
    """Every tool in every way it is realistically used, as `name -> command(job, out)`."""

    def __init__(self, runner: Runner, tools: dict[str, str]) -> None:
        self.runner, self.tools = runner, tools

    def all(self, kind: str) -> dict[str, Command]:
        found: dict[str, Command] = {"kkimage": getattr(self, f"kkimage_{kind}")}
        for tool in ("crane", "regctl", "skopeo"):
            if tool not in self.tools:
                continue
            if tool == "crane" and kind == "pull":
                found["crane, one process"] = self.crane_pull_all
            for label, parallel in (("a loop", 1), (f"{PARALLEL} at a time", PARALLEL)):
                argv = getattr(self, f"{tool}_{kind}")
                found[f"{tool}, {label}"] = functools.partial(each_job, argv, parallel)
        return found

    # kkimage: one process for all images, always
    def kkimage_pull(self, job: Job, out: Path) -> None:
        self.runner.kk_pull(job.source, job.names, out)

    def kkimage_push(self, job: Job, out: Path) -> None:
        self.runner.kk_push(job.inputs["kkimage"], job.dest)

    def kkimage_copy(self, job: Job, out: Path) -> None:
        dest = f"{job.dest}/mirror/" + "{{ .module.image.src.reference.repository }}"
        sources = [f"{job.source}/bench/{n}:v1" for n in job.names]
        auths = out.with_suffix(".auths.yaml")
        auths.parent.mkdir(parents=True, exist_ok=True)
        hosts = {job.source, job.dest}
        auths.write_text(json.dumps([{"repo": h, "plain_http": True} for h in hosts]))
        argv = [sys.executable, "-m", "kkimage", "mirror", *sources, dest, "--auths", str(auths)]
        run(argv, self.runner.env)

    # crane
    def crane_pull_all(self, job: Job, out: Path) -> None:
        refs = [f"{job.source}/bench/{n}:v1" for n in job.names]
        run([self.tools["crane"], "pull", "--insecure", "--format", "oci", *refs, str(out)])

    def crane_pull(self, job: Job, out: Path, name: str) -> list[str]:
        ref = f"{job.source}/bench/{name}:v1"
        return [self.tools["crane"], "pull", "--insecure", "--format", "oci", ref, str(out / name)]

    def crane_push(self, job: Job, out: Path, name: str) -> list[str]:
        layout = job.inputs["crane"] / name
        dest = f"{job.dest}/mirror/bench/{name}:v1"
        return [self.tools["crane"], "push", "--insecure", str(layout), dest]

    def crane_copy(self, job: Job, out: Path, name: str) -> list[str]:
        source, dest = f"{job.source}/bench/{name}:v1", f"{job.dest}/mirror/bench/{name}:v1"
        return [self.tools["crane"], "copy", "--insecure", source, dest]

    # regctl
    def _regctl(self, *hosts: str) -> list[str]:
        argv = [self.tools["regctl"]]
        for host in hosts:
            if host:
                argv += ["--host", f"reg={host},tls=disabled"]
        return argv

    def regctl_pull(self, job: Job, out: Path, name: str) -> list[str]:
        ref = f"{job.source}/bench/{name}:v1"
        return [*self._regctl(job.source), "image", "copy", ref, f"ocidir://{out / name}:v1"]

    def regctl_push(self, job: Job, out: Path, name: str) -> list[str]:
        layout = f"ocidir://{job.inputs['regctl'] / name}:v1"
        dest = f"{job.dest}/mirror/bench/{name}:v1"
        return [*self._regctl(job.dest), "image", "copy", layout, dest]

    def regctl_copy(self, job: Job, out: Path, name: str) -> list[str]:
        source, dest = f"{job.source}/bench/{name}:v1", f"{job.dest}/mirror/bench/{name}:v1"
        return [*self._regctl(job.source, job.dest), "image", "copy", source, dest]

    # skopeo
    SKOPEO = ("skopeo", "copy", "--all", "--quiet")

    def skopeo_pull(self, job: Job, out: Path, name: str) -> list[str]:
        source = f"docker://{job.source}/bench/{name}:v1"
        return [*self.SKOPEO, "--src-tls-verify=false", source, f"oci:{out / name}:v1"]

    def skopeo_push(self, job: Job, out: Path, name: str) -> list[str]:
        source = f"oci:{job.inputs['skopeo'] / name}:v1"
        dest = f"docker://{job.dest}/mirror/bench/{name}:v1"
        return [*self.SKOPEO, "--dest-tls-verify=false", source, dest]

    def skopeo_copy(self, job: Job, out: Path, name: str) -> list[str]:
        source = f"docker://{job.source}/bench/{name}:v1"
        dest = f"docker://{job.dest}/mirror/bench/{name}:v1"
        flags = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        return [*self.SKOPEO, *flags, source, dest]


def each_job(argv: Callable[[Job, Path, str], list[str]], parallel: int, job: Job, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    each(job.names, lambda name: argv(job, out, name), parallel)


# ---- verification: every contender's output, after it is timed -----------------------------


def verify_directory(out: Path, corpus: dict[str, images.Image], source: str, tool: str) -> None:
    """Every blob of every image is there with its content, and every root is named."""
    found: dict[str, Path] = {}
    for path in out.rglob("*"):
        if path.parent.name == "blobs" and path.name.startswith("sha256:"):
            found[path.name] = path  # a kkimage store
        elif path.parent.name == "sha256" and path.parent.parent.name == "blobs":
            found["sha256:" + path.name] = path  # an OCI layout
    for name, image in corpus.items():
        for digest in image.blobs:
            if digest not in found or sha256_file(found[digest]) != digest:
                raise SystemExit(f"benchmark: {tool} did not store {digest} of {name} intact")
        if tool == "kkimage":
            root = out / source / "bench" / name / "manifests" / "v1"
            named = root.is_file() and root.read_bytes() == image.root.data
        else:
            indexes = [json.loads(p.read_text()) for p in out.rglob("index.json")]
            named = any(d["digest"] == image.digest for i in indexes for d in i["manifests"])
        if not named:
            raise SystemExit(f"benchmark: {tool} did not store the root of {name}")


def verify_registry(host: str, corpus: dict[str, images.Image], tool: str) -> None:
    """Every image is in the registry under mirror/bench/NAME:v1, byte for byte."""
    client = RegistryClient(f"http://{host}")
    for name, image in corpus.items():
        repository = f"mirror/bench/{name}"
        if client.manifest_bytes(repository, "v1") != image.root.data:
            raise SystemExit(f"benchmark: {tool} did not push {name} byte for byte")
        for digest in image.blobs:
            if not client.has_blob(repository, digest):
                raise SystemExit(f"benchmark: {tool} did not push {digest} of {name}")


# ---- the run ----------------------------------------------------------------------------------


def find_tools(directory: Path, wanted: set[str]) -> tuple[dict[str, str], list[str]]:
    """The peers' binaries, built if need be; and what was skipped, with why."""
    tools, skipped = {}, []
    for name, (module, version) in TOOLS.items():
        if name not in wanted:
            continue
        try:
            tools[name] = str(go_install(module, version, directory / f"{name}-{version}"))
        except (SystemExit, subprocess.CalledProcessError) as exc:
            skipped.append(f"{name} {version}: {exc}")
    if "skopeo" in wanted:
        if shutil.which("skopeo"):
            tools["skopeo"] = "skopeo"
        else:
            skipped.append("skopeo: not installed (apt-get install skopeo)")
    return tools, skipped


@dataclass
class Measured:
    job: str
    rows: dict[str, Row]
    traffic: dict[str, str] = field(default_factory=dict)  # contender -> requests/connections


class PeerBenchmark:
    def __init__(
        self, workdir: Path, tools: dict[str, str], repeat: int, rate: int, quiet: float
    ) -> None:
        self.workdir, self.repeat, self.rate = workdir, repeat, rate
        self.runner = Runner(workdir, 16, quiet)
        self.contenders = Contenders(self.runner, tools)
        self.results: list[Measured] = []
        self.facts: dict[str, str] = {}
        self.watched: list[RunningRegistry] = []

    def registry_cpu(self) -> float:
        return sum(process_cpu(r) for r in self.watched)

    def measure(
        self,
        label: str,
        job_for: Callable[[], contextlib.AbstractContextManager[Job]],
        check: Callable[[str, Job, Path], None],
        kind: str,
        proxy: FaultProxy | None = None,
    ) -> None:
        contenders = self.contenders.all(kind)
        rows = {name: Row(name) for name in contenders}
        measured = Measured(label, rows)
        turns = list(contenders.items())
        self.runner.settle()
        for repetition in range(self.repeat):
            shift = repetition % len(turns)
            for name, command in turns[shift:] + turns[:shift]:
                with job_for() as job:
                    out = self.runner.fresh("out")
                    os.sync()
                    before = (proxy.traffic.count(), proxy.traffic.connections) if proxy else None
                    client, registry = children_cpu(), self.registry_cpu()
                    started = time.perf_counter()
                    command(job, out)
                    rows[name].seconds.append(time.perf_counter() - started)
                    rows[name].client_cpu.append(children_cpu() - client)
                    rows[name].registry_cpu.append(self.registry_cpu() - registry)
                    if proxy and before:
                        requests = proxy.traffic.count() - before[0]
                        connections = proxy.traffic.connections - before[1]
                        measured.traffic[name] = f"{requests} / {connections}"
                    check(name, job, out)
                self.runner.clean()
        self.runner.empty_attic()
        self.results.append(measured)

    @contextlib.contextmanager
    def empty_registry(self) -> Iterator[RunningRegistry]:
        with start_binary("plain", self.runner.fresh("registry")) as registry:
            self.watched.append(registry)
            try:
                yield registry
            finally:
                self.watched.remove(registry)

    def run_workload(self, label: str, workload: Workload, only: set[str]) -> None:
        corpus = workload.images()
        names = sorted(corpus)
        tool_of = lambda contender: contender.split(",")[0]  # noqa: E731

        def pulled(host: str) -> Callable[[str, Job, Path], None]:
            return lambda c, job, out: verify_directory(out, corpus, host, tool_of(c))

        def pushed(c: str, job: Job, out: Path) -> None:
            verify_registry(job.dest, corpus, tool_of(c))

        with start_binary("plain", self.workdir / f"source-{label}") as source:
            self.watched = [source]
            seeder = RegistryClient(source.url)
            for name, image in corpus.items():
                seeder.push(f"bench/{name}", image)
            pull_job = Job("pull", source.host, names)

            if "pull" in only:
                self.measure(
                    f"pull, {label}",
                    lambda: contextlib.nullcontext(pull_job),
                    pulled(source.host),
                    "pull",
                )
            if "push" in only:
                inputs = self.inputs(pull_job)

                @contextlib.contextmanager
                def push_job() -> Iterator[Job]:
                    with self.empty_registry() as dest:
                        yield Job("push", "", names, dest.host, inputs)

                self.measure(f"push, {label}", push_job, pushed, "push")
            if "copy" in only:

                @contextlib.contextmanager
                def copy_job() -> Iterator[Job]:
                    with self.empty_registry() as dest:
                        yield Job("copy", source.host, names, dest.host)

                self.measure(f"copy, {label}", copy_job, pushed, "copy")
            for link, (title, fault) in self.links().items():
                if link in only:
                    with FaultProxy(source.url) as proxy:
                        proxy.add(fault)
                        job = Job("pull", proxy.host, names)
                        self.measure(
                            f"pull, {title}, {label}",
                            lambda j=job: contextlib.nullcontext(j),
                            pulled(proxy.host),
                            "pull",
                            proxy,
                        )

    def links(self) -> dict[str, tuple[str, Fault]]:
        """The slow links, as a fault of the proxy in front of the source."""
        throttle = Fault("throttle", "/blobs/sha256:", "GET", rate=self.rate, times=None)
        return {
            "throttled": (f"{self.rate / MiB:.0f} MiB/s per connection", throttle),
            "latency": (
                f"{DELAY * 1000:.0f} ms per request",
                Fault("delay", "/v2/", seconds=DELAY, times=None),
            ),
        }

    def inputs(self, pull_job: Job) -> dict[str, Path]:
        """Each tool's own pulled directory (one layout per image), made once and untimed,
        for its pushes."""
        inputs = {}
        for name, command in self.contenders.all("pull").items():
            tool = name.split(",")[0]
            if name in ("kkimage", f"{tool}, a loop"):
                inputs[tool] = self.workdir / f"input-{tool}-{len(pull_job.names)}"
                command(pull_job, inputs[tool])
        return inputs

    def floors(self, label: str, workload: Workload) -> None:
        """The other targets: the no-op re-run, and memory on a big layer."""
        corpus = workload.images()
        names = sorted(corpus)
        with start_binary("plain", self.workdir / "source-floors") as source:
            seeder = RegistryClient(source.url)
            for name, image in corpus.items():
                seeder.push(f"bench/{name}", image)
            store = self.workdir / "store-noop"
            self.runner.kk_pull(source.host, names, store)
            times = []
            for _ in range(self.repeat):
                started = time.perf_counter()
                self.runner.kk_pull(source.host, names, store)
                times.append(time.perf_counter() - started)
            self.facts[f"no-op re-run of the {label}, kkimage (median s)"] = (
                f"{statistics.median(times):.3f} (goal ≤ 0.3)"
            )
            big = images.single("bench-big", layer_sizes=(workload.big,))
            seeder.push("bench/bench-big", big)
            pull = self.runner.pull_task(source.host, ["bench-big"], self.runner.fresh("big"))
            kib, _ = peak_rss_kib(pull, self.runner.env)
            self.facts[f"peak RSS pulling a {workload.big / MiB:.0f} MiB layer (MiB)"] = (
                f"{kib / 1024:.1f} (goal ≤ 64)"
            )
            self.runner.clean()

    def report(self, skipped: list[str]) -> str:
        lines = [
            "| job | kkimage (s) | best peer | best peer (s) | ratio | ≤ 0.8 |",
            "|---|---|---|---|---|---|",
        ]
        for measured in self.results:
            kk = measured.rows["kkimage"].median
            peers = [r for n, r in measured.rows.items() if n != "kkimage"]
            if not peers:
                continue
            best = min(peers, key=lambda r: r.median)
            ratio = kk / best.median
            mark = "✓" if ratio <= GOAL else "✗"
            cells = [measured.job, f"{kk:.3f}", best.name, f"{best.median:.3f}", f"{ratio:.2f}"]
            lines.append(f"| {' | '.join(cells)} | {mark} |")
        lines += [
            "",
            "| job | contender | median (s) | runs (s) | CPU (s): command / registry "
            "| requests / connections |",
            "|---|---|---|---|---|---|",
        ]
        for measured in self.results:
            for row in sorted(measured.rows.values(), key=lambda r: r.median):
                runs = ", ".join(f"{s:.2f}" for s in row.seconds)
                client, registry = map(statistics.median, (row.client_cpu, row.registry_cpu))
                traffic = measured.traffic.get(row.name, "")
                lines.append(
                    f"| {measured.job} | {row.name} | {row.median:.3f} | {runs} | "
                    f"{client:.2f} / {registry:.2f} | {traffic} |"
                )
        if self.facts or skipped:
            lines += ["", "| fact | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in self.facts.items()]
            lines += [f"| skipped | {s} |" for s in skipped]
        return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="pull,push,copy,throttled,latency,floors")
    parser.add_argument("--workloads", default="12,48", help="12 (4 MiB layers), 48 (1 MiB)")
    parser.add_argument("--peers", default="crane,regctl,skopeo")
    parser.add_argument("--tools-dir", type=Path, default=Path(".tox") / "peers")
    parser.add_argument("--quick", action="store_true", help="a small workload (smoke test)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    tools, skipped = find_tools(args.tools_dir.resolve(), set(args.peers.split(",")))
    workloads = {
        f"{n} images": Workload(count=n, layer=(4 if n == 12 else 1) * MiB, big=1024 * MiB)
        for n in map(int, args.workloads.split(","))
    }
    repeat = args.repeat
    if args.quick:
        workloads, repeat = {"2 images": Workload(count=2, layer=256 << 10, big=8 * MiB)}, 1
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="kkimage-peers-") as workdir:
        quiet = 0.0 if args.quick else RECENTLY_FREED
        benchmark = PeerBenchmark(Path(workdir), tools, repeat, 8 * MiB, quiet)
        interpreter = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        benchmark.facts["kkimage's interpreter"] = f"Python {sys.version.split()[0]}, {interpreter}"
        for label, workload in workloads.items():
            benchmark.run_workload(label, workload, only)
        if "floors" in only:
            benchmark.floors(*next(iter(workloads.items())))
        report = benchmark.report(skipped)
    print(report, end="")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
