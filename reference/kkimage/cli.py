"""The `kkimage` command: the only place that prints, and that turns errors into exit codes."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from . import __version__, partial
from .errors import KkImageError, TaskError
from .ops import DEFAULT_JOBS, Engine, ImageResult, RunOptions, run_tasks
from .ops.inspect import list_images, verify_store
from .progress import progress_for
from .store import Store
from .task import (
    ARCHIVE_FORMATS,
    Task,
    Variables,
    load_yaml,
    parse_export,
    parse_import,
    parse_mirror,
    parse_tasks,
)

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kkimage: error: {message} (see {self.prog} --help)\n")


def _warn(message: str) -> None:
    print(f"kkimage: warning: {message}", file=sys.stderr, flush=True)


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} B"


def _human_line(result: ImageResult) -> str:
    if result.status == "skipped":
        return f"skipped {result.source}: {result.message}"
    verb = {
        "pull": "pulled",
        "push": "pushed",
        "copy": "copied",
        "mirror": "mirrored",
        "export": "exported",
        "import": "imported",
    }[result.operation]
    target = "" if result.operation == "pull" else f" -> {result.destination}"
    digest = (result.destination_digest or "")[:19]
    platforms = ",".join(result.platforms) or "-"
    moved = f"{_size(result.bytes_transferred)} transferred, {_size(result.bytes_skipped)} present"
    if result.bytes_mounted:
        moved += f", {_size(result.bytes_mounted)} mounted"
    return f"{verb} {result.source}{target} {digest} {platforms} ({moved})"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"blobs (and images) transferred at once (default {DEFAULT_JOBS})",
    )
    parser.add_argument(
        "--max-per-registry",
        type=int,
        default=None,
        metavar="N",
        help="connections to one registry at once (default: --jobs)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary on stdout (failed runs too)"
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="transfer every image that can be, then name each failure (default: stop at "
        "the first)",
    )
    parser.add_argument("--vars", action="append", default=[], metavar="VARS.yaml")
    parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--progress", choices=("auto", "always", "never"), default="auto")


def _auth_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auths", metavar="AUTHS.yaml", help="YAML list of auths entries")
    parser.add_argument("--skip-tls-verify", action="store_true")


def _platform_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        action="append",
        default=None,
        metavar="PLATFORM",
        help="e.g. linux/amd64 (repeat or separate with commas; default: all)",
    )
    parser.add_argument("--policy", choices=("strict", "warn"), default=None)


def _run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", metavar="TASK.yaml")
    _common(parser)


def _pull(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", metavar="IMAGE")
    parser.add_argument("--images-dir", required=True, metavar="DIR")
    _platform_flags(parser)
    _auth_flags(parser)
    _common(parser)


def _push(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images-dir", required=True, metavar="DIR")
    parser.add_argument("--dest", required=True, metavar="TEMPLATE")
    parser.add_argument("--src-pattern", metavar="REGEX")
    _auth_flags(parser)
    _common(parser)


def _copy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="*", metavar="IMAGE", help="default: every image")
    parser.add_argument("--from-path", required=True, metavar="DIR")
    parser.add_argument("--to-path", required=True, metavar="DIR")
    parser.add_argument("--pattern", metavar="REGEX")
    _platform_flags(parser)
    _common(parser)


def _mirror(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC_REF")
    parser.add_argument(
        "dest", metavar="DEST_REF", help="a reference or a template (default tag: the source's)"
    )
    _platform_flags(parser)
    _auth_flags(parser)
    _common(parser)


def _export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="*", metavar="IMAGE", help="default: every image")
    parser.add_argument("--images-dir", required=True, metavar="DIR")
    parser.add_argument("--format", required=True, choices=ARCHIVE_FORMATS)
    parser.add_argument("--output", required=True, metavar="PATH")
    _platform_flags(parser)
    _common(parser)


def _import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="its format is recognized from its content")
    parser.add_argument("--images-dir", required=True, metavar="DIR")
    parser.add_argument(
        "--layout",
        choices=("L1", "L2"),
        default="L1",
        help="the store's layout: L1 (KubeKey <= v4.0.3, default) or L2 (KubeKey >= v4.0.4)",
    )
    _common(parser)


def _store_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--json", action="store_true")


def _registry_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    up = actions.add_parser("up", help="start one, print its details as JSON, serve until Ctrl-C")
    up.add_argument("--profile", required=True, choices=("plain", "basic", "tls", "token", "mtls"))
    up.add_argument("--seed", action="store_true", help="push the test images to seed/*")
    up.add_argument("--backend", choices=("binary", "docker"), default="binary")
    up.add_argument("--image", help="docker backend: registry image (default registry:2)")
    up.add_argument("--workdir", metavar="DIR", help="default: a new temporary directory")


# Each subcommand: its help line, and what adds its arguments.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "run": ("run a KubeKey task file", _run),
    "pull": ("registry -> local store", _pull),
    "push": ("local store -> registry", _push),
    "copy": ("local store -> local store", _copy),
    "mirror": ("registry -> registry, streamed, mounting what the target has", _mirror),
    "export": ("local store -> an OCI layout, OCI archive or Docker archive", _export),
    "import": ("an OCI layout, OCI archive or Docker archive -> local store", _import),
    "ls": ("list the images in a store", _store_dir),
    "verify": ("check every blob and manifest of a store", _store_dir),
    "registry": ("throwaway test registries", _registry_actions),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """kkimage's parser: every subcommand, or only `command` (the one the arguments name).

    argparse spends about 0.1 ms on each argument it is given (a help formatter each, which
    asks the terminal its size): all of them are a twentieth of a small pull's start-up.
    """
    parser = _Parser(
        prog="kkimage",
        description="Pull, push and copy container images as KubeKey's image module does.",
    )
    parser.add_argument("--version", action="version", version=f"kkimage {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_, add_arguments) in COMMANDS.items():
        if command in (None, name):
            add_arguments(commands.add_parser(name, help=help_))
    return parser


def _platforms(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def _task_document(args: argparse.Namespace) -> Any:
    """The task a convenience subcommand stands for, so that it has run's exact semantics."""
    if args.command == "run":
        return load_yaml(args.task, "task file")
    op: dict[str, Any] = {}
    if args.command in ("pull", "push"):
        op["images_dir"] = args.images_dir
        if args.auths:
            op["auths"] = load_yaml(args.auths, "auths file")
        if args.skip_tls_verify:
            op["skip_tls_verify"] = True
    if args.command in ("pull", "copy"):
        if args.platform is not None:
            op["platform"] = _platforms(args.platform)
        if args.policy:
            op["policy"] = args.policy
    if args.command == "pull":
        op["manifests"] = args.manifests
    elif args.command == "push":
        op["dest"] = args.dest
        if args.src_pattern:
            op["src_pattern"] = args.src_pattern
    else:
        op["from"] = {"path": args.from_path}
        if args.manifests:
            op["from"]["manifests"] = args.manifests
        op["to"] = {"path": args.to_path}
        if args.pattern:
            op["to"]["pattern"] = args.pattern
    return [{"name": args.command, "image": {args.command: op}}]


def _archive_task(args: argparse.Namespace) -> list[Task]:
    """`kkimage export` and `import`: operations of kkimage's own, built here."""
    if args.command == "import":
        args_ = {"images_dir": args.images_dir, "path": args.path, "layout": args.layout}
        spec = parse_import(args_, "import")
        return [Task("import", import_=spec)]
    op = {"images_dir": args.images_dir, "format": args.format, "output": args.output}
    if args.manifests:
        op["manifests"] = args.manifests
    if args.platform is not None:
        op["platform"] = _platforms(args.platform)
    if args.policy:
        op["policy"] = args.policy
    return [Task("export", export=parse_export(op, "export"))]


def _mirror_task(args: argparse.Namespace) -> list[Task]:
    """`kkimage mirror`: no KubeKey G1 task says registry -> registry, so it is built here."""
    op = {"manifests": args.sources, "dest": args.dest}
    if args.platform is not None:
        op["platform"] = _platforms(args.platform)
    if args.policy:
        op["policy"] = args.policy
    if args.auths:
        op["auths"] = load_yaml(args.auths, "auths file")
    if args.skip_tls_verify:
        op["skip_tls_verify"] = True
    return [Task("mirror", mirror=parse_mirror(op, "mirror", _warn))]


def _tasks(args: argparse.Namespace) -> tuple[list[Task], dict[str, Any]]:
    """The tasks a transfer command stands for, and the user variables; all checked."""
    if args.jobs < 1 or (args.max_per_registry is not None and args.max_per_registry < 1):
        raise TaskError("--jobs and --max-per-registry must be at least 1")
    variables = Variables()
    for path in args.vars:
        variables.load_file(path)
    for assignment in args.var:
        variables.set(assignment)
    if args.command == "mirror":
        return _mirror_task(args), variables.values
    if args.command in ("export", "import"):
        return _archive_task(args), variables.values
    return parse_tasks(_task_document(args), variables.values, _warn), variables.values


def _transfer(args: argparse.Namespace) -> int:
    results: list[ImageResult] = []

    def report(result: ImageResult) -> None:
        results.append(result)
        if not args.json and not result.failed:
            print(_human_line(result), flush=True)

    error: KkImageError | None = None
    try:
        tasks, variables = _tasks(args)
        options = RunOptions(args.jobs, args.max_per_registry or args.jobs, args.keep_going)
        progress = progress_for({"auto": None, "always": True, "never": False}[args.progress])
        try:
            with Engine(args.jobs, progress, _warn) as engine:
                run_tasks(tasks, variables, engine, options, report)
        finally:
            progress.close()
    except KkImageError as exc:  # bad input, or outside any one image: after what was done
        error = exc
    if args.json:
        summary = {
            "ok": error is None and not any(r.failed for r in results),
            "images": [r.to_json() for r in results],
            "error": str(error) if error else None,
        }
        print(json.dumps(summary, indent=2))
    return _failures(results, error, args.keep_going)


def _failures(results: list[ImageResult], error: KkImageError | None, keep_going: bool) -> int:
    """One line per failed image, one for the images the run did not finish, one for an
    error outside the images: the exit status."""
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        print(f"kkimage: error: {result.error}", file=sys.stderr)
    unfinished = sum(r.status == "cancelled" for r in results)
    if unfinished:
        why = "" if keep_going else " after the first failure (--keep-going tries every image)"
        print(f"kkimage: stopped: {unfinished} image(s) not finished{why}", file=sys.stderr)
    if error is not None:
        print(f"kkimage: error: {error}", file=sys.stderr)
        return error.exit_code
    return 1 if failed or unfinished else 0


def _ls(args: argparse.Namespace) -> int:
    listings = list_images(Store(args.dir))
    if args.json:
        print(json.dumps([listing._asdict() for listing in listings], indent=2))
        return 0
    for listing in listings:
        platforms = ",".join(listing.platforms) or "-"
        print(f"{listing.reference}\t{listing.digest}\t{platforms}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    problems = verify_store(Store(args.dir))
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems}, indent=2))
    else:
        for problem in problems:
            print(problem)
        print(f"{args.dir}: {'intact' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _registry(args: argparse.Namespace) -> int:
    try:
        from kkimage_fixtures.registry import RegistryUnavailable
        from kkimage_fixtures.up import serve
    except ImportError as exc:
        raise TaskError(
            f"kkimage registry needs the test harness: pip install 'kkimage[harness]' ({exc})"
        ) from None
    try:
        return serve(args.profile, args.backend, args.seed, args.workdir, args.image)
    except RegistryUnavailable as exc:
        raise KkImageError(str(exc)) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C's KeyboardInterrupt is."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    named = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(named).parse_args(argv)
    command = {"ls": _ls, "verify": _verify, "registry": _registry}.get(args.command, _transfer)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return command(args)
    except KkImageError as exc:
        print(f"kkimage: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        partial.remove_all()
        name, code = (
            ("SIGTERM", EXIT_TERMINATED)
            if isinstance(exc, Terminated)
            else (
                "SIGINT",
                EXIT_INTERRUPTED,
            )
        )
        print(f"kkimage: stopped by {name}; no partial file is left", file=sys.stderr)
        return code
    except Exception as exc:  # a bug: still one line, and a way to report it
        print(
            f"kkimage: internal error: {type(exc).__name__}: {exc} (please report this)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def entry_point() -> NoReturn:
    """The `kkimage` command as its own process (main() can also be called in-process)."""
    # What start-up imported lives as long as the process: spare the cyclic collector from
    # scanning it again on every full collection (docs/performance.md).
    gc.freeze()
    # The command speaks in its own words (`insecure` once per registry): a library's
    # warning, e.g. from the harness behind `kkimage registry`, is not printed.
    warnings.simplefilter("ignore")
    _exit(main())


def _exit(code: int) -> NoReturn:
    """End the process without exit(3): its C handlers include OpenSSL's cleanup, which
    frees what a worker thread may still be using. A thread Python has joined can still be
    running OpenSSL's thread-exit handlers (in one run of five here), and the race once
    ended a pull in a double free. Nor does a transfer blocked in the network, left behind
    by an interrupt, delay the exit. Python's own exit handlers (the test registries' clean-up)
    still run; streams are flushed."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to tell
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(entry_point())
