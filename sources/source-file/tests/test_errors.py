"""Bad rows and unreadable files: with `on_error: fail` (the default) a TRACE ERROR naming the file and the line
(and the column, for a value); with `on_error: skip` the bad rows or files are left out, counted in the logs.

Each mode is one read over a stream per case (a failing stream does not stop the others). Blocks are 64 KiB
so that the long files are read in several blocks and line numbers must carry over from one to the next.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from source_core.testing import Run

from .conftest import FILE_MODIFIED, FILE_URL, Connector, config_of, stream, write

ID_V = {"type": "object", "properties": {"id": {"type": "integer"}, "v": {"type": "string"}}}
ID_DAY = {"type": "object", "properties": {"id": {"type": "integer"}, "day": {"type": "string", "format": "date"}}}
ID_ONLY = {"type": "object", "properties": {"id": {"type": "integer"}}}
LONG = 4000  # rows in the long files: about 190 KB, three 64 KiB blocks
BAD_CSV_LINE = 3502  # the bad value's line in long.csv (line 1 is the header)
BAD_JSONL_LINE = 3001


def files(folder: Path) -> dict[str, tuple[Path, dict]]:
    """stream name -> (file, schema) for every case, written into `folder`."""
    rows = [f"{i},{'y' * 40}" for i in range(1, LONG + 1)]
    rows[BAD_CSV_LINE - 2] = "zz," + "y" * 40
    lines = [json.dumps({"id": i, "v": "x" * 40}) for i in range(1, LONG + 1)]
    lines[BAD_JSONL_LINE - 1] = '{"id": 3001, "v": "unterminated}'
    cases = {
        "too_many": ("too_many.csv", "id,v\n1,a\n2,b,c\n3,d\n", ID_V),
        "bad_value": ("bad_value.csv", "id,v\n1,a\n2,b\nabc,c\n4,d\n", ID_V),
        "bad_date": ("bad_date.csv", "id,day\n1,2024-01-01\n2,2024-02-30\n3,2024-03-01\n", ID_DAY),
        "blank_line": ("blank_line.csv", "id,v\n1,a\n\n2,b\nx,c\n", ID_V),
        "long_csv": ("long.csv", "id,v\n" + "\n".join(rows) + "\n", ID_V),
        "not_json": ("not_json.jsonl", '{"id": 1}\n{"id": 2,\n{"id": 3}\n', ID_ONLY),
        "jsonl_value": ("jsonl_value.jsonl", '{"id": 1}\n{"id": "abc"}\n{"id": 3}\n', ID_ONLY),
        "long_jsonl": ("long.jsonl", "\n".join(lines) + "\n", ID_V),
        "corrupt_parquet": ("corrupt.parquet", b"PAR1" + b"\x13\x37not parquet" * 50 + b"PAR1", ID_ONLY),
    }
    out = {}
    for name, (file, content, schema) in cases.items():
        out[name] = (write(folder / file, content), schema)
    return out


def catalog_of(config: dict) -> dict:
    """The configured catalog for streams that carry their own schema (what discover would return)."""
    return {
        "streams": [
            {
                "stream": {"name": s["name"], "json_schema": s["schema"], "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for s in config["streams"]
        ]
    }


class Outcome:
    def __init__(self, run: Run, paths: dict[str, Path]):
        self.run, self.paths = run, paths

    def error(self, name: str) -> dict[str, Any]:
        found = [e for e in self.run.errors if (e.get("stream_descriptor") or {}).get("name") == name]
        assert len(found) == 1, (name, self.run.describe())
        assert found[0]["failure_type"] == "config_error", found[0]
        return found[0]

    def ids(self, name: str) -> list[int]:
        return [r["data"]["id"] for r in self.run.records if r["stream"] == name]

    def statuses(self, name: str) -> list[str]:
        return [s for n, s in self.run.statuses if n == name]


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> Outcome:
    data = tmp_path_factory.mktemp("fail")
    cases = files(data)
    good = write(data / "good.csv", "id,v\n1,a\n2,b\n")
    config = config_of(
        *(stream(name, path, schema=schema) for name, (path, schema) in cases.items()),
        stream("good", good, schema=ID_V),
        batch_bytes=65536,
    )
    run = Connector(tmp_path_factory.mktemp("connector")).run("read", config, catalog_of(config))
    return Outcome(run, {name: path for name, (path, _) in cases.items()} | {"good": good})


@pytest.fixture(scope="module")
def skipping(tmp_path_factory) -> Outcome:
    data = tmp_path_factory.mktemp("skip")
    cases = files(data)
    good_parquet = data / "good.parquet"
    pq.write_table(pa.table({"id": [7, 8]}), good_parquet)
    streams = [stream(name, path, schema=schema, on_error="skip") for name, (path, schema) in cases.items()]
    streams[-1]["globs"].append(str(good_parquet))  # the corrupt file is skipped, the good one is read
    config = config_of(*streams, batch_bytes=65536)
    run = Connector(tmp_path_factory.mktemp("connector")).run("read", config, catalog_of(config))
    assert run.exit_code == 0, run.describe()
    return Outcome(run, {name: path for name, (path, _) in cases.items()} | {"good_parquet": good_parquet})


# ---------------------------------------------------------------- on_error: fail


def test_a_failing_stream_fails_the_read_but_not_the_other_streams(failing):
    run = failing.run
    assert run.exit_code != 0
    assert failing.ids("good") == [1, 2]
    assert failing.statuses("good") == ["STARTED", "RUNNING", "COMPLETE"]
    for name in failing.paths:
        if name != "good":
            assert failing.statuses(name)[-1] == "INCOMPLETE", name
    final = run.errors[-1]
    assert final["message"].startswith("These streams did not sync")
    assert final["failure_type"] == "config_error"
    for name in failing.paths:
        assert (name in final["message"]) == (name != "good"), name


def test_row_with_too_many_fields(failing):
    message = failing.error("too_many")["message"]
    assert str(failing.paths["too_many"]) in message
    assert re.search(r"\bline 3\b", message), message


@pytest.mark.parametrize(
    ("name", "line", "column", "value"),
    [
        ("bad_value", 4, "id", "abc"),
        ("bad_date", 3, "day", "2024-02-30"),
        ("long_csv", BAD_CSV_LINE, "id", "zz"),
        ("jsonl_value", 2, "id", "abc"),
    ],
)
def test_value_that_does_not_fit_its_column(failing, name, line, column, value):
    message = failing.error(name)["message"]
    assert str(failing.paths[name]) in message
    assert re.search(rf"\bline {line}\b", message), message
    assert f"'{column}'" in message
    assert value in message
    assert failing.ids(name) == [] or max(failing.ids(name)) < line  # nothing from the bad line onward


def test_line_numbers_count_blank_lines(failing):
    """The bad value `x` is on line 5 of the file (line 3 is blank)."""
    message = failing.error("blank_line")["message"]
    assert str(failing.paths["blank_line"]) in message
    assert re.search(r"\bline 5\b", message), message


@pytest.mark.parametrize(("name", "line"), [("not_json", 2), ("long_jsonl", BAD_JSONL_LINE)])
def test_jsonl_line_that_is_not_json(failing, name, line):
    message = failing.error(name)["message"]
    assert str(failing.paths[name]) in message
    assert re.search(rf"\bline {line}\b", message), message


def test_corrupt_parquet_file(failing):
    message = failing.error("corrupt_parquet")["message"]
    assert str(failing.paths["corrupt_parquet"]) in message
    assert "parquet" in message.lower()
    assert failing.ids("corrupt_parquet") == []


# ---------------------------------------------------------------- on_error: skip


def skip_logs(outcome: Outcome, path: Path) -> list[str]:
    return [m for m in outcome.run.logs if str(path) in m and "skipped" in m]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("too_many", [1, 3]),
        ("bad_value", [1, 2, 4]),
        ("bad_date", [1, 3]),
        ("not_json", [1, 3]),
        ("jsonl_value", [1, 3]),
        ("long_csv", [i for i in range(1, LONG + 1) if i != BAD_CSV_LINE - 1]),
        ("long_jsonl", [i for i in range(1, LONG + 1) if i != BAD_JSONL_LINE]),
    ],
)
def test_skip_leaves_the_bad_rows_out_and_counts_them(skipping, name, expected):
    assert skipping.ids(name) == expected
    assert skipping.statuses(name) == ["STARTED", "RUNNING", "COMPLETE"]
    logs = skip_logs(skipping, skipping.paths[name])
    assert any(re.search(r"skipped 1\b", m) for m in logs), (name, skipping.run.logs)


def test_skip_leaves_an_unreadable_file_out(skipping):
    assert skipping.ids("corrupt_parquet") == [7, 8]
    assert skipping.statuses("corrupt_parquet") == ["STARTED", "RUNNING", "COMPLETE"]
    assert skip_logs(skipping, skipping.paths["corrupt_parquet"]), skipping.run.logs
    records = [r["data"] for r in skipping.run.records if r["stream"] == "corrupt_parquet"]
    assert {r[FILE_URL] for r in records} == {str(skipping.paths["good_parquet"])}
    assert all(r[FILE_MODIFIED] for r in records)
    # both files count as done: the STATE after them holds both, then the end of the full refresh
    states = [s["stream"]["stream_state"] for s in skipping.run.states
              if s["stream"]["stream_descriptor"]["name"] == "corrupt_parquet"]  # fmt: skip
    done = {url for s in states for url in s.get("history", {})}
    assert done == {str(skipping.paths["corrupt_parquet"]), str(skipping.paths["good_parquet"])}
    assert states[-1] == {"__ab_full_refresh_sync_complete": True}


def test_skip_reports_no_error(skipping):
    assert skipping.run.errors == []


# ---------------------------------------------------------------- values with line breaks, files cut short


def multiline_csv(rows: int, bad_row: int | None = None) -> str:
    """A CSV whose every row spans two lines (a quoted value with a line break), the id of `bad_row` not a number."""
    ids = [("zz" if i == bad_row else str(i)) for i in range(1, rows + 1)]
    return "id,v\n" + "".join(f'{i},"first line {i}\nsecond line"\n' for i in ids)


def test_csv_values_with_line_breaks_across_blocks(connector, data_dir: Path):
    write(data_dir / "multiline.csv", multiline_csv(LONG))  # about 150 KB: three 64 KiB blocks
    for on_error in ("fail", "skip"):
        config = config_of(stream("ml", data_dir / "multiline.csv", schema=ID_V, on_error=on_error), batch_bytes=65536)
        run = connector.run("read", config, catalog_of(config))
        assert run.exit_code == 0, run.describe()
        assert [r["data"]["id"] for r in run.records] == list(range(1, LONG + 1)), on_error
        assert run.records[-1]["data"]["v"] == f"first line {LONG}\nsecond line"


def test_line_of_a_bad_value_after_values_with_line_breaks(connector, data_dir: Path):
    write(data_dir / "multiline.csv", multiline_csv(LONG, bad_row=3000))
    config = config_of(stream("ml", data_dir / "multiline.csv", schema=ID_V), batch_bytes=65536)
    run = connector.run("read", config, catalog_of(config))
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert re.search(r"\bline 6000\b", error["message"]), error["message"]  # the header, then two lines a row


def test_skip_does_not_checkpoint_a_file_cut_short(connector, data_dir: Path):
    """A file that breaks after some of its rows fails the stream even with `on_error: skip`: a STATE would mark
    the rest, never read, as done."""
    whole = gzip.compress(("id,v\n" + "".join(f"{i},{'y' * 40}\n" for i in range(1, LONG * 25))).encode())
    cut = write(data_dir / "cut.csv.gz", whole[: len(whole) // 2])
    config = config_of(stream("cut", cut, schema=ID_V, on_error="skip"), batch_bytes=65536)
    run = connector.run("read", config, catalog_of(config))
    assert run.exit_code != 0
    assert run.records, "the rows before the break come out"
    assert not [s for s in run.stream_states if s.get("history")]
    (error,) = [e for e in run.errors if e.get("stream_descriptor")]
    assert str(cut) in error["message"] and "not the rest of a file" in error["message"]
