#!/usr/bin/env bash
# The demo: seed a small schema in the local PostgreSQL, run source-postgres spec/check/discover/read and an
# incremental read from the saved state, and load both reads into a DuckDB file with destination-duckdb
# (customers deduplicated by key, events overwritten). Needs a PostgreSQL server; PGHOST/PGPORT/PGUSER/PGDATABASE
# choose it (default: 127.0.0.1:5432, user postgres, database test).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
OUT=build/demo-postgres
mkdir -p "$OUT"
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-test}

PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -f sources/source-postgres/integration_tests/seed.sql
"$BIN/python" - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
config = {"host": os.environ["PGHOST"], "port": int(os.environ["PGPORT"]), "database": os.environ["PGDATABASE"],
          "username": os.environ["PGUSER"], "schemas": ["acceptance"], "ssl_mode": "prefer"}
json.dump(config, open(f"{out}/config.json", "w"), indent=1)
json.dump({"destination_path": f"{out}/warehouse.duckdb"}, open(f"{out}/duckdb.json", "w"), indent=1)
PY
rm -f "$OUT/warehouse.duckdb"
run() { "$BIN/source-postgres" "$@"; }
summary() {  # count message types and show the last STATE of each stream
  "$BIN/python" -c '
import collections, json, sys
kinds, states = collections.Counter(), {}
for line in sys.stdin:
    m = json.loads(line); kinds[m["type"]] += 1
    if m["type"] == "STATE":
        s = m["state"]["stream"]; states[s["stream_descriptor"]["name"]] = s["stream_state"]
    if m["type"] in ("CONNECTION_STATUS", "TRACE") and m.get("trace", {}).get("type") != "STREAM_STATUS":
        print("  ", json.dumps(m.get("connectionStatus") or m["trace"]))
print("   messages:", dict(kinds))
for name, state in states.items(): print(f"   state {name}: {json.dumps(state)}")'
}
echo "== spec";     run spec | summary
echo "== check";    run check --config "$OUT/config.json" | summary
echo "== discover"; run discover --config "$OUT/config.json" > "$OUT/catalog.out"; summary < "$OUT/catalog.out"
"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
(catalog,) = [json.loads(l)["catalog"] for l in open(f"{out}/catalog.out") if '"CATALOG"' in l]
streams = []
for s in catalog["streams"]:
    if s["name"] == "customers":
        streams.append({"stream": s, "sync_mode": "incremental", "cursor_field": ["updated_at"],
                        "destination_sync_mode": "append_dedup", "primary_key": [["id"]]})
    else:
        streams.append({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
json.dump({"streams": streams}, open(f"{out}/catalog.json", "w"), indent=1)
PY
echo "== read (first sync)"
run read --config "$OUT/config.json" --catalog "$OUT/catalog.json" > "$OUT/read1.jsonl"; summary < "$OUT/read1.jsonl"
load() {
  echo "== destination-duckdb write < $1 (STATEs echoed after commit)"
  "$BIN/destination-duckdb" write --config "$OUT/duckdb.json" --catalog "$OUT/catalog.json" < "$1" | summary
  "$BIN/python" - "$OUT/warehouse.duckdb" <<'PY'
import sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as db:
    rows, keys, changed = db.execute(
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (updated_at >= TIMESTAMPTZ '2030-01-01') "
        "FROM acceptance.customers"
    ).fetchone()
    print(f"   duckdb acceptance.customers: {rows} rows, {keys} ids, {changed} updated in 2030")
    print(f"   duckdb acceptance.events: {db.execute('SELECT count(*) FROM acceptance.events').fetchone()[0]} rows")
PY
}
load "$OUT/read1.jsonl"
grep '"STATE"' "$OUT/read1.jsonl" | tail -n 2 | "$BIN/python" -c '
import json, sys
print(json.dumps([{"type": "STREAM", "stream": json.loads(l)["state"]["stream"]} for l in sys.stdin]))' > "$OUT/state.json"
psql -q -c "UPDATE acceptance.customers SET balance = balance + 1, updated_at = TIMESTAMPTZ '2030-01-01 00:00:00+00' WHERE id <= 5"
echo "== read (second sync from the saved state, after 5 customers changed)"
run read --config "$OUT/config.json" --catalog "$OUT/catalog.json" --state "$OUT/state.json" > "$OUT/read2.jsonl"
summary < "$OUT/read2.jsonl"
load "$OUT/read2.jsonl"
echo "Files in $OUT/. The customers stream read 5 changed rows the second time and the DuckDB table still holds"
echo "one row per customer (append_dedup); events is a full refresh, overwritten in DuckDB."
