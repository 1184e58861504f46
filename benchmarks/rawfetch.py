"""The floor of a pull: fetch blobs in parallel and throw them away; nothing else.

    python benchmarks/rawfetch.py HOST BLOBS.json JOBS

A separate process on purpose: it pays Python's and requests' start-up as kkimage does, so
the ratio measures what kkimage adds (manifests, verification, the store), not start-up.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

CHUNK = 1 << 20


def fetch(host: str, repository: str, digest: str) -> int:
    url = f"http://{host}/v2/{repository}/blobs/{digest}"
    received = 0
    with requests.get(url, stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.raw.stream(CHUNK, decode_content=False):
            received += len(chunk)
    return received


def main() -> None:
    host, blobs_file, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(blobs_file) as handle:
        blobs = json.load(handle)
    with ThreadPoolExecutor(jobs) as pool:
        total = sum(pool.map(lambda blob: fetch(host, *blob), blobs))
    print(total)


if __name__ == "__main__":
    main()
