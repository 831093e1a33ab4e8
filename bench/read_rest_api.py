"""source-rest-api against the local API sandbox: keeping a server's rate limit, and records/s next to Airbyte's
source-declarative-manifest and dlt's rest_api source.

1. Rate limit: the sandbox enforces a leaky bucket (40 burst, 10/s refill). `source-rest-api read` runs with the
   same budget in its config (requests_per_second 10, burst 40) for --seconds (default 120), one small page per
   request. Printed: requests/s achieved as a share of what the bucket allows over that time ((40 + 10 s) / s,
   target >= 90%), and the 429s the server sent after the first minute (target 0).
2. No limit: one stream of --records records (offset pagination, --page-size records per page, bearer auth) read
   by each tool as its own process, wall clock from start to exit (best of --repeat):
     source-rest-api read                         this repository's connector, RECORDs to stdout
     source-declarative-manifest read             Airbyte's runner (PyPI, own venv in bench/out), the same
                                                  endpoint as a low-code manifest
     dlt rest_api (pipeline.extract)              dlt's REST source (PyPI, own venv), extracted to its local files
   Every tool's record count is checked. Target: source-rest-api no slower than either.

Usage: python bench/read_rest_api.py [--seconds 120] [--records 200000] [--page-size 1000] [--repeat 2]
                                     [--skip-limit] [--skip-others]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from source_core.testing import free_port, start_server, stop_server

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BIN = Path(sys.executable).parent
SDM_VENV, DLT_VENV = OUT / "venv-sdm", OUT / "venv-dlt"
MANIFEST = HERE.parent / "sources" / "source-rest-api" / "integration_tests" / "manifest.yaml"
TOKEN = "sandbox-bearer-token"
DLT_SCRIPT = """
import sys, dlt
from dlt.sources.rest_api import rest_api_source
url, token, page_size, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
source = rest_api_source({
    "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
    "resources": [{"name": "items", "endpoint": {
        "path": "bearer/offset", "data_selector": "data.items",
        "paginator": {"type": "offset", "limit": page_size, "offset_param": "offset", "limit_param": "limit",
                      "total_path": "total"}}}],
})
pipeline = dlt.pipeline(pipeline_name="bench_rest_api", pipelines_dir=folder)
info = pipeline.extract(source)
print(sum(m.items_count for metrics in info.metrics.values() for m in metrics[0]["job_metrics"].values()))
"""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class Sandbox:
    def __init__(self, records: int):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [str(BIN / "python"), "-m", "source_rest_api.sandbox", "--port", str(port), "--records", str(records)]
        self.process = start_server(argv, f"{self.url}/_stats", "the API sandbox", timeout=60)

    def post(self, path: str, payload: dict) -> None:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode())
        urllib.request.urlopen(request, timeout=10).close()

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        stop_server(self.process)


def venv(folder: Path, packages: list[str], script: str) -> Path:
    path = folder / "bin" / script
    if not path.exists():
        print(f"installing {' '.join(packages)} from PyPI into {folder.relative_to(HERE.parent)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(folder / "bin" / "pip"), "install", "-q", *packages], check=True)
    return path


def write(folder: Path, name: str, content: object) -> str:
    path = folder / name
    path.write_text(json.dumps(content))
    return str(path)


def catalog() -> dict:
    stream = {"name": "items", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}
    return {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}


@dataclass
class Measure:
    name: str
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def timed(name: str, command: list[str], expected: int) -> Measure:
    """Run `command` with stdout read through a pipe; records are its RECORD lines (or the number it prints)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    records, tail = 0, b""
    while chunk := process.stdout.read1(1 << 20):
        for marker in (b'"type":"RECORD"', b'"type": "RECORD"'):
            # the previous chunk's last len-1 bytes: a marker cut by the boundary counts once, none twice
            records += (tail[-(len(marker) - 1) :] + chunk).count(marker)
        tail = (tail + chunk)[-200:]
    code = process.wait()
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{name} failed ({code}): {' '.join(command)}")
    if records == 0:
        records = int(tail.split()[-1])  # dlt prints its count
    if records != expected:
        raise SystemExit(f"{name} read {records:,} records, expected {expected:,}")
    return Measure(name, records, elapsed)


def rate_limit(seconds: float, folder: Path) -> None:
    burst, rate, page = 40, 10.0, 5
    requests_needed = int(burst + rate * seconds)
    server = Sandbox(records=requests_needed * page)
    try:
        server.post("/_control", {"rate_limit": {"burst": burst, "per_second": rate}})
        config = {
            "base_url": server.url,
            "http": {"requests_per_second": rate, "burst": burst},
            "streams": [
                {"name": "items", "path": "/open/offset", "record_selector": "data.items",
                 "pagination": {"type": "offset", "page_size": page}}
            ],
        }  # fmt: skip
        command = [str(BIN / "source-rest-api"), "read", "--config", write(folder, "limit.config.json", config),
                   "--catalog", write(folder, "catalog.json", catalog())]  # fmt: skip
        print(f"rate limit: {requests_needed} requests against a {burst} burst, {rate:g}/s bucket ...", flush=True)
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        stats = server.stats()
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    sent = stats["requests"]
    window = stats["throttled_after_seconds"]
    late = [t for t in window if t >= 60]
    allowed = (burst + rate * elapsed) / elapsed
    share = sent / elapsed / allowed
    print(f"\nrate limit ({burst} burst, {rate:g}/s refill), {elapsed:.1f} s including start-up")
    print(f"  requests sent {sent}, {sent / elapsed:.2f}/s of {allowed:.2f}/s allowed: {share:.1%}"
          f"  (target >= 90%: {verdict(share >= 0.9)})")  # fmt: skip
    print(f"  429s: {len(window)} in all, {len(late)} after the first minute  (target 0: {verdict(not late)})")


def throughput(records: int, page_size: int, repeat: int, skip_others: bool, folder: Path) -> None:
    server = Sandbox(records=records)
    results: list[Measure] = []
    try:
        ours = {
            "base_url": server.url,
            "auth": {"type": "bearer", "token": TOKEN},
            "streams": [
                {"name": "items", "path": "/bearer/offset", "record_selector": "data.items", "primary_key": ["id"],
                 "pagination": {"type": "offset", "page_size": page_size}}
            ],
        }  # fmt: skip
        catalog_path = write(folder, "catalog.json", catalog())
        command = [str(BIN / "source-rest-api"), "read", "--config", write(folder, "ours.json", ours),
                   "--catalog", catalog_path]  # fmt: skip
        results.append(
            min((timed("source-rest-api", command, records) for _ in range(repeat)), key=lambda m: m.seconds)
        )
        if not skip_others:
            manifest = yaml.safe_load(MANIFEST.read_text())
            paginator = manifest["streams"][0]["retriever"]["paginator"]
            paginator["pagination_strategy"]["page_size"] = page_size
            sdm_config = {"__injected_declarative_manifest": manifest, "base_url": server.url, "token": TOKEN}
            sdm = venv(SDM_VENV, ["airbyte-source-declarative-manifest"], "source-declarative-manifest")
            command = [str(sdm), "read", "--config", write(folder, "sdm.json", sdm_config), "--catalog", catalog_path]
            results.append(min((timed("source-declarative-manifest", command, records) for _ in range(repeat)),
                               key=lambda m: m.seconds))  # fmt: skip
            python = venv(DLT_VENV, ["dlt"], "python")
            runs = []
            for _ in range(repeat):
                with tempfile.TemporaryDirectory(dir=folder) as pipelines:
                    command = [str(python), "-c", DLT_SCRIPT, server.url, TOKEN, str(page_size), pipelines]
                    runs.append(timed("dlt rest_api", command, records))
            results.append(min(runs, key=lambda m: m.seconds))
    finally:
        server.stop()
    print(f"\nno limit: {records:,} records, {page_size} per page, best of {repeat} (wall clock with start-up)")
    print(f"{'reader':<32}{'seconds':>9}{'records/s':>12}{'ratio':>8}")
    for m in results:
        print(f"{m.name:<32}{m.seconds:>9.2f}{m.per_second:>12,.0f}{m.per_second / results[0].per_second:>8.2f}")
    for other in results[1:]:
        factor = results[0].per_second / other.per_second
        print(f"source-rest-api / {other.name}: {factor:.2f}x  (target >= 1: {verdict(factor >= 1)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-limit", action="store_true")
    parser.add_argument("--skip-others", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="rest-api-", dir=OUT))
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    if not args.skip_limit:
        rate_limit(args.seconds, folder)
    throughput(args.records, args.page_size, args.repeat, args.skip_others, folder)


if __name__ == "__main__":
    main()
