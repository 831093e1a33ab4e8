"""`read` of local files: values as typed JSON, file metadata on every record, a STATE after the last file.

One discover and one full-refresh read over a stream of each kind are shared by most tests of this module.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from source_core.testing import Run

from . import samples
from .conftest import (
    BASE_NS,
    FILE_MODIFIED,
    FILE_URL,
    Connector,
    config_of,
    configured_catalog,
    iso_of_ns,
    set_mtime,
    stream,
    write,
    write_gzip,
    write_zstd,
)
from .samples import strict

SECOND = 10**9
# every file gets its own modification time (ns, with digits below the microsecond that must be dropped)
MTIMES = {
    "values.csv": BASE_NS + 1 * SECOND + 111_222_333,
    "latin1.csv": BASE_NS + 2 * SECOND,
    "noheader.csv": BASE_NS + 3 * SECOND,
    "compressed/small.csv.gz": BASE_NS + 4 * SECOND,
    "compressed/small.csv.zst": BASE_NS + 5 * SECOND,
    "compressed/small.jsonl.bz2": BASE_NS + 6 * SECOND,
    "nested.jsonl": BASE_NS + 7 * SECOND,
    "numbers.jsonl": BASE_NS + 8 * SECOND,
    "types.parquet": BASE_NS + 9 * SECOND,
    # three files of one stream, oldest first; their names sort the other way round
    "multi/z.csv": BASE_NS + 10 * SECOND + 1_000,
    "multi/x/a.csv": BASE_NS + 11 * SECOND + 2_000,
    "multi/x/y/m.csv": BASE_NS + 12 * SECOND + 3_999,
    "multi/x/notes.txt": BASE_NS + 13 * SECOND,
}
MULTI = {  # file -> ids in it
    "multi/z.csv": [1, 2],
    "multi/x/a.csv": [3, 4, 5],
    "multi/x/y/m.csv": [6],
}


class Sync:
    """The shared discover + full refresh of this module's files."""

    def __init__(self, folder: Path, connector: Connector, config: dict, catalog: dict[str, dict], run: Run):
        self.folder, self.connector, self.config, self.catalog, self.run = folder, connector, config, catalog, run

    def records(self, name: str) -> list[dict[str, Any]]:
        return [r["data"] for r in self.run.records if r["stream"] == name]

    def values(self, name: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k not in (FILE_URL, FILE_MODIFIED)} for d in self.records(name)]

    def states(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.run.states if s["stream"]["stream_descriptor"]["name"] == name]

    def path(self, name: str) -> str:
        return str(self.folder / name)


@pytest.fixture(scope="module")
def sync(tmp_path_factory) -> Sync:
    data = tmp_path_factory.mktemp("read")
    write(data / "values.csv", samples.VALUES_CSV)
    write(data / "latin1.csv", samples.LATIN1_CSV)
    write(data / "noheader.csv", samples.NO_HEADER_CSV)
    write_gzip(data / "compressed" / "small.csv.gz", samples.SMALL_CSV.decode())
    write_zstd(data / "compressed" / "small.csv.zst", samples.SMALL_CSV.decode())
    write(data / "compressed" / "small.jsonl.bz2", samples.bzipped(samples.SMALL_JSONL))
    write(data / "nested.jsonl", samples.NESTED_JSONL)
    write(data / "numbers.jsonl", samples.NUMBERS_JSONL)
    write(data / "types.parquet", samples.parquet_bytes())
    for name, ids in MULTI.items():
        write(data / name, "id,word\n" + "".join(f"{i},w{i}\n" for i in ids))
    write(data / "multi" / "x" / "notes.txt", "id,word\n99,not matched\n")
    for name, ns in MTIMES.items():
        set_mtime(data / name, ns)
    config = config_of(
        stream("values", data / "values.csv"),
        stream("latin1", data / "latin1.csv", csv={"delimiter": ";", "encoding": "latin1"}),
        stream("noheader", data / "noheader.csv", csv={"header": False, "column_names": ["num", "word"]}),
        stream("gz", data / "compressed" / "*.csv.gz"),
        stream("zst", data / "compressed" / "*.zst"),
        stream("bz2", data / "compressed" / "*.jsonl.bz2"),
        stream("nested", data / "nested.jsonl"),
        stream("numbers", data / "numbers.jsonl"),
        stream("parquet", data / "types.parquet"),
        # two globs that overlap: a.csv matches both and is still read once
        stream("multi", data / "multi" / "**" / "*.csv", data / "multi" / "x" / "*.csv"),
    )
    connector = Connector(tmp_path_factory.mktemp("connector"))
    catalog = connector.streams(config)
    run = connector.run("read", config, configured_catalog(catalog.values()))
    assert run.exit_code == 0, run.describe()
    return Sync(data, connector, config, catalog, run)


def test_csv_values_are_typed_json(sync):
    assert strict(sync.values("values")) == strict(samples.VALUES_ROWS)
    # the decimal reaches stdout with every digit, as a JSON number
    assert f'"amount":{samples.BIG},' in sync.run.stdout


def test_semicolon_delimiter_and_latin1(sync):
    assert strict(sync.values("latin1")) == strict(samples.LATIN1_ROWS)


def test_no_header_with_column_names(sync):
    assert set(sync.catalog["noheader"]["json_schema"]["properties"]) >= {"num", "word"}
    assert strict(sync.values("noheader")) == strict(samples.NO_HEADER_ROWS)


@pytest.mark.parametrize("name", ["gz", "zst", "bz2"])
def test_compressed_files(sync, name):
    assert strict(sync.values(name)) == strict(samples.SMALL_CSV_ROWS)


def test_jsonl_nested_values(sync):
    assert strict(sync.values("nested")) == strict(samples.NESTED_ROWS)


def test_jsonl_numbers_keep_their_digits(sync):
    assert strict(sync.values("numbers")) == strict(samples.NUMBERS_ROWS)
    assert f'"big":{samples.BIG},' in sync.run.stdout


def test_parquet_values(sync):
    assert strict(sync.values("parquet")) == strict(samples.PARQUET_ROWS)
    assert f'"dec":{samples.BIG},' in sync.run.stdout


def test_records_fit_the_discovered_schema(sync):
    for name, stream_ in sync.catalog.items():
        validator = jsonschema.Draft7Validator(stream_["json_schema"])
        records = sync.records(name)
        assert records, name
        for record in records:
            errors = [e.message for e in validator.iter_errors(record)]
            assert not errors, (name, record, errors)
            assert list(record) == list(stream_["json_schema"]["properties"]), (name, record)


def test_every_record_names_its_file_and_modification_time(sync):
    single = {"values": "values.csv", "latin1": "latin1.csv", "noheader": "noheader.csv",
              "gz": "compressed/small.csv.gz", "zst": "compressed/small.csv.zst", "bz2": "compressed/small.jsonl.bz2",
              "nested": "nested.jsonl", "numbers": "numbers.jsonl", "parquet": "types.parquet"}  # fmt: skip
    for name, file in single.items():
        records = sync.records(name)
        assert records, name
        for record in records:
            assert record[FILE_URL] == sync.path(file), (name, record)
            assert record[FILE_MODIFIED] == iso_of_ns(MTIMES[file]), (name, record)
    assert sync.records("values")[0][FILE_MODIFIED] == "2023-11-14T22:13:21.111222Z"
    for record in sync.records("multi"):
        file = next(f for f, ids in MULTI.items() if record["id"] in ids)
        assert record[FILE_URL] == sync.path(file)
        assert record[FILE_MODIFIED] == iso_of_ns(MTIMES[file])


def test_files_are_read_oldest_first_with_a_state_after_the_last(sync):
    """Read within the checkpoint interval (10 s), the files get one STATE, after the last: it holds them all."""
    run = sync.run
    multi = [(kind, value) for kind, value in stream_sequence(run, "multi")]
    got = [("RECORD", value["id"]) if kind == "RECORD" else ("STATE", value) for kind, value in multi]
    newest = MTIMES["multi/x/y/m.csv"]
    history = {sync.path(f): [MTIMES[f] // 1000, Path(sync.path(f)).stat().st_size] for f in MULTI}
    assert got == [("RECORD", i) for i in [1, 2, 3, 4, 5, 6]] + [
        ("STATE", {"cursor": iso_of_ns(newest), "modified_us": newest // 1000, "history": history,
                   "full_refresh": True}),
        ("STATE", {"__ab_full_refresh_sync_complete": True}),
    ]  # fmt: skip
    assert [s["sourceStats"]["recordCount"] for s in sync.states("multi")] == [6, 0]


def test_every_stream_gets_a_state_and_statuses(sync):
    for name in sync.catalog:
        states = sync.states(name)
        assert len(states) == 2, name  # after the last file, and the end of the full refresh
        assert states[-1]["stream"]["stream_state"] == {"__ab_full_refresh_sync_complete": True}
        assert sum(s["sourceStats"]["recordCount"] for s in states) == len(sync.records(name))
        assert [s for n, s in sync.run.statuses if n == name] == ["STARTED", "RUNNING", "COMPLETE"], name
    assert sync.run.errors == []


def test_second_full_refresh_from_the_complete_state_reads_everything_again(sync):
    (last,) = [s for s in sync.states("multi") if s["stream"]["stream_state"].get("__ab_full_refresh_sync_complete")]
    again = sync.connector.run(
        "read",
        sync.config,
        configured_catalog(sync.catalog.values(), names=["multi"]),
        [{"type": "STREAM", "stream": last["stream"]}],
    )
    assert again.exit_code == 0, again.describe()
    assert [r["id"] for r in again.data] == [1, 2, 3, 4, 5, 6]
    assert strict(again.data) == strict(sync.records("multi"))
    assert again.stream_states[-1] == {"__ab_full_refresh_sync_complete": True}
    assert [s["sourceStats"]["recordCount"] for s in again.states] == [6, 0]


def stream_sequence(run: Run, name: str) -> list[tuple[str, Any]]:
    out = []
    for m in run.messages:
        if m["type"] == "RECORD" and m["record"]["stream"] == name:
            out.append(("RECORD", m["record"]["data"]))
        elif m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == name:
            out.append(("STATE", m["state"]["stream"]["stream_state"]))
    return out


# ---------------------------------------------------------------- Parquet values at the edges of their types


def _parquet(path: Path, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    write(path, sink.getvalue())


@pytest.fixture(scope="module")
def edge(tmp_path_factory) -> Run:
    data = tmp_path_factory.mktemp("edge")
    _parquet(data / "u64.parquet", pa.table({"v": pa.array([18446744073709551615, 0], pa.uint64())}))
    big = Decimal("1234567890123456789012345678901234567890.12")
    _parquet(data / "d256.parquet", pa.table({"v": pa.array([big, None], pa.decimal256(42, 2))}))
    _parquet(data / "floats.parquet", pa.table({"v": pa.array([float("nan"), 0.1, float("-inf")], pa.float64())}))
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    times = {
        "ns": pa.array([when], pa.timestamp("ns")),
        "d64": pa.array([dt.date(2024, 5, 6)], pa.date64()),
        "t": pa.array([dt.time(1, 2, 3, 456789)], pa.time64("us")),
    }
    _parquet(data / "times.parquet", pa.table(times))
    raw = b"\x01\x02\xfe\xff"
    _parquet(
        data / "bytes.parquet", pa.table({"bin": pa.array([raw], pa.binary()), "fixed": pa.array([raw], pa.binary(4))})
    )
    names = ("u64", "d256", "floats", "times", "bytes")
    config = config_of(*(stream(n, data / f"{n}.parquet") for n in names))
    connector = Connector(tmp_path_factory.mktemp("connector"))
    return connector.run("read", config, configured_catalog(connector.streams(config).values()))


def _edge_values(run: Run, name: str) -> list[Any]:
    errors = [e["message"] for e in run.errors if (e.get("stream_descriptor") or {}).get("name") == name]
    assert not errors, errors
    assert (name, "COMPLETE") in run.statuses, run.describe()
    return [r["data"]["v"] if "v" in r["data"] else r["data"] for r in run.records if r["stream"] == name]


def test_parquet_uint64_beyond_int64(edge):
    assert strict(_edge_values(edge, "u64")) == strict([18446744073709551615, 0])
    assert '"v":18446744073709551615,' in edge.stdout


def test_parquet_decimal256(edge):
    assert strict(_edge_values(edge, "d256")) == strict([Decimal("1234567890123456789012345678901234567890.12"), None])


def test_parquet_non_finite_floats_become_null_with_a_change_note(edge):
    assert strict(_edge_values(edge, "floats")) == strict([None, Decimal("0.1"), None])
    metas = [r.get("meta") for r in edge.records if r["stream"] == "floats"]
    change = {"changes": [{"field": "v", "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}]}
    assert metas == [change, None, change]


def test_parquet_time_types(edge):
    (row,) = _edge_values(edge, "times")
    assert {k: row[k] for k in ("ns", "d64", "t")} == {
        "ns": "2024-05-06T07:08:09.123456",
        "d64": "2024-05-06",
        "t": "01:02:03.456789",
    }


def test_parquet_binary_of_any_width_is_base64(edge):
    (row,) = _edge_values(edge, "bytes")
    assert {k: row[k] for k in ("bin", "fixed")} == {"bin": "AQL+/w==", "fixed": "AQL+/w=="}


def test_times_with_and_without_time_zone_from_a_user_schema(connector, data_dir: Path):
    """A `time_with_timezone` column keeps each value's offset; a `time_without_timezone` column has none."""
    write(data_dir / "times.csv", "tz,plain\n10:15:00+05:30,10:15:00\n23:59:59.5-08:00,23:59:59.5\n,\n")
    schema = {"type": "object", "properties": {
        "tz": {"type": ["null", "string"], "format": "time", "airbyte_type": "time_with_timezone"},
        "plain": {"type": ["null", "string"], "format": "time", "airbyte_type": "time_without_timezone"}}}  # fmt: skip
    config = config_of(stream("times", data_dir / "times.csv", schema=schema))
    found = connector.run("discover", config)
    (catalog,) = [m["catalog"] for m in found.of("CATALOG")]
    run = connector.run("read", config, configured_catalog(catalog["streams"]))
    assert run.exit_code == 0, run.stderr
    values = [(d["tz"], d["plain"]) for d in run.data]
    assert [(dt.time.fromisoformat(a).utcoffset() if a else None) for a, _ in values] == [
        dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-8), None]  # fmt: skip
    assert [(dt.time.fromisoformat(a).replace(tzinfo=None) if a else None) for a, _ in values] == [
        dt.time(10, 15), dt.time(23, 59, 59, 500000), None]  # fmt: skip
    plain = [dt.time.fromisoformat(b) if b else None for _, b in values]
    assert plain == [dt.time(10, 15), dt.time(23, 59, 59, 500000), None]
    assert all(t is None or t.tzinfo is None for t in plain)


def test_a_date_time_without_offset_in_a_zoned_column_is_utc_whatever_the_host_zone(connector, data_dir, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # the connector's process inherits it
    write(data_dir / "zoned.csv", "ts\n2024-01-01T10:00:00\n2024-01-01T10:00:00+02:00\n")
    schema = {"type": "object", "properties": {
        "ts": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}}}  # fmt: skip
    config = config_of(stream("zoned", data_dir / "zoned.csv", schema=schema))
    (catalog,) = [m["catalog"] for m in connector.run("discover", config).of("CATALOG")]
    run = connector.run("read", config, configured_catalog(catalog["streams"]))
    assert run.exit_code == 0, run.stderr
    assert [dt.datetime.fromisoformat(d["ts"]) for d in run.data] == [
        dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)]  # fmt: skip


def test_brace_globs_match_each_alternative(connector, data_dir: Path):
    write(data_dir / "a.csv", "id\n1\n")
    write(data_dir / "b.jsonl", '{"id": 2}\n')
    write(data_dir / "c.parquet.txt", "id\n3\n")
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    for glob in ("*.{csv,jsonl}", "{a,b}.*"):
        config = config_of(stream("braces", data_dir / glob, schema=schema))
        run = connector.run("read", config, connector.catalog(config))
        assert run.exit_code == 0, run.describe()
        assert sorted(d["id"] for d in run.data) == [1, 2], glob


def test_empty_files_have_no_rows(connector, data_dir: Path):
    """Empty files, or files of blank lines, are read as 0 rows and checkpointed, not a failed stream."""
    write(data_dir / "a_empty.csv", b"")
    write_gzip(data_dir / "b_empty.csv.gz", "")
    write(data_dir / "c_blank.csv", "\n\n")
    write(data_dir / "d.csv", "id\n1\n")
    for number, name in enumerate(("a_empty.csv", "b_empty.csv.gz", "c_blank.csv", "d.csv")):
        set_mtime(data_dir / name, BASE_NS + number * SECOND)
    config = config_of(stream("files", data_dir / "*.csv*"), checkpoint_interval_seconds=0)
    run = connector.run("read", config, connector.catalog(config, "incremental"))
    assert run.exit_code == 0, run.describe()
    assert [d["id"] for d in run.data] == [1]
    assert [len(s["history"]) for s in run.stream_states] == [1, 2, 3, 4]


def test_jsonl_utf8_bom_is_not_part_of_the_first_line(connector, data_dir: Path):
    write(data_dir / "bom.jsonl", b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n')
    for on_error in ("fail", "skip"):
        config = config_of(stream("bom", data_dir / "bom.jsonl", on_error=on_error))
        run = connector.run("read", config, connector.catalog(config))
        assert run.exit_code == 0, run.describe()
        assert [d["id"] for d in run.data] == [1, 2], on_error


def test_quoted_empty_value_is_null_in_a_typed_column_and_empty_text_in_a_string_column(connector, data_dir: Path):
    """A fully quoted CSV (QUOTE_ALL, COPY ... FORCE_QUOTE *): inference takes "" as no value, so the read does."""
    write(data_dir / "quoted.csv", '"id","amount","day","flag","name"\n"1","2.5","2024-01-01","true","x"\n'
                                   '"2","","","",""\n')  # fmt: skip
    config = config_of(stream("quoted", data_dir / "quoted.csv"))
    run = connector.run("read", config, connector.catalog(config))
    assert run.exit_code == 0, run.describe()
    values = [{k: v for k, v in d.items() if k not in (FILE_URL, FILE_MODIFIED)} for d in run.data]
    assert strict(values) == strict([
        {"id": 1, "amount": Decimal("2.5"), "day": "2024-01-01", "flag": True, "name": "x"},
        {"id": 2, "amount": None, "day": None, "flag": None, "name": ""},
    ])  # fmt: skip
