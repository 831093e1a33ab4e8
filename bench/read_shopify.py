"""source-shopify against the local Shopify sandbox: keeping Shopify's cost bucket busy without being throttled,
and records/s of a bulk backfill next to the paginated mode.

1. Pacing: a sandbox with Standard-plan limits (bucket 2000 points, restore 100 points/s) and --orders orders
   (default 450: about two minutes of points); `source-shopify read` of orders + order_line_items, paginated
   (bulk_mode never), to its end. Printed: points spent per second (the sandbox's /_stats) as a share of what the
   bucket allows over that time, counting the full bucket it starts with ((2000 + 100 s) / s; target >= 90%), and
   the THROTTLED answers (the sandbox's count and the connector's `shopify_cost` LOG; target 0 unhandled: every
   one waited out, the read exits 0).
2. Backfill: a sandbox with --backfill-orders orders (default 100,000); a bulk backfill (bulk_mode always) of
   orders + order_line_items, wall clock from start to exit, records counted from stdout; next to it, the
   paginated mode's records/s measured in part 1 (it is bound by the restore rate).

Usage: python bench/read_shopify.py [--orders 450] [--backfill-orders 100000]
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
from pathlib import Path

from source_core.testing import free_port, start_server, stop_server

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BIN = Path(sys.executable).parent
TOKEN = "shpat_sandbox_full"
BUCKET, RESTORE = 2000.0, 100.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class Sandbox:
    def __init__(self, orders: int):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [str(BIN / "python"), "-m", "source_shopify.sandbox", "--port", str(port), "--orders", str(orders),
                "--bucket", str(BUCKET), "--restore-rate", str(RESTORE)]  # fmt: skip
        self.process = start_server(argv, f"{self.url}/_stats", "the Shopify sandbox", timeout=120)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        stop_server(self.process)


def files(folder: Path, server: Sandbox, bulk_mode: str) -> list[str]:
    config = {"shop": "sandbox-shop", "access_token": TOKEN, "base_url": server.url + "/{shop}", "bulk_mode": bulk_mode}
    streams = [{"stream": {"name": n, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
               for n in ("orders", "order_line_items")]  # fmt: skip
    paths = []
    for name, content in ((f"{bulk_mode}.config.json", config), ("catalog.json", {"streams": streams})):
        (folder / name).write_text(json.dumps(content))
        paths.append(str(folder / name))
    return ["--config", paths[0], "--catalog", paths[1]]


def run(command: list[str]) -> tuple[int, float, dict]:
    """Run `command` to its end: RECORD lines, wall clock, and its `shopify_cost` figures."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    records, cost = 0, {}
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            records += 1
        elif b"shopify_cost" in line:
            cost = json.loads(json.loads(line)["log"]["message"])["shopify_cost"]
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return records, time.perf_counter() - started, cost


def pacing(orders: int, folder: Path) -> float:
    server = Sandbox(orders)
    try:
        command = [str(BIN / "source-shopify"), "read", *files(folder, server, "never")]
        print(f"pacing: paginated read of {orders:,} orders (bucket {BUCKET:g}, restore {RESTORE:g}/s) ...",
              flush=True)  # fmt: skip
        records, elapsed, cost = run(command)
        stats = server.stats()
    finally:
        server.stop()
    allowed = (BUCKET + RESTORE * elapsed) / elapsed
    spent = stats["points_spent"] / elapsed
    share = spent / allowed
    print(f"\npacing ({BUCKET:g} points, {RESTORE:g}/s restore), {elapsed:.1f} s including start-up")
    print(f"  points spent {stats['points_spent']:,.0f}: {spent:.1f}/s of {allowed:.1f}/s allowed: {share:.1%}"
          f"  (target >= 90%: {verdict(share >= 0.9)})")  # fmt: skip
    unhandled = stats["throttled"] - cost["throttled"]
    print(f"  THROTTLED answers: {stats['throttled']} at the sandbox, {cost['throttled']} waited out by the connector "
          f"(which waited {cost['waits']} times, {cost['waited_seconds']:.1f} s, for the bucket); unhandled "
          f"{unhandled}  (target 0: {verdict(unhandled == 0)})")  # fmt: skip
    print(f"  records {records:,}: {records / elapsed:,.1f}/s paginated")
    return records / elapsed


def backfill(orders: int, paginated_rate: float, folder: Path) -> None:
    print(f"\nbackfill: starting a sandbox with {orders:,} orders ...", flush=True)
    server = Sandbox(orders)
    try:
        command = [str(BIN / "source-shopify"), "read", *files(folder, server, "always")]
        records, elapsed, _ = run(command)
        stats = server.stats()
    finally:
        server.stop()
    rate = records / elapsed
    print(f"\nbulk backfill: {records:,} records (orders + line items) in {elapsed:.1f} s, {stats['bulk_operations']}"
          f" bulk operation(s), {stats['points_spent']:,.0f} points")  # fmt: skip
    print(f"{'mode':<28}{'records/s':>12}{'ratio':>8}")
    print(f"{'bulk operation':<28}{rate:>12,.0f}{1.0:>8.2f}")
    print(f"{'paginated (restore-bound)':<28}{paginated_rate:>12,.1f}{paginated_rate / rate:>8.4f}")
    print(f"bulk / paginated: {rate / paginated_rate:,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=450)
    parser.add_argument("--backfill-orders", type=int, default=100_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="shopify-", dir=OUT))
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    paginated_rate = pacing(args.orders, folder)
    backfill(args.backfill_orders, paginated_rate, folder)


if __name__ == "__main__":
    main()
