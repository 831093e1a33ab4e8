"""`write` end to end, locally and on S3: every format and compression read back and compared with what was sent,
STATEs echoed in order with their record counts, and the files named as the path template says."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from source_core.testing import EMITTED_AT, catalog, record, state, stream_entry

from .conftest import (
    METADATA,
    Cli,
    LocalStore,
    S3Store,
    Store,
    canonical,
    data_only,
    decompress,
    expected,
    read_file,
    template_pattern,
)

PROPS = {
    "k": {"type": "string"},
    "id": {"type": ["null", "integer"]},
    "x": {"type": "number"},
    "b": {"type": "boolean"},
    "d": {"type": "string", "format": "date"},
    "tz": {"type": "string", "format": "date-time"},
    "ts": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
    "t": {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"},
    "s": {"type": ["null", "string"]},
    "o": {"type": "object"},
    "a": {"type": "array"},
    "u": {},
}
USERS = [
    {
        "k": "u1",
        "id": 9223372036854775807,
        "x": 12.5,
        "b": True,
        "d": "2024-02-29",
        "tz": "2024-03-01T12:30:00.123456+02:00",
        "ts": "2024-03-01T12:30:00",
        "t": "23:59:59.5",
        "s": 'a "quoted", multi\nline, ünïcode ☃ string',
        "o": {"k": [1, 2, {"x": None}], "nested": {"deep": "yes"}},
        "a": [1, "two", 3.5, None],
        "u": "anything",
    },
    {
        "k": "u2",
        "id": -42,
        "x": -0.001,
        "b": False,
        "d": "1970-01-01",
        "tz": "1999-12-31T23:59:59Z",
        "ts": "2000-01-01T00:00:00.5",
        "t": "00:00:00",
        "s": "",
        "o": {},
        "a": [],
        "u": {"any": ["thing"]},
    },
    {"k": "u3", "id": None, "x": None, "b": None, "d": None, "tz": None, "ts": None, "t": None, "s": None},
    {"k": "u4", "id": 7, "x": 1e20, "b": True, "s": "a,b;c\td", "o": {"n": 1.25}, "a": [[1], [2]], "u": 3},
]
ORDERS = [{"k": f"o{n}", "id": n, "x": n / 4, "s": f"order {n}", "d": "2024-05-0" + str(n % 9 + 1)} for n in range(5)]
TRAILING = [{"k": "u5", "id": 5, "s": "after the last state"}]  # published at the end of input, covered by no STATE


def messages() -> list[dict[str, Any]]:
    return [
        record("users", USERS[0]),
        record("users", USERS[1]),
        record("orders", ORDERS[0], namespace="shop"),
        state("users", {"cursor": 1}),
        record("orders", ORDERS[1], namespace="shop"),
        record("users", USERS[2]),
        record("orders", ORDERS[2], namespace="shop"),
        state("orders", {"cursor": "a"}, namespace="shop"),
        record("users", USERS[3]),
        record("orders", ORDERS[3], namespace="shop"),
        record("orders", ORDERS[4], namespace="shop"),
        state("users", {"cursor": 2}),
        state("orders", {"cursor": "b"}, namespace="shop"),
        record("users", TRAILING[0]),
    ]


CATALOG = catalog(
    stream_entry("users", PROPS, generation_id=4, sync_id=77),
    stream_entry("orders", PROPS, namespace="shop", generation_id=4, sync_id=77),
)


def rows_of(store: Store, paths: list[str], fmt: str, compression: str) -> list[dict[str, Any]]:
    return [canonical(row, PROPS, fmt) for path in paths for row in read_file(store.read(path), fmt, compression)]


def by_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["k"])


def column_names(data: bytes, fmt: str, compression: str) -> list[str]:
    if fmt == "parquet":
        return pq.read_schema(pa.BufferReader(data)).names
    text = decompress(data, compression).decode()
    if fmt == "csv":
        return [name.strip('"') for name in text.split("\n", 1)[0].split(",")]
    return list(read_file(data, fmt, compression)[0])


CASES = [
    ("local", "parquet", None),
    ("local", "csv", "gzip"),
    ("local", "jsonl", "none"),
    ("s3", "parquet", "zstd"),
    ("s3", "csv", "none"),
    ("s3", "jsonl", "zstd"),
    ("s3", "parquet", "gzip"),
]


@pytest.mark.parametrize(("where", "fmt", "compression"), CASES)
def test_write_reads_back(
    cli: Cli, request: pytest.FixtureRequest, where: str, fmt: str, compression: str | None
) -> None:
    store: Store = request.getfixturevalue(f"{where}_store")
    settings = {"format": fmt, "commit_interval_rows": 1} | ({"compression": compression} if compression else {})
    started = time.time()
    run = cli.write(store.config(**settings), CATALOG, messages())
    finished = time.time()
    assert run.exit_code == 0, run.describe()
    assert run.errors == []
    codec = compression or ("snappy" if fmt == "parquet" else "none")

    # every STATE echoed, in order, each with the records of its stream since that stream's previous STATE
    assert run.stream_states == [{"cursor": 1}, {"cursor": "a"}, {"cursor": 2}, {"cursor": "b"}]
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [2, 3, 2, 2]

    # the files: the default template, one part per stream per commit (at the chunk's last STATE, as the commit is due
    # after one row, then at the end of input)
    users = template_pattern(fmt, codec, "default/users/")
    orders = template_pattern(fmt, codec, "shop/orders/")
    files = store.files()
    assert len(files) == 3, files
    matched = [users.fullmatch(f) or orders.fullmatch(f) for f in files]
    assert all(matched), files
    assert sorted((m.re is users, m.group(3)) for m in matched) == [(False, "00001"), (True, "00001"), (True, "00002")]
    assert len({(m.group(1), m.group(2)) for m in matched}) == 1, "one sync: one {date} and one {timestamp}"
    stamp = int(matched[0].group(2)) / 1000
    assert started - 5 <= stamp <= finished, "{timestamp} is the sync's start, in epoch milliseconds"
    assert matched[0].group(1) == dt.datetime.fromtimestamp(stamp, dt.UTC).date().isoformat()
    user_files = sorted(f for f in files if users.fullmatch(f))
    order_files = [f for f in files if orders.fullmatch(f)]

    # compression: inside Parquet, or the whole file
    for path in files:
        data = store.read(path)
        if fmt == "parquet":
            meta = pq.ParquetFile(pa.BufferReader(data)).metadata
            codecs = {meta.row_group(0).column(c).compression for c in range(meta.num_columns)}
            assert codecs == {"UNCOMPRESSED" if codec == "none" else codec.upper()}
        else:
            magic = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}.get(codec)
            assert data.startswith(magic) if magic else data[:1] in (b"{", b'"'), data[:8]
        assert column_names(data, fmt, codec) == [*PROPS, *METADATA]

    # the values, as sent (typed), and the metadata columns
    got_users = rows_of(store, user_files, fmt, codec)
    got_orders = rows_of(store, order_files, fmt, codec)
    assert by_key(data_only(got_users, PROPS)) == by_key([expected(d, PROPS) for d in USERS + TRAILING])
    assert by_key(data_only(got_orders, PROPS)) == by_key([expected(d, PROPS) for d in ORDERS])
    assert [r["k"] for r in rows_of(store, user_files[1:], fmt, codec)] == ["u5"], "part 2: the rows after the STATE"
    everything = got_users + got_orders
    assert len({r["_airbyte_raw_id"] for r in everything}) == len(everything), "raw ids must be unique"
    extracted = dt.datetime.fromtimestamp(EMITTED_AT / 1000, dt.UTC)
    assert {r["_airbyte_extracted_at"] for r in everything} == {extracted}
    assert {r["_airbyte_generation_id"] for r in everything} == {4}
    assert [r["_airbyte_meta"] for r in everything] == [{"sync_id": 77, "changes": []}] * len(everything)

    if fmt == "parquet":
        schema = pq.read_schema(pa.BufferReader(store.read(user_files[0])))
        types = {name: schema.field(name).type for name in schema.names}
        assert types["id"] == pa.int64()
        assert types["x"] == pa.float64()
        assert types["b"] == pa.bool_()
        assert types["d"] == pa.date32()
        assert pa.types.is_timestamp(types["tz"]) and types["tz"].tz in ("UTC", "Etc/UTC", "+00:00")
        assert pa.types.is_timestamp(types["ts"]) and types["ts"].tz is None
        assert pa.types.is_time(types["t"])
        assert pa.types.is_timestamp(types["_airbyte_extracted_at"]) and types["_airbyte_extracted_at"].tz


def test_values_that_do_not_fit_are_nulled_and_named_in_meta(cli: Cli, local_store: LocalStore) -> None:
    props = {"k": {"type": "string"}, "id": {"type": "integer"}, "d": {"type": "string", "format": "date"}}
    sent = [
        record("t", {"k": "a", "id": "not a number", "d": "2024-13-45"}),
        record("t", {"k": "b", "id": 1.5, "d": "2024-01-01"}),
        record("t", {"k": "c", "id": 3, "d": "2024-01-02"}, emitted_at=1_600_000_000_000),
    ]
    run = cli.write(local_store.config(format="jsonl"), catalog(stream_entry("t", props)), sent)
    assert run.exit_code == 0, run.describe()
    (path,) = local_store.files("default/t/")
    rows = {r["k"]: canonical(r, props, "jsonl") for r in read_file(local_store.read(path), "jsonl")}
    nulled = {"change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
    assert rows["a"]["id"] is None and rows["a"]["d"] is None
    assert rows["a"]["_airbyte_meta"]["changes"] == [{"field": "id", **nulled}, {"field": "d", **nulled}]
    assert rows["b"]["id"] is None and rows["b"]["d"] == "2024-01-01"
    assert rows["b"]["_airbyte_meta"]["changes"] == [{"field": "id", **nulled}]
    assert rows["c"]["id"] == 3 and rows["c"]["_airbyte_meta"] == {"sync_id": 0, "changes": []}
    assert rows["c"]["_airbyte_extracted_at"] == dt.datetime(2020, 9, 13, 12, 26, 40, tzinfo=dt.UTC)
    assert rows["c"]["_airbyte_generation_id"] == 0


@pytest.mark.parametrize("ignore_namespace", [False, True])
def test_custom_template_namespace_and_generation(cli: Cli, s3_store: S3Store, ignore_namespace: bool) -> None:
    props = {"k": {"type": "string"}}
    config = s3_store.config(
        format="jsonl", compression="gzip", path_template="{namespace}/{stream}/g{generation}-{timestamp}-{part}",
        schema="landing", ignore_source_namespace=ignore_namespace,
    )  # fmt: skip
    cat = catalog(
        stream_entry("users", props, generation_id=3),
        stream_entry("orders", props, namespace="shop", generation_id=3),
    )
    run = cli.write(
        config, cat, [record("users", {"k": "u"}), record("orders", {"k": "o"}, namespace="shop"), state("users", 1)]
    )
    assert run.exit_code == 0, run.describe()
    files = s3_store.files()
    stamp = files[0].split("-")[1]  # one sync, one {timestamp} in every name
    orders = f"{'landing' if ignore_namespace else 'shop'}/orders/g3-{stamp}-00001.jsonl.gz"
    users = f"landing/users/g3-{stamp}-00001.jsonl.gz"
    assert files == sorted([users, orders])
    assert [r["k"] for r in read_file(s3_store.read(orders), "jsonl", "gzip")] == ["o"]
    assert [r["k"] for r in read_file(s3_store.read(users), "jsonl", "gzip")] == ["u"]


def test_s3_write_creates_only_data_objects(cli: Cli, s3_store: S3Store) -> None:
    """S3 has no folders: a write leaves the data files and nothing else (no zero-byte 'folder/' marker objects,
    which listings and some readers take for empty files)."""
    run = cli.write(s3_store.config(format="csv", commit_interval_rows=1), CATALOG, messages())
    assert run.exit_code == 0, run.describe()
    keys = s3_store.all_keys()
    assert len([k for k in keys if not k.endswith("/")]) == 3, keys
    assert [k for k in keys if k.endswith("/")] == [], "zero-byte folder marker objects were created"


def test_many_rows_many_chunks_one_file(cli: Cli, local_store: LocalStore) -> None:
    """Enough rows for several parse batches: one part file with every row exactly once, counts in the STATE."""
    props = {"id": {"type": "integer"}, "v": {"type": "string"}}
    count = 50_000
    sent: list[dict[str, Any]] = [record("big", {"id": n, "v": f"value {n}" * (n % 5)}) for n in range(count)]
    sent.append(state("big", {"done": True}))
    run = cli.write(local_store.config(), catalog(stream_entry("big", props)), sent)
    assert run.exit_code == 0, run.describe()
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [count]
    (path,) = local_store.files()
    table = pq.read_table(local_store.folder / path)
    assert Counter(table.column("id").to_pylist()) == Counter(range(count))
    ids = table.column("id").to_pylist()
    values = dict(zip(ids, table.column("v").to_pylist(), strict=True))
    assert all(values[n] == f"value {n}" * (n % 5) for n in (0, 1, 4, 12_345, count - 1))
    assert len(set(table.column("_airbyte_raw_id").to_pylist())) == count
    assert all(uuid.UUID(x) for x in table.column("_airbyte_raw_id").to_pylist()[:10])


def test_names_are_used_verbatim_in_paths(cli: Cli, local_store: LocalStore) -> None:
    """Stream and namespace names go into the path as they are, even when they look like template placeholders."""
    props = {"k": {"type": "string"}}
    cat = catalog(
        stream_entry("{part}", props, namespace="ns {date}", mode="overwrite"),
        stream_entry("Ünï côdé", props, namespace="x", mode="overwrite"),
    )
    sent = [record("{part}", {"k": "braces"}, "ns {date}"), record("Ünï côdé", {"k": "unicode"}, "x"),
            state("{part}", 1, "ns {date}"), state("Ünï côdé", 1, "x")]  # fmt: skip
    config = local_store.config(format="jsonl", path_template="{namespace}/{stream}/{timestamp}_{part}")
    run = cli.write(config, cat, sent)
    assert run.exit_code == 0, run.describe()
    files = local_store.files()
    stamp = files[0].rsplit("/", 1)[1].split("_")[0]
    assert files == [f"ns {{date}}/{{part}}/{stamp}_00001.jsonl", f"x/Ünï côdé/{stamp}_00001.jsonl"]


def test_jsonl_nulls_nan_and_infinity_and_names_them_in_meta(cli: Cli, local_store: LocalStore) -> None:
    """JSON has no NaN or Infinity: in JSONL such a number is written as null, named in `_airbyte_meta.changes` after
    the source's own changes, and every line stays JSON."""
    props = {"k": {"type": "string"}, "n": {"type": "number"}, "m": {"type": ["null", "number"]}}
    source_change = {"field": "k", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
    sent = [
        record("t", {"k": "nan", "n": "NaN", "m": 1.5}),
        record("t", {"k": "inf", "n": "Infinity", "m": "-Infinity"}, meta={"changes": [source_change]}),
        record("t", {"k": "ok", "n": 2.5, "m": None}),
        state("t", 1),
    ]
    run = cli.write(
        local_store.config(format="jsonl"), catalog(stream_entry("t", props, generation_id=1, sync_id=5)), sent
    )
    assert run.exit_code == 0, run.describe()
    (path,) = local_store.files("default/t/")

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    rows = {
        row["k"]: row
        for row in (json.loads(line, parse_constant=strict) for line in local_store.read(path).splitlines())
    }
    nulled = {"change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
    assert (rows["nan"]["n"], rows["nan"]["m"]) == (None, 1.5)
    assert rows["nan"]["_airbyte_meta"] == {"sync_id": 5, "changes": [{"field": "n", **nulled}]}
    assert (rows["inf"]["n"], rows["inf"]["m"]) == (None, None)
    changes = [source_change, {"field": "n", **nulled}, {"field": "m", **nulled}]
    assert rows["inf"]["_airbyte_meta"] == {"sync_id": 5, "changes": changes}
    assert (rows["ok"]["n"], rows["ok"]["m"]) == (2.5, None)
    assert rows["ok"]["_airbyte_meta"] == {"sync_id": 5, "changes": []}


def test_csv_numbers_keep_their_digits(cli: Cli, store: Store) -> None:
    """CSV writes a number's own text where a double would drop digits (the source's digits, as sent)."""
    props = {"k": {"type": "string"}, "x": {"type": "number"}}
    numbers = ["12345678901234567890.123", "123456789.123456789", "-98765432109876543210", "12.5"]
    sent: list[dict[str, Any] | str] = [
        f'{{"type":"RECORD","record":{{"stream":"t","emitted_at":1,"data":{{"k":"r{n}","x":{text}}}}}}}'
        for n, text in enumerate(numbers)
    ]
    run = cli.write(store.config(format="csv"), catalog(stream_entry("t", props)), [*sent, state("t", 1)])
    assert run.exit_code == 0, run.describe()
    (path,) = store.files("default/t/")
    got = {row["k"]: row["x"] for row in read_file(store.read(path), "csv")}
    assert got == {f"r{n}": text for n, text in enumerate(numbers)}
