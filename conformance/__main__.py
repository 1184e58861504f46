"""`python -m conformance compare RESULTS.json... [--output FILE] [--html FILE]`: one matrix
of several runs, in markdown and as a self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .compare import markdown, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance")
    commands = parser.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("compare", help="a case x implementation matrix")
    matrix.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    matrix.add_argument("--output", type=Path, help="write the markdown here (default: stdout)")
    matrix.add_argument("--html", type=Path, help="also write the matrix as an HTML page")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        print(f"conformance: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    text = markdown(args.results)
    if args.html:
        args.html.write_text(page(args.results))
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
