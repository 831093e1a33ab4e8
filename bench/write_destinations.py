"""destination-postgres and destination-duckdb load speed, each next to its database's own bulk load, in one run.

From the benchmark table bench.rows_N (ten mixed-type columns, made by read_postgres.py) it prepares, untimed:
the RECORD messages of a full `source-postgres read` (a file), the same rows as CSV, and the same records as
plain JSON lines. Then it times, each as its own process (best of --repeat, in rounds that run each loader once):
  COPY FROM (psql \\copy of the CSV)            PostgreSQL's own load rate
  destination-postgres write < messages         this repository's connector (overwrite mode, typed table)
  DuckDB read_json of the records               DuckDB's own load rate (CREATE TABLE AS, in a python process)
  destination-duckdb write < messages           this repository's connector
Targets (printed as PASS/MISS): each connector at least 40% of its database's own rows/s.

Usage: python bench/write_destinations.py [--dsn DSN] [--rows N] [--repeat R]
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
from psycopg import sql
from read_postgres import BIN, COLUMNS, ensure_table, source_command, verdict

SCHEMA = "bench_load"


@dataclass
class Measure:
    name: str
    rows: int
    seconds: float
    max_rss_kb: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def timed(name: str, command: list[str], rows: int, stdin: Path | None = None) -> Measure:
    """Run `command` and return its wall time and peak RSS (its output is kept only to report a failure)."""
    started = time.perf_counter()
    with open(stdin or os.devnull, "rb") as source, tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdin=source, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            output.seek(0)
            raise SystemExit(f"{name} failed: {output.read().decode()[-2000:]}")
    return Measure(name, rows, elapsed, usage.ru_maxrss)


@dataclass
class Trial:
    name: str
    command: list[str]
    stdin: Path | None = None
    before: Callable[[], None] | None = None  # untimed: a fresh target table or file


def interleaved(trials: list[Trial], rows: int, repeat: int) -> list[Measure]:
    """Each trial's best of `repeat` runs, taken in rounds (every trial once per round), so that a machine that
    speeds up or slows down during the benchmark weighs on every loader alike, not on whichever ran then."""
    results: list[list[Measure]] = [[] for _ in trials]
    for _ in range(repeat):
        for trial, measures in zip(trials, results, strict=True):
            if trial.before:
                trial.before()
            measures.append(timed(trial.name, trial.command, rows, trial.stdin))
    return [min(measures, key=lambda m: m.seconds) for measures in results]


def prepare(folder: Path, dsn: str, table: str) -> tuple[Path, Path, Path, dict]:
    """The messages a full read emits, the same rows as CSV and as plain JSON records; the stream's json_schema."""
    messages, csv, records = folder / "messages.jsonl", folder / "rows.csv", folder / "records.jsonl"
    with open(messages, "wb") as out:
        subprocess.run(source_command(folder, dsn, table), stdout=out, check=True)
    with open(messages, "rb") as src, open(records, "wb") as out:
        for line in src:
            if line.startswith(b'{"type":"RECORD"'):
                out.write(orjson.dumps(orjson.loads(line)["record"]["data"]) + b"\n")
    copy = f"\\copy (SELECT * FROM bench.{table}) TO '{csv}' CSV"
    subprocess.run(["psql", dsn, "-qAt", "-c", copy], check=True)
    discover = subprocess.run(
        [str(BIN / "source-postgres"), "discover", "--config", str(folder / f"{table}.config.json")],
        capture_output=True,
        check=True,
    )
    for line in discover.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "CATALOG":
            (stream,) = [s for s in message["catalog"]["streams"] if s["name"] == table]
            return messages, csv, records, stream
    raise SystemExit("source-postgres discover printed no catalog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    table = f"rows_{args.rows}"
    ensure_table(args.dsn, table, args.rows)
    info = psycopg.conninfo.conninfo_to_dict(args.dsn)

    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(args.dsn, autocommit=True) as conn:
        folder = Path(tmp)
        print("preparing messages, CSV and JSON records ...", flush=True)
        messages, csv, records, stream = prepare(folder, args.dsn, table)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        native = sql.Identifier(SCHEMA, "native_copy")

        def fresh_native_table() -> None:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(native))
            conn.execute(sql.SQL("CREATE TABLE {} (" + COLUMNS + ")").format(native))

        catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
        (folder / "catalog.json").write_text(json.dumps(catalog))
        pg_config = {
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": info["dbname"],
            "username": info["user"],
            **({"password": info["password"]} if "password" in info else {}),
            "schema": SCHEMA,
            "ignore_source_namespace": True,
            "ssl_mode": "disable",
        }
        (folder / "pg.json").write_text(json.dumps(pg_config))
        duck_file = folder / "bench.duckdb"
        (folder / "duck.json").write_text(json.dumps({"destination_path": str(duck_file)}))

        def fresh_duckdb() -> None:
            duck_file.unlink(missing_ok=True)
            duck_file.with_name(duck_file.name + ".wal").unlink(missing_ok=True)

        copy = ["psql", args.dsn, "-qAt", "-c", f"\\copy {SCHEMA}.native_copy FROM '{csv}' CSV"]
        read_json = [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
            "'CREATE TABLE t AS SELECT * FROM read_json(?, format = ''newline_delimited'')', [sys.argv[2]])",
            str(duck_file),
            str(records),
        ]
        write = ["write", "--catalog", str(folder / "catalog.json"), "--config"]
        trials = [
            Trial("COPY FROM (psql)", copy, before=fresh_native_table),
            Trial("destination-postgres", [str(BIN / "destination-postgres"), *write, str(folder / "pg.json")],
                  messages),
            Trial("DuckDB read_json", read_json, before=fresh_duckdb),
            Trial("destination-duckdb", [str(BIN / "destination-duckdb"), *write, str(folder / "duck.json")],
                  messages, fresh_duckdb),
        ]  # fmt: skip
        results = interleaved(trials, args.rows, args.repeat)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))

    print(f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"data: bench.{table}, {args.rows:,} records x 10 columns; best of {args.repeat}\n")
    print(f"{'loader':<22}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}")
    for m in results:
        print(f"{m.name:<22}{m.seconds:>9.2f}{m.rows_per_s:>12,.0f}{m.max_rss_kb / 1024:>13.0f}")
    for native_m, ours in ((results[0], results[1]), (results[2], results[3])):
        share = ours.rows_per_s / native_m.rows_per_s
        print(f"\n{ours.name} / {native_m.name} rows/s: {share:.0%}  (target >= 40%: {verdict(share >= 0.4)})")


if __name__ == "__main__":
    main()
