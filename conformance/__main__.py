"""`python -m conformance compare RESULTS.json... [--output FILE]`: one matrix of several runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .report import compare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance")
    commands = parser.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("compare", help="a case x implementation matrix")
    matrix.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    matrix.add_argument("--output", type=Path, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        print(f"conformance: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    text = compare(args.results)
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
