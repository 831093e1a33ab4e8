#!/usr/bin/env bash
# The embedded demo, no server needed: the sample files in demo/data (CSV, gzipped CSV, JSONL) are read by
# source-file and loaded by destination-duckdb into build/demo/warehouse.duckdb, then a second, incremental
# sync from the STATEs the destination acknowledged loads nothing new. Run it again: still nothing new, until
# a file in demo/data changes. `rm -rf build/demo` starts over.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
OUT=build/demo
mkdir -p "$OUT"

"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
source = {"streams": [
    {"name": "orders", "globs": ["demo/data/orders/*.csv*"]},
    {"name": "customers", "globs": ["demo/data/customers/*.jsonl"]},
]}
json.dump(source, open(f"{out}/source.json", "w"), indent=1)
json.dump({"destination_path": f"{out}/warehouse.duckdb"}, open(f"{out}/destination.json", "w"), indent=1)
PY

echo "== source-file check";    "$BIN/source-file" check --config "$OUT/source.json" | grep CONNECTION_STATUS
echo "== source-file discover (inferred schemas)"
"$BIN/source-file" discover --config "$OUT/source.json" > "$OUT/discover.jsonl"
"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
(catalog,) = [json.loads(l)["catalog"] for l in open(f"{out}/discover.jsonl") if '"CATALOG"' in l]
keys = {"orders": "order_id", "customers": "customer_id"}
streams = []
for s in catalog["streams"]:
    types = {}
    for column, schema in s["json_schema"]["properties"].items():
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        types[column] = schema.get("format") or [t for t in kinds if t != "null"][0]
    print(f"   {s['name']}: {types}")
    streams.append({"stream": s, "sync_mode": "incremental", "cursor_field": s["default_cursor_field"],
                    "destination_sync_mode": "append_dedup", "primary_key": [[keys[s["name"]]]]})
json.dump({"streams": streams}, open(f"{out}/catalog.json", "w"), indent=1)
PY

sync() {  # source-file read (from the saved state) | destination-duckdb write; keep the acknowledged STATEs
  local state=()
  [ -s "$OUT/state.json" ] && state=(--state "$OUT/state.json")
  "$BIN/source-file" read --config "$OUT/source.json" --catalog "$OUT/catalog.json" "${state[@]}" \
    | "$BIN/destination-duckdb" write --config "$OUT/destination.json" --catalog "$OUT/catalog.json" \
    > "$OUT/acknowledged.jsonl"
  "$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
states = {}
try:
    for entry in json.load(open(f"{out}/state.json")):
        states[entry["stream"]["stream_descriptor"]["name"]] = entry
except FileNotFoundError:
    pass
loaded = {}
for line in open(f"{out}/acknowledged.jsonl"):
    message = json.loads(line)
    if message["type"] == "STATE":
        stream = message["state"]["stream"]
        name = stream["stream_descriptor"]["name"]
        states[name] = {"type": "STREAM", "stream": stream}
        loaded[name] = loaded.get(name, 0) + int(message["state"]["destinationStats"]["recordCount"])
    elif message["type"] == "TRACE" and message["trace"]["type"] == "ERROR":
        sys.exit(f"   the write failed: {message['trace']['error']['message']}")
json.dump(list(states.values()), open(f"{out}/state.json", "w"), indent=1)
print("   records committed:", loaded or "none")
PY
}
echo "== sync 1: source-file read | destination-duckdb write"; sync
echo "== sync 2, incremental from the acknowledged state"; sync

echo "== what $OUT/warehouse.duckdb holds"
"$BIN/python" - "$OUT/warehouse.duckdb" <<'PY'
import sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as db:
    for table in ("orders", "customers"):
        print(f"   {table}: {db.execute(f'SELECT count(*) FROM main.{table}').fetchone()[0]} rows")
    print("   revenue by month (orders x customers, typed columns):")
    for month, orders, revenue, vip in db.execute("""
        SELECT strftime(o.ordered_at, '%Y-%m'), count(*), sum(o.quantity * o.unit_price)::DECIMAL(12, 2),
               count(*) FILTER (c.vip)
        FROM main.orders o JOIN main.customers c USING (customer_id) GROUP BY 1 ORDER BY 1""").fetchall():
        print(f"     {month}: {orders} orders, revenue {revenue}, {vip} by VIP customers")
PY
echo "Files in $OUT/. Run again to see an incremental sync with nothing new; rm -rf $OUT to start over."
