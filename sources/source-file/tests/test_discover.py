"""`discover`: the JSON schemas inferred from CSV/JSONL samples and Parquet metadata, and a user schema winning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import (
    BASE_NS,
    FILE_MODIFIED,
    FILE_URL,
    Connector,
    config_of,
    configured_catalog,
    jsonl,
    set_mtime,
    stream,
    write,
)

METADATA = {
    FILE_URL: {"type": "string"},
    FILE_MODIFIED: {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
}

TYPES_CSV = """\
int,num,flag,day,text,mixed_date,mixed_num,empty,ts,ts_tz
1,1.5,true,2024-01-02,hello,2024-01-01,1,,2024-01-02 10:00:00,2024-01-02T10:00:00Z
-20,2,false,2024-02-29,"a, b",01/02/2024,x,,2024-01-03 11:30:00,2024-01-03T11:30:00+02:00
300,-0.25,TRUE,1999-12-31,world,2024-03-01,3,,2024-01-04 00:00:00,2024-01-04T00:00:00Z
"""

USER_SCHEMA = {
    "type": "object",
    "properties": {
        "int": {"type": ["null", "string"]},
        "extra": {"type": ["null", "number"]},
        "when": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
    },
}


def parquet_table() -> pa.Table:
    return pa.table(
        {
            "i64": pa.array([1, None], pa.int64()),
            "i32": pa.array([7, 8], pa.int32()),
            "f64": pa.array([1.25, None], pa.float64()),
            "dec": pa.array([Decimal("12345678901234567890.123"), None], pa.decimal128(23, 3)),
            "flag": pa.array([True, None]),
            "day": pa.array([dt.date(2024, 1, 2), None]),
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us")),
            "ts_tz": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")),
            "text": pa.array(["x", None]),
            "items": pa.array([[1, 2], None], pa.list_(pa.int64())),
            "obj": pa.array([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        }
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> dict[str, dict]:
    """One discover over a stream of each kind (one CLI run for the whole module)."""
    data = tmp_path_factory.mktemp("discover")
    write(data / "types.csv", TYPES_CSV)
    write(data / "nested" / "a.jsonl", jsonl(
        {"id": 1, "name": "a", "obj": {"k": "v", "deep": {"n": 1}}, "items": [1, 2], "objs": [{"x": 1}],
         "ratio": 0.5, "ok": True},
        {"id": 2, "name": None, "obj": None, "items": [], "objs": [], "ratio": 2, "ok": False},
        {"id": 3},
    ))  # fmt: skip
    pq.write_table(parquet_table(), data / "types.parquet")
    write(data / "user" / "a.csv", "int,other\n1,2\n")
    config = config_of(
        stream("csv", data / "types.csv"),
        stream("jsonl", data / "**" / "*.jsonl"),
        stream("parquet", data / "*.parquet"),
        stream("user", data / "user" / "*.csv", schema=USER_SCHEMA),
        stream("user_no_files", data / "nothing-here" / "*.csv", schema=USER_SCHEMA),
    )
    return Connector(tmp_path_factory.mktemp("connector")).streams(config)


def props(catalog: dict[str, dict], name: str) -> dict[str, dict]:
    return {k: v for k, v in catalog[name]["json_schema"]["properties"].items() if k not in METADATA}


def test_every_stream_is_described_the_same_way(catalog):
    assert set(catalog) == {"csv", "jsonl", "parquet", "user", "user_no_files"}
    for stream_ in catalog.values():
        jsonschema.Draft7Validator.check_schema(stream_["json_schema"])
        assert stream_["json_schema"]["type"] == "object"
        assert stream_["supported_sync_modes"] == ["full_refresh", "incremental"]
        assert stream_["source_defined_cursor"] is True
        assert stream_["default_cursor_field"] == [FILE_MODIFIED]
        properties = stream_["json_schema"]["properties"]
        assert properties[FILE_URL] == METADATA[FILE_URL]
        assert properties[FILE_MODIFIED] == METADATA[FILE_MODIFIED]


def test_csv_types_inferred_from_a_sample(catalog):
    assert props(catalog, "csv") == {
        "int": {"type": ["null", "integer"]},
        "num": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "day": {"type": ["null", "string"], "format": "date"},
        "text": {"type": ["null", "string"]},
        "mixed_date": {"type": ["null", "string"]},  # 2024-01-01 and 01/02/2024: no single format
        "mixed_num": {"type": ["null", "string"]},  # 1, x, 3
        "empty": {"type": ["null", "string"]},
        "ts": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
        "ts_tz": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
    }
    assert list(props(catalog, "csv")) == TYPES_CSV.splitlines()[0].split(",")  # the file's column order


def test_jsonl_nested_values_are_objects_and_arrays(catalog):
    assert props(catalog, "jsonl") == {
        "id": {"type": ["null", "integer"]},
        "name": {"type": ["null", "string"]},
        "obj": {"type": ["null", "object"]},
        "items": {"type": ["null", "array"]},
        "objs": {"type": ["null", "array"]},
        "ratio": {"type": ["null", "number"]},
        "ok": {"type": ["null", "boolean"]},
    }


def test_parquet_types_come_from_its_metadata(catalog):
    assert props(catalog, "parquet") == {
        "i64": {"type": ["null", "integer"]},
        "i32": {"type": ["null", "integer"]},
        "f64": {"type": ["null", "number"]},
        "dec": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "day": {"type": ["null", "string"], "format": "date"},
        "ts": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
        "ts_tz": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
        "text": {"type": ["null", "string"]},
        "items": {"type": ["null", "array"]},
        "obj": {"type": ["null", "object"]},
    }


def test_user_schema_wins_over_the_files(catalog):
    # the file says int is an integer and has a column `other`: the user's schema is what counts
    assert props(catalog, "user") == USER_SCHEMA["properties"]
    assert props(catalog, "user_no_files") == USER_SCHEMA["properties"]


def test_stream_without_files_or_schema_is_a_config_error(connector, data_dir: Path):
    write(data_dir / "a.csv", "id\n1\n")
    config = config_of(stream("fine", data_dir / "*.csv"), stream("empty", data_dir / "none" / "**" / "*.csv"))
    run = connector.run("discover", config)
    assert run.exit_code != 0, run.describe()
    assert run.of("CATALOG") == []
    (error,) = run.errors
    assert error["failure_type"] == "config_error"
    assert "'empty'" in error["message"]
    assert "schema" in error["message"]
    assert str(data_dir / "none" / "**" / "*.csv") in error["message"]


def test_jsonl_columns_of_mixed_json_types(connector, data_dir: Path):
    """A field that is a number in one line and a string in the next, and a list mixing both, are valid JSONL:
    discover must give them a type that holds every value instead of failing."""
    write(data_dir / "mixed.jsonl", jsonl({"id": 1, "v": 1, "l": [1, "a"]}, {"id": 2, "v": "z", "l": []}))
    run = connector.run("discover", config_of(stream("mixed", data_dir / "mixed.jsonl")))
    assert run.exit_code == 0, run.describe()
    properties = props(run.catalog, "mixed")
    assert properties["id"] == {"type": ["null", "integer"]}
    assert "string" in properties["v"]["type"], properties["v"]
    assert "array" in properties["l"]["type"], properties["l"]


def test_discover_with_on_error_skip_ignores_a_bad_jsonl_line(connector, data_dir: Path):
    """With `on_error: skip` a line that is not JSON is left out of the read, so it must not stop discover."""
    write(data_dir / "some-bad.jsonl", '{"id": 1, "v": "a"}\nnot json at all\n{"id": 3, "v": "c"}\n')
    run = connector.run("discover", config_of(stream("s", data_dir / "some-bad.jsonl", on_error="skip")))
    assert run.exit_code == 0, run.describe()
    assert props(run.catalog, "s") == {"id": {"type": ["null", "integer"]}, "v": {"type": ["null", "string"]}}


def test_csv_codes_with_leading_zeros_stay_strings(connector, data_dir: Path):
    """007 or 0123 as a number would lose its zeros: such a column is a string; 0, 0.5 and 10 stay numbers."""
    write(data_dir / "codes.csv", "id,code,signed,padded_num,zero,ratio\n1,007,-01,00.5,0,0.5\n2,0123,3,1.5,10,2\n")
    config = config_of(stream("codes", data_dir / "codes.csv"))
    run = connector.run("discover", config)
    assert run.exit_code == 0, run.describe()
    assert props(run.catalog, "codes") == {
        "id": {"type": ["null", "integer"]},
        "code": {"type": ["null", "string"]},
        "signed": {"type": ["null", "string"]},
        "padded_num": {"type": ["null", "string"]},
        "zero": {"type": ["null", "integer"]},
        "ratio": {"type": ["null", "number"]},
    }
    read = connector.run("read", config, configured_catalog(run.catalog.values()))
    assert read.exit_code == 0, read.describe()
    assert [(d["code"], d["signed"]) for d in read.data] == [("007", "-01"), ("0123", "3")]


def test_empty_newest_csv_files_are_skipped_for_the_schema(connector, data_dir: Path):
    """The newest files have no rows (0 bytes, a header only, blank lines): the schema is the newest file's with rows,
    and check and discover succeed."""
    write(data_dir / "a_rows.csv", "id,when\n1,2024-01-02\n")
    write(data_dir / "b_older_rows.csv", "id,when\nx,y\n")  # older than a_rows: not the one to go by
    write(data_dir / "c_empty.csv", b"")
    write(data_dir / "d_header.csv", "id,when\n")
    write(data_dir / "e_blank.csv", "\n\n")
    for number, name in enumerate(("b_older_rows.csv", "a_rows.csv", "c_empty.csv", "d_header.csv", "e_blank.csv")):
        set_mtime(data_dir / name, BASE_NS + number * 10**9)
    config = config_of(stream("s", data_dir / "*.csv"))
    check = connector.run("check", config)
    assert check.exit_code == 0, check.describe()
    assert check.connection_status == {"status": "SUCCEEDED"}, check.connection_status
    run = connector.run("discover", config)
    assert run.exit_code == 0, run.describe()
    assert props(run.catalog, "s") == {"id": {"type": ["null", "integer"]}, "when": {"type": ["null", "string"],
                                                                                       "format": "date"}}  # fmt: skip


def test_stream_whose_files_are_all_empty(connector, data_dir: Path):
    """No file has rows: discover gives the stream with only the metadata columns (or a header's columns, as text),
    and check succeeds saying which streams have only empty files, as it does for a stream without files."""
    write(data_dir / "none" / "a.csv", b"")
    write(data_dir / "none" / "b.csv", "\n\n")
    write(data_dir / "none" / "c.jsonl", "\n")
    write(data_dir / "header" / "a.csv", "id,name\n")
    write(data_dir / "fine.csv", "id\n1\n")
    config = config_of(stream("none", data_dir / "none" / "*"), stream("header", data_dir / "header" / "*.csv"),
                       stream("fine", data_dir / "fine.csv"))  # fmt: skip
    run = connector.run("discover", config)
    assert run.exit_code == 0, run.describe()
    assert props(run.catalog, "none") == {}
    assert props(run.catalog, "header") == {"id": {"type": ["null", "string"]}, "name": {"type": ["null", "string"]}}
    check = connector.run("check", config)
    assert check.exit_code == 0, check.describe()
    assert check.connection_status["status"] == "SUCCEEDED", check.connection_status
    message = check.connection_status["message"]
    assert "none" in message and "header" in message and "empty" in message, message
    assert "fine" not in message, message


def test_jsonl_dates_only_in_the_formats_the_read_takes(connector, data_dir: Path):
    """DuckDB's inference also guesses day-first date-times and two-digit years, which the read (ISO 8601 casts)
    does not take or takes otherwise: such a field is a string, so that the read neither fails nor moves years."""
    rows = [
        {"dmy": "13-01-2024 10:00:00", "yy": "24-01-02", "day": "2024-01-02", "at": "2024-01-02T03:04:05Z"},
        {"dmy": "02-01-2024 11:30:00", "yy": "24-12-31", "day": "2024-12-31", "at": "2024-12-31T23:59:59+02:00"},
    ]
    write(data_dir / "dates.jsonl", jsonl(*rows))
    config = config_of(stream("dates", data_dir / "dates.jsonl"))
    catalog = connector.streams(config)
    properties = props(catalog, "dates")
    assert properties["dmy"] == {"type": ["null", "string"]}
    assert properties["yy"] == {"type": ["null", "string"]}
    assert properties["day"] == {"type": ["null", "string"], "format": "date"}
    assert properties["at"]["airbyte_type"] == "timestamp_with_timezone"
    run = connector.run("read", config, configured_catalog(catalog.values()))
    assert run.exit_code == 0, run.describe()
    read = [{k: r["data"][k] for k in rows[0]} for r in run.records]
    assert [(r["dmy"], r["yy"], r["day"]) for r in read] == [(r["dmy"], r["yy"], r["day"]) for r in rows]
    assert [r["at"] for r in read] == ["2024-01-02T03:04:05.000000Z", "2024-12-31T21:59:59.000000Z"]
