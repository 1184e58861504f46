"""The floor of a pull: fetch blobs in parallel, nothing else.

    python benchmarks/rawfetch.py HOST BLOBS.json JOBS [DIRECTORY]

With DIRECTORY each blob is written to a file there, as any pull into a store must at least
do (no verification, no fsync, no manifests); without it the bytes are thrown away, the floor
of the network alone. A separate process on purpose: it pays Python's and requests' start-up
as kkimage does, so the ratio measures what kkimage adds, not start-up.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

CHUNK = 1 << 20


def fetch(host: str, repository: str, digest: str, directory: Path | None) -> int:
    url = f"http://{host}/v2/{repository}/blobs/{digest}"
    with requests.get(url, stream=True, timeout=120) as response:
        response.raise_for_status()
        chunks = response.raw.stream(CHUNK, decode_content=False)
        if directory is None:
            return sum(len(chunk) for chunk in chunks)
        with open(directory / digest[7:], "wb") as out:
            return sum(out.write(chunk) for chunk in chunks)


def main() -> None:
    host, blobs_file, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    directory = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    if directory is not None:
        directory.mkdir(parents=True)
    with open(blobs_file) as handle:
        blobs = json.load(handle)
    with ThreadPoolExecutor(jobs) as pool:
        total = sum(pool.map(lambda blob: fetch(host, *blob, directory), blobs))
    print(total)


if __name__ == "__main__":
    main()
