"""sqlflow_bridge read speed: a PostgreSQL table into Arrow DataChunks, side by side with a direct fetch, in one run.

For a table of N rows (default 1,000,000; the ten mixed-type columns of bench/read_postgres.py) it times:
  ADBC direct     adbc_driver_postgresql fetch_arrow_table() of SELECT *     the ceiling: the fastest fetch into Arrow
  JSON path       source-postgres as a command, RECORD lines parsed by the bridge into typed DataChunks
  fast path       source-postgres in-process, its Arrow batches typed into DataChunks without JSON
Each is run --repeat times (default 2), in rounds that run every reader once, and the best run is kept; spec and
discover are done before timing.
Targets (printed as PASS/MISS): JSON path >= 25% of the ceiling's rows/s, fast path >= 60%.

Usage: python bench/bridge_read.py [--dsn DSN] [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from sqlflow_bridge.connector import AirbyteConnector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_postgres import ensure_table  # the table the source-postgres benchmark seeds


def adbc_fetch(dsn: str, table: str) -> int:
    import adbc_driver_postgresql.dbapi

    info = psycopg.conninfo.conninfo_to_dict(dsn)
    uri = f"postgresql://{info['user']}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info['dbname']}"
    with adbc_driver_postgresql.dbapi.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT * FROM bench.{table}")
        return cursor.fetch_arrow_table().num_rows


def bridge_read(connector: AirbyteConnector, config: dict, catalog: dict) -> int:
    return sum(part.chunk.arrow_table.num_rows for part in connector.read(config, catalog=catalog))


def interleaved(work: dict[str, Callable[[], int]], repeat: int, rows: int) -> list[tuple[str, float]]:
    """Each reader's best time of `repeat`, taken in rounds (every reader once per round), so that a machine that
    speeds up or slows down during the benchmark weighs on every reader alike."""
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeat):
        for name, read in work.items():
            started = time.perf_counter()
            got = read()
            times[name].append(time.perf_counter() - started)
            if got != rows:
                raise SystemExit(f"{name} read {got:,} rows, not {rows:,}")
    return [(name, min(seconds)) for name, seconds in times.items()]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    table = f"rows_{args.rows}"
    ensure_table(args.dsn, table, args.rows)
    info = psycopg.conninfo.conninfo_to_dict(args.dsn)
    config = {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "database": info["dbname"],
        "username": info["user"],
        "schemas": ["bench"],
        "ssl_mode": "disable",
    }
    json_path = AirbyteConnector.command("source-postgres")
    fast_path = AirbyteConnector.in_process("source-postgres")
    catalog = fast_path.configured_catalog(config, [table], sync_mode="full_refresh")
    json_path.spec()
    readers = {
        "ADBC direct": lambda: adbc_fetch(args.dsn, table),
        "JSON path": lambda: bridge_read(json_path, config, catalog),
        "fast path": lambda: bridge_read(fast_path, config, catalog),
    }
    results = interleaved(readers, args.repeat, args.rows)
    print(f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"table: bench.{table}, {args.rows:,} rows x 10 columns; best of {args.repeat}\n")
    print(f"{'reader':<14}{'seconds':>9}{'rows/s':>12}{'of ceiling':>12}")
    ceiling = args.rows / results[0][1]
    for name, seconds in results:
        print(f"{name:<14}{seconds:>9.2f}{args.rows / seconds:>12,.0f}{args.rows / seconds / ceiling:>12.0%}")
    json_share, fast_share = (args.rows / results[i][1] / ceiling for i in (1, 2))
    print(f"\nJSON path / ADBC direct rows/s: {json_share:.0%}  (target >= 25%: {verdict(json_share >= 0.25)})")
    print(f"fast path / ADBC direct rows/s: {fast_share:.0%}  (target >= 60%: {verdict(fast_share >= 0.6)})")


if __name__ == "__main__":
    main()
