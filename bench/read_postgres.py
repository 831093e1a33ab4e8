"""source-postgres read speed, side by side with psql and with a naive airbyte-cdk source, in one run.

For a table of N rows (default 1,000,000) with ten mixed-type columns it times, each as its own process with
stdout read through a pipe and counted:
  psql            \\copy (SELECT * FROM table) TO STDOUT       the database's own export rate
  source-postgres read (full refresh)                        this repository's connector
  naive CDK       bench/naive_cdk_source.py                  psycopg row loop yielding dicts through the CDK
Each is run --repeat times (default 2) and the best run is kept. Then the peak RSS of source-postgres on N and
on 5 N rows shows whether memory grows with the table. Targets (printed as PASS/MISS): at least 40% of
psql's rows/s, at least 5x the naive CDK source, RSS(5N) within 20% of RSS(N).

Usage: python bench/read_postgres.py [--dsn DSN] [--rows N] [--repeat R] [--skip-memory] [--skip-naive]
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
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
COLUMNS = """
    id bigint PRIMARY KEY, name text, amount numeric(12,2), created_at timestamptz, active boolean,
    payload jsonb, day date, score float8, code varchar(20), ref uuid
"""
ROWS_SQL = """
    SELECT g, 'customer ' || g || CASE WHEN g %% 10 = 0 THEN ' "vip"' ELSE '' END, (g * 1.37)::numeric(12,2),
           TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second', g %% 2 = 0,
           jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b'), 'ok', g %% 3 = 0),
           DATE '2020-01-01' + g %% 1000, g / 7.0, 'C' || (g %% 100), md5(g::text)::uuid
    FROM generate_series(1, %s) g
"""


@dataclass
class Measure:
    name: str
    rows: int
    seconds: float
    bytes: int
    max_rss_kb: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6


def ensure_table(dsn: str, name: str, rows: int) -> None:
    table = sql.Identifier("bench", name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        exists = conn.execute("SELECT to_regclass(%s)", (f"bench.{name}",)).fetchone()[0]
        if exists and conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] == rows:
            return
        print(f"creating bench.{name} ({rows:,} rows) ...", flush=True)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (" + COLUMNS + ")").format(table))
        conn.execute(sql.SQL("INSERT INTO {} " + ROWS_SQL).format(table), (rows,))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))


def run(name: str, command: list[str], rows: int) -> Measure:
    """Run `command`, read its stdout to the end in 1 MiB chunks, and return time, bytes and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    total = 0
    while chunk := process.stdout.read1(1 << 20):
        total += len(chunk)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed: {command}")
    return Measure(name, rows, elapsed, total, usage.ru_maxrss)


def best(name: str, command: list[str], rows: int, repeat: int) -> Measure:
    return min((run(name, command, rows) for _ in range(repeat)), key=lambda m: m.seconds)


def source_command(folder: Path, dsn: str, table: str) -> list[str]:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    config = {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "database": info["dbname"],
        "username": info["user"],
        **({"password": info["password"]} if "password" in info else {}),
        "schemas": ["bench"],
        "ssl_mode": "disable",
    }
    stream = {"name": table, "namespace": "bench", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
    (folder / f"{table}.config.json").write_text(json.dumps(config))
    (folder / f"{table}.catalog.json").write_text(json.dumps(catalog))
    return [str(BIN / "source-postgres"), "read", "--config", str(folder / f"{table}.config.json"),
            "--catalog", str(folder / f"{table}.catalog.json")]  # fmt: skip


def naive_command(folder: Path, dsn: str, table: str) -> list[str]:
    (folder / "naive.config.json").write_text(json.dumps({"dsn": dsn, "table": f"bench.{table}", "primary_key": "id"}))
    stream = {"name": table, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
    (folder / "naive.catalog.json").write_text(json.dumps(catalog))
    return [sys.executable, str(HERE / "naive_cdk_source.py"), "read", "--config", str(folder / "naive.config.json"),
            "--catalog", str(folder / "naive.catalog.json")]  # fmt: skip


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true", help="skip the 5x-rows memory comparison")
    parser.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive CDK source")
    args = parser.parse_args()
    main_table, big_table = f"rows_{args.rows}", f"rows_{args.rows * 5}"
    ensure_table(args.dsn, main_table, args.rows)
    if not args.skip_memory:
        ensure_table(args.dsn, big_table, args.rows * 5)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        psql = ["psql", args.dsn, "-qAt", "-c", f"\\copy (SELECT * FROM bench.{main_table}) TO STDOUT"]
        results = [
            best("psql \\copy", psql, args.rows, args.repeat),
            best("source-postgres", source_command(folder, args.dsn, main_table), args.rows, args.repeat),
        ]
        if not args.skip_naive:
            results.append(best("naive CDK source", naive_command(folder, args.dsn, main_table), args.rows, 1))
        big = None
        if not args.skip_memory:
            big = run("source-postgres 5x", source_command(folder, args.dsn, big_table), args.rows * 5)

    print(f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"table: bench.{main_table}, {args.rows:,} rows x 10 columns; best of {args.repeat} (naive: 1 run)\n")
    print(f"{'reader':<18}{'seconds':>9}{'rows/s':>12}{'MB/s':>9}{'peak RSS MB':>13}")
    for m in results:
        print(f"{m.name:<18}{m.seconds:>9.2f}{m.rows_per_s:>12,.0f}{m.mb_per_s:>9.1f}{m.max_rss_kb / 1024:>13.0f}")
    psql_m, ours = results[0], results[1]
    share = ours.rows_per_s / psql_m.rows_per_s
    print(f"\nsource-postgres / psql rows/s: {share:.0%}  (target >= 40%: {verdict(share >= 0.4)})")
    if not args.skip_naive:
        factor = ours.rows_per_s / results[2].rows_per_s
        print(f"source-postgres / naive CDK source rows/s: {factor:.1f}x  (target >= 5x: {verdict(factor >= 5)})")
    if big is not None:
        growth = big.max_rss_kb / ours.max_rss_kb
        print(
            f"peak RSS: {ours.max_rss_kb / 1024:.0f} MB for {args.rows:,} rows, {big.max_rss_kb / 1024:.0f} MB for "
            f"{args.rows * 5:,} rows ({big.rows_per_s:,.0f} rows/s): x{growth:.2f} "
            f"(target <= 1.2: {verdict(growth <= 1.2)})"
        )


if __name__ == "__main__":
    main()
