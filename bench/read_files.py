"""source-file read speed on a 1,000,000-row CSV and Parquet file, next to DuckDB and to Airbyte's own connector.

It makes (once, in bench/out/) a CSV and a Parquet file of N rows x 10 mixed columns, and a venv with Airbyte's
`airbyte-source-file` from PyPI. Then, each as its own process with stdout read through a pipe (best of
--repeat):
  DuckDB read_csv / read_parquet    the file parsed by DuckDB into Arrow and dropped (the engine's own rate)
  source-file read                  this repository's connector (full refresh, RECORDs to stdout)
  airbyte-source-file read          Airbyte's Python file connector (pandas), on the same file
Target (printed as PASS/MISS): source-file at least 3x Airbyte's connector's rows/s, for each format.

Usage: python bench/read_files.py [--rows N] [--repeat R] [--skip-airbyte]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from read_postgres import BIN, Measure, best, verdict

OUT = Path(__file__).resolve().parent / "out"
AIRBYTE_VENV = OUT / "airbyte-source-file"
ROWS_SQL = """
    SELECT i AS id, 'customer ' || i AS name, round(i * 1.37, 2)::DECIMAL(12, 2) AS amount,
           TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS created_at, i % 2 = 0 AS active,
           '{"k":' || i || ',"ok":' || (i % 3 = 0) || '}' AS payload, DATE '2020-01-01' + (i % 1000)::INT AS day,
           i / 7.0 AS score, 'C' || (i % 100) AS code, uuid()::VARCHAR AS ref
    FROM range(1, $rows + 1) t(i)
"""


def make_files(rows: int) -> tuple[Path, Path]:
    import duckdb

    OUT.mkdir(exist_ok=True)
    csv, parquet = OUT / f"rows_{rows}.csv", OUT / f"rows_{rows}.parquet"
    if not (csv.exists() and parquet.exists()):
        print(f"writing {csv.name} and {parquet.name} ...", flush=True)
        with duckdb.connect() as db:
            db.execute(f"CREATE TABLE t AS {ROWS_SQL}", {"rows": rows})
            db.execute(f"COPY t TO '{csv}' (HEADER)")
            db.execute(f"COPY t TO '{parquet}' (FORMAT parquet)")
    return csv, parquet


def airbyte_venv() -> Path:
    script = AIRBYTE_VENV / "bin" / "source-file"
    if not script.exists():
        print("installing airbyte-source-file from PyPI into bench/out ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AIRBYTE_VENV)], check=True)
        subprocess.run([str(AIRBYTE_VENV / "bin" / "pip"), "install", "-q", "airbyte-source-file"], check=True)
    return script


def catalog_from(command: list[str], folder: Path, name: str) -> Path:
    """A full-refresh catalog of every stream the connector's own `discover` reports."""
    found = subprocess.run([*command, "discover", "--config", str(folder / f"{name}.config.json")],
                           capture_output=True, text=True, check=True)  # fmt: skip
    (catalog,) = [json.loads(line)["catalog"] for line in found.stdout.splitlines() if '"CATALOG"' in line]
    streams = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
               for s in catalog["streams"]]  # fmt: skip
    path = folder / f"{name}.catalog.json"
    path.write_text(json.dumps({"streams": streams}))
    return path


def read_command(command: list[str], folder: Path, name: str, config: dict) -> list[str]:
    (folder / f"{name}.config.json").write_text(json.dumps(config))
    catalog = catalog_from(command, folder, name)
    return [*command, "read", "--config", str(folder / f"{name}.config.json"), "--catalog", str(catalog)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-airbyte", action="store_true")
    args = parser.parse_args()
    csv, parquet = make_files(args.rows)
    ours = [str(BIN / "source-file")]
    theirs = [str(airbyte_venv())] if not args.skip_airbyte else None
    folder = OUT
    results: dict[str, list[Measure]] = {}
    for fmt, path in (("csv", csv), ("parquet", parquet)):
        # every column parsed and materialized (as Arrow), then dropped: a count alone would skip the parsing
        script = f"import duckdb, sys; print(duckdb.read_{fmt}(sys.argv[1]).to_arrow_table().num_rows)"
        duck = [sys.executable, "-c", script, str(path)]
        config = {"streams": [{"name": "rows", "globs": [str(path)]}]}
        measures = [
            best(f"DuckDB read_{fmt}", duck, args.rows, args.repeat),
            best("source-file", read_command(ours, folder, f"ours-{fmt}", config), args.rows, args.repeat),
        ]
        if theirs:
            airbyte_config = {"dataset_name": "rows", "format": fmt, "url": str(path), "provider": {"storage": "local"}}
            command = read_command(theirs, folder, f"airbyte-{fmt}", airbyte_config)
            measures.append(best("airbyte-source-file", command, args.rows, 1))
        results[fmt] = measures

    print(f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"files: {args.rows:,} rows x 10 columns; best of {args.repeat} (Airbyte's connector: 1 run)")
    for fmt, measures in results.items():
        print(f"\n{fmt} ({(csv if fmt == 'csv' else parquet).stat().st_size / 1e6:.0f} MB)")
        print(f"{'reader':<22}{'seconds':>9}{'rows/s':>12}{'MB/s out':>10}{'peak RSS MB':>13}")
        for m in measures:
            print(f"{m.name:<22}{m.seconds:>9.2f}{m.rows_per_s:>12,.0f}{m.mb_per_s:>10.1f}{m.max_rss_kb / 1024:>13.0f}")
        if len(measures) == 3:
            factor = measures[1].rows_per_s / measures[2].rows_per_s
            print(f"source-file / airbyte-source-file rows/s: {factor:.1f}x  (target >= 3x: {verdict(factor >= 3)})")


if __name__ == "__main__":
    main()
