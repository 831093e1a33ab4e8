"""The parser's two ways to a chunk's envelopes give the same tables: DuckDB's JSON reader and the careful way."""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow as pa
import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.parse import BOM, SEQ, Chunk, MessageParser, read_lines
from destination_core.streams import EXTRACTED_AT, RAW_ID, read_catalog, target_streams
from source_core.testing import catalog, lines, record, state, status, stream_entry

from .conftest import EVERY_KIND

KINDS = {**EVERY_KIND, 'odd "name", ☃': {"type": "array"}}
GOOD = {
    "i": 9223372036854775807, "n": 12345678901234567.891, "b": True, "d": "2024-02-29",
    "tz": "2024-03-01T12:30:00.123456+02:00", "ts": "2024-03-01T12:30:00", "t": "23:59:59.5", "ttz": "08:15:00+05:30",
    "s": 'a "quoted", multi\nline ☃', "o": {"k": [1, 12345678901234567890, {"x": None}]}, "a": [1.5],
    'odd "name", ☃': [1, "two"],
}  # fmt: skip
BAD = {"i": 1.5, "n": "x", "b": "maybe", "d": "2024-13-45", "tz": 3, "ts": True, "t": "25:00", "ttz": [], "s": {"a": 1}}
LOOSE = {"i": "12", "n": "1e3", "b": "false", "d": "2024-01-02", "o": [], 'odd "name", ☃': {}}


class Observed(MessageParser):
    """A parser that remembers whether DuckDB's JSON reader took each chunk."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: list[bool] = []
        self.typed_as_read: list[bool] = []  # whether each chunk tried as one stream's was taken so

    def _read_envelopes(self, *args: Any) -> bool:
        self.read.append(super()._read_envelopes(*args))
        return self.read[-1]

    def _parse_one_stream(self, *args: Any) -> Chunk | None:
        chunk = super()._parse_one_stream(*args)
        self.typed_as_read.append(chunk is not None)
        return chunk


def parser(exact_numbers: bool) -> Observed:
    raw = catalog(
        stream_entry("wide", KINDS),
        stream_entry("other", {"id": {"type": "integer"}, "i": {"type": "string"}}, namespace="ns"),
    )
    return Observed(target_streams(read_catalog(raw), str.lower, lambda ns: ns or "main"), exact_numbers)


def messages() -> list[dict[str, Any]]:
    source_change = {"field": "s", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
    return [
        status("wide", "STARTED"),
        record("wide", GOOD),
        record("other", {"id": 1, "i": 42}, namespace="ns"),
        record("wide", BAD),
        state("wide", 1),
        {"type": "LOG", "log": {"level": "INFO", "message": "halfway"}},
        record("wide", LOOSE, meta={"changes": [source_change]}),
        record("wide", {}),
        record("other", {"id": 2, "i": None, "extra": "ignored"}, namespace="ns"),
        state("other", 2, namespace="ns"),
        record("wide", {"i": 7}),
    ]


def comparable(chunk: Chunk) -> tuple[Any, ...]:
    def rows(part: list[tuple[Any, pa.Table]]) -> list[tuple[str, pa.Schema, list[dict[str, Any]]]]:
        """Each stream's rows in line order (a table's row order is no contract: the exact-numbers join shuffles)."""
        return [
            (stream.name, table.schema, table.drop_columns([RAW_ID]).sort_by(SEQ).to_pylist()) for stream, table in part
        ]

    return rows(chunk.before), chunk.controls, chunk.counts, rows(chunk.after)


@pytest.mark.parametrize("exact_numbers", [False, True])
def test_json_reader_and_careful_way_give_the_same_chunk(exact_numbers: bool) -> None:
    data = lines(messages())
    fast, careful = parser(exact_numbers), parser(exact_numbers)
    read = comparable(fast.parse(data))
    parsed = comparable(careful.parse(data + b"\n"))  # a blank line: the JSON reader would lose count
    assert (fast.read, careful.read) == ([True], [False])
    assert read == parsed
    before, controls, counts, after = read
    assert [m["type"] for m in controls] == ["TRACE", "STATE", "LOG", "STATE"]
    assert [sum(c.values()) for c in counts] == [0, 3, 0, 3, 1]
    wide = [row for name, _, rows in before if name == "wide" for row in rows]
    assert len(wide) == 4 and wide[0]["i"] == GOOD["i"] and wide[0]["d"] is not None
    assert all(wide[1][k] is None for k in ("i", "n", "b", "d", "tz", "ts", "t", "ttz"))
    assert wide[1]["s"] == '{"a":1}' and wide[2]["i"] == 12 and wide[2]["b"] is False
    assert [row["i"] for _, _, rows in after for row in rows] == [7]


@pytest.mark.parametrize("exact_numbers", [False, True])
def test_chunks_of_one_streams_records_are_typed_as_read_and_give_the_same_chunks(exact_numbers: bool) -> None:
    """After a chunk whose records are all of one stream, the next is tried as that stream's, typed in the JSON
    reader's one query: taken if it holds no other stream's records, else read the usual way. Each chunk comes out
    as the careful way gives it (numbers kept exact go the usual way: the typed query joins each line)."""
    source_change = {"field": "s", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
    wide_only = [
        status("wide", "STARTED"),
        record("wide", GOOD),
        record("wide", BAD),
        state("wide", 1),
        {"type": "LOG", "log": {"level": "INFO", "message": "halfway"}},
        record("wide", LOOSE, meta={"changes": [source_change]}),
        record("wide", {}),
        record("wide", {"i": 7}),
    ]
    other_only = [record("other", {"id": n, "i": f"n{n}", "extra": n}, namespace="ns") for n in range(3)]
    other_only.insert(2, state("other", 2, namespace="ns"))
    chunks = [wide_only, wide_only, messages(), other_only, other_only, [status("wide", "COMPLETE")], other_only]
    observed = parser(exact_numbers)
    for data in chunks:
        careful = parser(exact_numbers)
        assert without_lines(observed.parse(lines(data))) == without_lines(careful.parse(lines(data) + b"\n"))
        assert careful.read == [False]
    # the first chunk of a catalog of two streams, and the chunk after the one with both, go the usual way
    assert observed.typed_as_read == ([] if exact_numbers else [True, False, True, True, True])
    assert observed.read == [True] * (len(chunks) if exact_numbers else 3)


def without_lines(chunk: Chunk) -> tuple[Any, ...]:
    """`comparable` but for the rows' line numbers (a chunk's lines count on from the chunks before)."""
    before, controls, counts, after = comparable(chunk)

    def rows(part: list[tuple[str, pa.Schema, list[dict[str, Any]]]]) -> list[tuple[str, list[dict[str, Any]]]]:
        return [(name, [{k: v for k, v in row.items() if k != SEQ} for row in found]) for name, _, found in part]

    return rows(before), controls, counts, rows(after)


def test_chunks_the_json_reader_does_not_take_go_the_careful_way() -> None:
    not_json = parser(False)
    chunk = not_json.parse(lines(messages()[:3]) + b"not json\n")  # skipped, with a warning
    assert not_json.read == [False]
    assert [table.num_rows for _, table in chunk.after] == [1, 1]
    for name in ("wide", "data"):  # a stream named data: the word is in the line, yet the RECORD has no data
        no_data = parser(False)
        with pytest.raises(AirbyteTracedException, match=r"needs record\.stream, record\.emitted_at .* record\.data"):
            no_data.parse(lines([{"type": "RECORD", "record": {"stream": name, "emitted_at": 1}}]))
        assert no_data.read == [False]


@pytest.mark.parametrize("data", [None, [1], "x", 42])
@pytest.mark.parametrize("fields", [True, False])
def test_record_whose_data_is_no_object_is_an_error_both_ways(data: Any, fields: bool) -> None:
    """Never an all-NULL row: with the catalog's fields DuckDB's reader refuses it, without any it takes any JSON."""
    raw = catalog(stream_entry("s", {"id": {"type": "integer"}} if fields else {}))
    streams = target_streams(read_catalog(raw), str.lower, lambda ns: ns or "main")
    for blank in (b"", b"\n"):  # the JSON reader, then the careful way
        with pytest.raises(AirbyteTracedException, match=r"line 2 .* record\.data, an object"):
            MessageParser(streams, False).parse(lines([record("s", {"id": 1}), record("s", data)]) + blank)


def test_json_reader_keeps_every_row_on_its_line_in_a_large_chunk() -> None:
    """DuckDB reads a large file in parallel parts: rows must still come back in line order, each with its line."""
    count, half = 400_000, 250_001
    body = [record("other", {"id": n, "i": f"row {n}"}, namespace="ns") for n in range(count)]
    data = lines([*body[:half], state("other", half, namespace="ns"), *body[half:]])
    observed = parser(False)
    chunk = observed.parse(data)
    assert observed.read == [True]
    [(_, before)], [(_, after)] = chunk.before, chunk.after
    rows = pa.concat_tables([before, after]).sort_by(SEQ)
    assert rows.column("id").to_pylist() == list(range(count))  # every record once, each with its own line:
    assert rows.column(SEQ).to_pylist() == [n if n < half else n + 1 for n in range(count)]  # the STATE is `half`
    assert [sum(c.values()) for c in chunk.counts] == [half, count - half]


@pytest.mark.parametrize(
    "data",
    [
        lines(messages()[:2]) + BOM + lines(messages()[2:]),  # a BOM within: its line is no JSON, both ways
        lines(messages()).replace(b"\n", b"\r\n"),
    ],
    ids=["bom", "crlf"],
)
def test_odd_chunks_read_alike_both_ways(data: bytes) -> None:
    fast, careful = parser(False), parser(False)
    assert comparable(fast.parse(data)) == comparable(careful.parse(data + b"\n"))
    assert careful.read == [False]


def test_a_byte_order_mark_that_starts_the_input_is_dropped_not_its_line() -> None:
    """A source's first RECORD is kept, both ways, when its output starts with a byte order mark."""
    data = BOM + lines([record("other", {"id": 7, "i": "first"}, namespace="ns"), state("other", 7, namespace="ns")])
    for blank in (b"", b"\n"):  # the JSON reader, then the careful way
        chunk = parser(False).parse(data + blank)
        [(_, rows)] = chunk.before
        assert rows.column("id").to_pylist() == [7]
        assert [message["type"] for message in chunk.controls] == ["STATE"]


def test_fractional_emitted_at_is_its_millisecond_and_one_beyond_the_year_9999_an_error() -> None:
    for blank in (b"", b"\n"):  # the JSON reader, then the careful way
        chunk = parser(False).parse(lines([record("wide", {"i": 1}, emitted_at=1700000000123.9)]) + blank)  # type: ignore[arg-type]
        [(_, rows)] = chunk.after
        assert rows.column(EXTRACTED_AT).cast(pa.int64()).to_pylist() == [1700000000123]
        with pytest.raises(AirbyteTracedException, match=r"line 1 .* record\.emitted_at \(milliseconds since 1970"):
            parser(False).parse(lines([record("wide", {"i": 1}, emitted_at=10**20)]) + blank)


@pytest.mark.parametrize(
    ("control", "says"),
    [
        ({"type": "TRACE", "trace": "oops"}, 'trace: "oops" is not of type "object"'),
        ({"type": "LOG", "log": {"level": "LOUD", "message": "x"}}, "log/level: "),
        (
            {"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1, "stream_status": "x"}},
            'trace/stream_status: "x" is not of type "object"',
        ),
    ],
)
def test_control_message_the_protocol_does_not_allow_is_a_clear_error(control: dict[str, Any], says: str) -> None:
    with pytest.raises(AirbyteTracedException, match="line 2 is not a valid Airbyte message: " + re.escape(says)):
        parser(False).parse(lines([record("wide", GOOD), control]))


def test_control_line_that_is_not_strict_json_is_a_clear_error() -> None:
    trailing_comma = '{"type": "LOG", "log": {"level": "INFO", "message": "x"},}'
    with pytest.raises(AirbyteTracedException, match="line 2 is not a valid Airbyte message: it is not strict JSON"):
        parser(False).parse(lines([record("wide", GOOD), trailing_comma]))


def test_input_that_ends_with_a_newline_gets_no_blank_line_so_its_last_piece_takes_the_json_reader() -> None:
    data = lines([record("wide", GOOD), state("wide", 1)])
    pieces = [bytes(piece) for piece in read_lines(io.BytesIO(data), 1 << 20)]
    assert b"".join(pieces) == data
    observed = parser(False)
    observed.parse(pieces[-1])
    assert observed.read == [True]


def test_a_line_longer_than_the_buffer_after_other_lines_grows_it() -> None:
    """The piece before is still held (as `parse` holds it) while the buffer grows."""
    long = b"x" * 100
    pieces = [bytes(piece) for piece in read_lines(io.BytesIO(b"short\n" + long + b"\nend"), 16)]
    assert b"".join(pieces) == b"short\n" + long + b"\nend\n"


@pytest.mark.parametrize("exact_numbers", [False, True])
def test_rows_are_cut_at_the_last_state_in_line_order(exact_numbers: bool) -> None:
    """The chunk's rows of a stream come from one query, cut at its last STATE: whatever order the database gives
    them in (exact numbers join each row to its line), rows before the STATE go before it, the rest after."""
    raw = catalog(stream_entry("s", {"id": {"type": "integer"}, "n": {"type": "number"}}))
    streams = target_streams(read_catalog(raw), str.lower, lambda ns: ns or "main")
    half = 60_000
    messages = [record("s", {"id": n, "n": n + 0.5}) for n in range(half)]
    messages += [state("s", half), *(record("s", {"id": n, "n": n + 0.5}) for n in range(half, 2 * half))]
    chunk = MessageParser(streams, exact_numbers).parse(lines(messages))
    before = [i for _, table in chunk.before for i in table.column("id").to_pylist()]
    after = [i for _, table in chunk.after for i in table.column("id").to_pylist()]
    assert before == list(range(half)) and after == list(range(half, 2 * half))
    assert [sum(c.values()) for c in chunk.counts] == [half, half]
