"""Running the conformance suite as a user would: a pytest subprocess and its results.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider"]


def suite(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the suite in a subprocess (`env`: added to the environment); returns the process
    and its results.json."""
    results = tmp_path / "results"
    command = [*PYTEST, "-q", "--results-dir", str(results), *args]
    environment = {**os.environ, **(env or {})}
    process = subprocess.run(
        command, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=environment
    )
    path = results / "results.json"
    return process, json.loads(path.read_text()) if path.exists() else {}


def statuses(results: dict) -> dict[str, str]:
    """Status by case and profile, `(g2)` added for a G2 run (as reports name them)."""
    return {
        f"{c['id']}[{c['profile']}]" + ("" if c.get("format", "g1") == "g1" else "(g2)"): c[
            "status"
        ]
        for c in results.get("cases", [])
    }
