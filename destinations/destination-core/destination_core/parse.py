"""stdin messages -> typed Arrow tables per stream, parsed in bulk by an in-memory DuckDB.

A chunk of stdin (many thousand lines) is split into every line's envelope and its record fields (as text) in
one pass, then per stream each field is cast to its column type with `TRY_CAST`. A value that does not cast is
nulled and named in `_airbyte_meta.changes`. Only the few non-RECORD lines (STATE, TRACE, LOG) are parsed in
Python. The pass is DuckDB's own JSON reader over the chunk spooled to a file, which parses in parallel straight
into Arrow; a chunk it does not read cleanly (blank or broken lines, a line that is no message object) goes the
careful way instead: `json_transform` of the lines as an Arrow string column, skipping what is not JSON.

Sources send their streams one after the other, so most chunks hold one stream's records. Where the last chunk
with records held only one stream's (or the catalog has only one stream), the next is first read as that
stream's: the casts go into the JSON reader's query, and its result has every line, the other messages' rows
dropped after. A chunk that holds another stream's records is read again the general way (its envelopes to
Arrow, then one typed query per stream).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import select
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, BinaryIO

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import simplejson
from airbyte_cdk.models import AirbyteMessageSerializer, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from serpyco_rs import SchemaValidationError

from destination_core.duckdb_session import connect
from destination_core.streams import EXTRACTED_AT, GENERATION_ID, META, RAW_ID, SEQ, Kind, TargetStream
from source_core.emit import int_array, int_values, string_array
from source_core.jsontext import number_pattern

logger = logging.getLogger("airbyte")

# stdin parsed at a time: each chunk costs about 40 ms of planning and setup besides its rows, so that 1,000,000
# benchmark records parsed in 4.0 s as 8 MiB chunks, 3.4 s as 16 MiB and 2.5 s as 32 MiB ones
CHUNK_BYTES = 32 << 20
IDLE_SECONDS = 0.5  # how often a silent input lets the write loop commit or see a failed load (`read_lines`)
SCAN_PARTS = 8
READ_BATCH = 16_384  # rows per Arrow batch of what the JSON reader gives
BOM = b"\xef\xbb\xbf"
MESSAGE_TYPES = {"RECORD", "STATE", "LOG", "TRACE", "CONTROL", "SPEC", "CATALOG", "CONNECTION_STATUS"}
StreamKey = tuple[str | None, str]

_CASTS = {
    Kind.BOOLEAN: "BOOLEAN",
    Kind.DATE: "DATE",
    Kind.TIMESTAMPTZ: "TIMESTAMPTZ",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.TIME: "TIME",
}
# RFC 3339's ranges, years 0001-9999 and hours 00-23: DuckDB also takes 'infinity', year 0, negative and 5-digit
# years, and 24:00:00, which PostgreSQL or Arrow's CSV writer cannot take; both destinations null them alike
_RANGES = {
    Kind.DATE: ("DATE '0001-01-01'", "DATE '10000-01-01'"),
    Kind.TIMESTAMPTZ: ("TIMESTAMPTZ '0001-01-01 00:00:00+00'", "TIMESTAMPTZ '10000-01-01 00:00:00+00'"),
    Kind.TIMESTAMP: ("TIMESTAMP '0001-01-01'", "TIMESTAMP '10000-01-01'"),
    Kind.TIME: ("TIME '00:00:00'", "TIME '24:00:00'"),
}
# PostgreSQL numeric's limits: 131072 digits before the point (the first at most 10^131071), 16383 after
NUMERIC_MAX_WEIGHT = 131071
NUMERIC_MAX_SCALE = 16383
# Number text both databases read alike: DuckDB's cast also takes "1_000" or "0x10", PostgreSQL does not
_NUMBER_SYNTAX = r"^\s*([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?inf(inity)?|nan)\s*$"
_NUMBER_PARTS = r"^\s*[+-]?0*([0-9]*)(\.([0-9]*))?([eE]([+-]?[0-9]+))?\s*$"
_MACROS = (
    f"CREATE MACRO numeric_fits(i, f, e) AS e IS NOT NULL AND greatest(length(f) - e, 0) <= {NUMERIC_MAX_SCALE} "
    "AND CASE WHEN i <> '' THEN length(i) - 1 + e WHEN ltrim(f, '0') <> '' "
    f"THEN e - 1 - length(f) + length(ltrim(f, '0')) ELSE 0 END <= {NUMERIC_MAX_WEIGHT}",
    # the text of a number that fits PostgreSQL's numeric, else NULL: without an exponent, only a text longer
    # than numeric's scale can be out of range
    f"CREATE MACRO numeric_text(t) AS CASE WHEN NOT regexp_matches(t, '{_NUMBER_SYNTAX}', 'i') THEN NULL "
    f"WHEN length(t) <= {NUMERIC_MAX_SCALE} AND NOT regexp_matches(t, '[eE]') THEN t "
    f"WHEN numeric_fits(regexp_extract(t, '{_NUMBER_PARTS}', 1), regexp_extract(t, '{_NUMBER_PARTS}', 3), "
    f"TRY_CAST(coalesce(nullif(regexp_extract(t, '{_NUMBER_PARTS}', 5), ''), '0') AS INTEGER)) THEN t END",
    # the text of a number a double holds, else NULL: one that overflows to infinity is not infinity
    f"CREATE MACRO double_text(t) AS CASE WHEN regexp_matches(t, '{_NUMBER_SYNTAX}', 'i') "
    "AND (isfinite(TRY_CAST(t AS DOUBLE)) OR NOT regexp_matches(t, '[0-9]')) THEN t END",
    # double_text of a JSON value's text `j`, with no regex for a finite number: outside a string, only a JSON
    # number token casts to a finite double, and the syntax check passes every one
    "CREATE MACRO json_double_text(j) AS CASE WHEN starts_with(j, '\"') THEN double_text(j->>'$') "
    "WHEN isfinite(TRY_CAST(j AS DOUBLE)) THEN j ELSE double_text(j) END",
)
# record.emitted_at's range, in milliseconds since 1970: the years 0001-9999, as for every other timestamp
_EMITTED_RANGE = (-62135596800000, 253402300800000)
# A UTF-16 surrogate escape in JSON text: only a pair of them is a character, a lone one is valid JSON but no text
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_REPLACEMENT = rb"\ufffd"
# A JSON value DuckDB wrote that may need a second look in Python (`_recheck_json`): a number of 16 or more digits
# (DuckDB rewrites numbers through doubles), a NUL, NaN or Infinity (not JSON), an exponent of 5 or more digits
_RECHECK_JSON = r"[0-9.]{16}|\\u0000|(^|[\[:,])[+-]?(nan|inf)|[eE][+-]?[0-9]{5}"


def input_error(message: str, internal: str | None = None) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=message, internal_message=internal or message, failure_type=FailureType.system_error
    )


class _Counted:
    """A chunk's lines from line `first` on: their ends as `counting` finds them (on another thread), and what
    follows from those; each waits for the count."""

    def __init__(self, first: int, counting: Future[np.ndarray]) -> None:
        self.first = first
        self.counting = counting

    @functools.cached_property
    def ends(self) -> np.ndarray:
        return self.counting.result()

    @functools.cached_property
    def numbers(self) -> pa.Array:
        return int_array(np.arange(self.first, self.first + len(self.ends), dtype=np.int64))

    @property
    def step(self) -> int:
        """Lines per batch of the table `lines`: several batches, so that DuckDB parses them in parallel."""
        return max(1, -(-len(self.ends) // SCAN_PARTS))


@dataclass
class Chunk:
    """One parsed chunk of stdin, in the order the lines came.

    `before` holds the records that precede the chunk's last STATE, `after` the ones that follow it; `controls`
    the non-RECORD messages in order, and `counts[k]` how many records of each stream came before control k
    (the last entry: after the last control).
    """

    before: list[tuple[TargetStream, pa.Table]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    counts: list[Counter[StreamKey]] = field(default_factory=list)
    after: list[tuple[TargetStream, pa.Table]] = field(default_factory=list)


class MessageParser:
    def __init__(self, streams: dict[StreamKey, TargetStream], exact_numbers: bool, raw_ids: bool = True) -> None:
        """`exact_numbers`: numbers go to PostgreSQL's numeric (also inside jsonb): keep every digit, not just what a
        double holds, and null one out of numeric's range. `raw_ids`: give each row its `_airbyte_raw_id` (else
        whatever loads the rows makes them)."""
        self.streams = streams
        self.raw_ids = raw_ids
        self.numeric = exact_numbers
        self.exact_numbers = exact_numbers and any(
            c.kind is Kind.NUMBER for stream in streams.values() for c in stream.columns
        )
        self.db = connect()
        # DuckDB's default, said out loud: the JSON reader's rows come in line order, which is how each gets its line
        self.db.execute("SET preserve_insertion_order = true")
        for macro in _MACROS:
            self.db.execute(macro)
        # A number field is read as JSON where it goes to a double: DuckDB's reader writes a JSON number as VARCHAR
        # through its double formatting, as JSON with yyjson's writer, which costs less (the benchmark's 32 MiB
        # chunk, two number fields of ten: 1.12 -> 0.96 G instructions for the read). Exact numbers keep the
        # VARCHAR text: `number_pattern` and numeric_text take it.
        fields: dict[str, str] = {}
        json_kinds = (Kind.JSON,) if exact_numbers else (Kind.JSON, Kind.NUMBER)
        for stream in streams.values():
            for column in stream.columns:
                if column.kind in json_kinds or fields.get(column.name) == "JSON":
                    fields[column.name] = "JSON"
                else:
                    fields[column.name] = "VARCHAR"
        self.field_types = fields
        # DuckDB's STRUCT field names ignore case: fields that differ only by case (in one stream or in two) cannot
        # share one, so `data` is then kept as JSON and each field taken by its JSON pointer
        self.by_pointer = len({name.casefold() for name in fields}) < len(fields)
        structure = {
            "type": "VARCHAR",
            "record": {
                "stream": "VARCHAR",
                "namespace": "VARCHAR",
                "emitted_at": "DOUBLE",
                "data": "JSON" if self.by_pointer or not fields else fields,
                "meta": "JSON",
            },
        }
        self.envelope = orjson.dumps(structure).decode()  # for json_transform
        self.columns = {name: _type_text(kind) for name, kind in structure.items()}  # for read_json
        self.spool = _spool_file()
        self.queries = {key: self._typed_query(stream) for key, stream in streams.items()}
        # A chunk whose records are all of one stream (sources send their streams one after the other) is typed
        # as DuckDB's JSON reader reads it, in one query: the envelopes' round trip through Arrow and the second
        # query took 173-184 ms of CPU per 32 MiB chunk, the one query 144-156 ms. Tried for the stream of the
        # previous chunk's records, where that chunk held only one stream.
        one_stream = not self.exact_numbers and not self.by_pointer and bool(fields)
        self.one_stream_queries = (
            {key: self._typed_query(stream, one_stream=True) for key, stream in streams.items()} if one_stream else {}
        )
        self.expected = next(iter(streams.values())) if len(streams) == 1 and one_stream else None
        self.line = 0  # stdin lines read so far
        self.repaired: dict[int, set[str]] = {}  # line -> data fields of the chunk's lone surrogates or non-UTF-8
        self.newlines = np.empty(0, dtype=bool)  # `_line_ends`'s comparison
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lines")

    def close(self) -> None:
        """Remove the spool file and close DuckDB: now, not whenever the parser is collected."""
        if self.spool is not None:
            self.spool.close()
        self.helper.shutdown()
        self.db.close()

    def _typed_query(self, stream: TargetStream, one_stream: bool = False) -> tuple[str, dict[str, Any]]:
        """SELECT of one stream's rows: each field cast to its column's type, failures nulled and named in meta.

        From `env` (the stream's records, with their line numbers `i`); or, `one_stream`, from the JSON reader
        itself: every line in order, with the envelope columns `_split` checks (the rows that are no record of the
        stream are dropped after)."""
        texts, typed = [], []
        changed: list[tuple[str, str, str]] = []  # (condition, field, change) of each change that may be recorded
        params: dict[str, Any] = {
            "clean": f'{{"sync_id":{stream.sync_id},"changes":[]}}',
            "sync_id": stream.sync_id,
        }
        for k, column in enumerate(stream.columns):
            json_number = column.kind is Kind.NUMBER and not self.numeric and not self.by_pointer  # read as JSON
            if self.by_pointer:
                params[f"f{k}"] = "/" + column.name.replace("~", "~0").replace("/", "~1")
                access = (
                    f"nullif(json_extract(data, $f{k}), 'null'::JSON)"
                    if column.kind is Kind.JSON
                    else f"json_extract_string(data, $f{k})"
                )
            else:
                params[f"f{k}"] = column.name
                access = f"struct_extract(data, $f{k})"
                if json_number:
                    access = f"{access}::VARCHAR"  # its JSON text, for json_double_text
                elif column.kind is not Kind.JSON and self.field_types[column.name] == "JSON":
                    access = f"json_extract_string({access}, '$')"
            texts.append(f", {access} AS s{k}")
            if column.kind is Kind.INTEGER:
                expr = f"CASE WHEN TRY_CAST(s{k} AS DOUBLE) = floor(TRY_CAST(s{k} AS DOUBLE)) "
                expr += f"THEN TRY_CAST(s{k} AS BIGINT) END"
            elif column.kind is Kind.NUMBER and self.exact_numbers:
                # DuckDB hands a JSON number over as a double. Where that double needs more than 15 digits the
                # number may have had more than a double keeps, so its own text is taken from the line instead
                # (the token after the field's key, accepted only if it is the same number and the key occurs once
                # in the line: a nested object's field of the same name may hold another number of the same double).
                # The pattern is inlined, not bound, so that DuckDB compiles it once: it is safe as a literal, since
                # every character but ASCII letters and digits is a \x{..} escape (a quote cannot occur).
                pattern = number_pattern(column.name)
                every = f"regexp_extract_all(line, '{pattern}', 1)"
                texts.append(f", CASE WHEN length({access}) > 15 THEN {every} END AS x{k}")
                expr = f"numeric_text(CASE WHEN TRY_CAST(s{k} AS DOUBLE) IS NULL THEN NULL WHEN len(x{k}) = 1 AND "
                expr += f"TRY_CAST(x{k}[1] AS DOUBLE) = TRY_CAST(s{k} AS DOUBLE) THEN x{k}[1] ELSE s{k} END)"
            elif column.kind is Kind.TIMETZ:  # Arrow has no time-with-offset type: keep the validated text
                expr = f"CASE WHEN TRY_CAST(s{k} AS TIMETZ) IS NOT NULL THEN s{k} END"
            elif column.kind in _RANGES:
                low, high = _RANGES[column.kind]
                cast = f"TRY_CAST(s{k} AS {_CASTS[column.kind]})"
                expr = f"CASE WHEN {cast} >= {low} AND {cast} < {high} THEN {cast} END"
            elif column.kind in _CASTS:
                expr = f"TRY_CAST(s{k} AS {_CASTS[column.kind]})"
            elif json_number:
                expr = f"json_double_text(s{k})"
            elif column.kind is Kind.NUMBER:
                expr = f"double_text(s{k})"
            elif column.kind is Kind.STRING:  # PostgreSQL's text cannot hold NUL: removed in both databases (replace
                # copies every text, so only those that hold one: a quarter of the CPU)
                expr = f"CASE WHEN contains(s{k}, chr(0)) THEN replace(s{k}, chr(0), '') ELSE s{k} END"
                changed.append((f"contains(s{k}, chr(0))", column.name, "TRUNCATED"))
            else:
                expr = f"s{k}"
            typed.append(f", {expr} AS c{k}")
            if column.kind not in (Kind.STRING, Kind.JSON):
                changed.append((f"(s{k} IS NOT NULL AND c{k} IS NULL)", column.name, "NULLED"))
        for n, (_, name, change) in enumerate(changed):
            params.update({f"b{n}": name, f"h{n}": change, "reason": "DESTINATION_SERIALIZATION_ERROR"})
        changes = ", ".join(
            f"CASE WHEN {cond} THEN {{'field': $b{n}, 'change': $h{n}, 'reason': $reason}} END"
            for n, (cond, _, _) in enumerate(changed)
        )
        any_change = " OR ".join(cond for cond, _, _ in changed) or "false"
        meta = (
            f"CASE WHEN NOT ({any_change}) AND source_meta IS NULL THEN $clean "
            "ELSE json_object('sync_id', $sync_id, 'changes', to_json(list_concat(coalesce(from_json("
            "json_extract(source_meta, '$.changes'), '[\"JSON\"]'), []), "
            f"list_transform(list_filter([{changes}], lambda x: x IS NOT NULL), lambda x: to_json(x))))) END"
        )
        outputs = "".join(f", c{k}" for k in range(len(stream.columns)))
        # A long number whose key occurs more than once in its line is taken again from the parsed line
        outputs += "".join(
            f", len(x{k}) > 1 AS recheck{k}"
            for k, column in enumerate(stream.columns)
            if column.kind is Kind.NUMBER and self.exact_numbers
        )
        raw_id = ", uuid()::VARCHAR AS raw_id" if self.raw_ids else ""
        if one_stream:
            kept = "type, stream, namespace, emitted_at, has_data"
            source = f"({self._reader_query()})"
        else:
            kept = "i"
            source = (
                f"env{' JOIN lines USING (i)' if self.exact_numbers else ''} WHERE type = 'RECORD' "
                "AND stream = $stream AND namespace IS NOT DISTINCT FROM $namespace"
            )
        query = (
            f"SELECT {kept}, floor(emitted_at)::BIGINT AS emitted_ms{raw_id}, {meta} AS meta{outputs} "
            f"FROM (SELECT *{''.join(typed)} "
            f"FROM (SELECT {kept}, emitted_at, meta AS source_meta{''.join(texts)} FROM {source}))"
        )
        return query, params

    def _reader_query(self) -> str:
        """Every line's envelope, read from the spool file by DuckDB's JSON reader, in line order."""
        # with the catalog's fields, the reader refuses a `data` that is no object; without any, it takes any JSON
        data_is_object = (
            "json_type(record.data) IS NOT DISTINCT FROM 'OBJECT'"
            if not self.field_types or self.by_pointer
            else "record.data IS NOT NULL"
        )
        return (
            f"SELECT {_envelope('')}, type IS DISTINCT FROM 'RECORD' OR {data_is_object} AS has_data "
            "FROM read_json($path, format = 'newline_delimited', columns = $columns)"
        )

    def parse(self, data: memoryview | bytes) -> Chunk:
        """Parse complete lines (`data` ends with a newline). A byte order mark that starts the input is dropped
        (RFC 8259 lets a JSON reader ignore it); one that starts a later line leaves that line no JSON."""
        if self.line == 0 and bytes(data[:3]) == BOM:
            data = data[3:]
        self.repaired = {}
        first = self.line
        # the lines are counted on the helper thread while the chunk is spooled and read (numpy lets go of the GIL)
        counted = _Counted(first, self.helper.submit(self._line_ends, data))
        try:
            spooled = self._spool_chunk(data)
            if spooled and self.expected is not None:
                chunk = self._parse_one_stream(self.expected, data, counted)
                if chunk is not None:
                    return chunk
            fast = spooled and self._read_envelopes(counted)
        finally:
            self.line = first + len(counted.ends)
        ends, numbers, step = counted.ends, counted.numbers, counted.step
        try:
            if not fast:  # text DuckDB's reader refused may be mended first (it reads cleanly almost always)
                data = self._replace_invalid_utf8(data, first)
                data = self._replace_lone_surrogates(data, first)
                ends = self._line_ends(data)
            batch = _lines_table(data, ends, numbers, step)
            self.db.register("lines", batch)
            if not fast:
                self._envelopes(batch)
            return self._split(first)
        finally:
            self.db.unregister("lines")
            if fast:
                self.db.unregister("env")
            else:
                self.db.execute("DROP TABLE IF EXISTS env")

    def _line_ends(self, data: memoryview | bytes) -> np.ndarray:
        """Where each line of `data` ends (its newline). The comparison goes to an array kept from chunk to chunk:
        a new one is new memory the kernel has to map at every chunk (a third of the time)."""
        octets = np.frombuffer(data, dtype=np.uint8)
        if len(self.newlines) < len(octets):
            self.newlines = np.empty(len(octets), dtype=bool)
        return np.flatnonzero(np.equal(octets, 10, out=self.newlines[: len(octets)]))

    def _replace_invalid_utf8(self, data: memoryview | bytes, first: int) -> memoryview | bytes:
        """`data` with each byte sequence that is no UTF-8 made U+FFFD, its data fields in `repaired`: DuckDB refuses
        a chunk that holds one, and a RECORD line is JSON text in UTF-8 but for that."""
        try:
            str(data, "utf-8")
            return data
        except UnicodeDecodeError:
            pass
        lines = bytes(data).split(b"\n")
        for local, line in enumerate(lines):
            try:
                line.decode()
            except UnicodeDecodeError:
                self.repaired[first + local] = _surrogate_fields(line.decode(errors="surrogateescape"))
                lines[local] = line.decode(errors="replace").encode()
        return b"\n".join(lines)

    def _replace_lone_surrogates(self, data: memoryview | bytes, first: int) -> memoryview | bytes:
        """`data` with each lone surrogate escape (`\\ud800` without its pair) made U+FFFD; the data fields they
        were in go to `repaired`, to be recorded as changed. DuckDB and orjson refuse the line, and skipping it as
        not JSON would lose a record whose state is acknowledged."""
        lone: list[int] = []
        high = -1  # where the high surrogate that may start a pair is
        for match in _SURROGATE.finditer(data):
            at = match.start()
            before = bytes(data[max(0, at - 64) : at])
            if (len(before) - len(before.rstrip(b"\\"))) % 2:  # an escaped backslash, then text: no escape
                continue
            is_high = match.group()[3:4].lower() in b"89ab"
            if not is_high and high == at - 6:
                high = -1
                continue
            if high >= 0:
                lone.append(high)
            high = at if is_high else -1
            if not is_high:
                lone.append(at)
        if high >= 0:
            lone.append(high)
        if not lone:
            return data
        fixed = bytearray(data)
        for at in lone:
            fixed[at : at + 6] = _REPLACEMENT
        ends = self._line_ends(data)
        starts = np.concatenate(([0], ends + 1))
        for local in sorted(set(np.searchsorted(ends, lone).tolist())):
            original = bytes(data[starts[local] : ends[local]]).decode()
            self.repaired[first + local] = _surrogate_fields(original)
        return bytes(fixed)

    def _spool_chunk(self, data: memoryview | bytes) -> bool:
        """Write the chunk to the spool file for DuckDB's JSON reader; say no where that reader cannot take it."""
        if self.spool is None or bytes(data[:3]) == BOM or bytes(data[-1:]) != b"\n":
            return False  # DuckDB drops a BOM at the start of a file, where the careful way finds no JSON
        try:
            self.spool.seek(0)
            self.spool.write(data)
            self.spool.truncate()  # what is left of a longer chunk before
            self.spool.flush()
        except OSError as exc:  # a full temporary folder
            return self._stop_reading(f"its file cannot be written: {exc}")
        return True

    def _read(self, query: str, params: dict[str, Any], counted: _Counted) -> pa.Table | None:
        """The spooled chunk read by `query` (one row per line, in order) with the line numbers `i`, if it reads
        cleanly: every line an object, every RECORD with its data. Else None. A query DuckDB cannot bind raises."""
        values = {**params, "path": self.spool.name, "columns": self.columns}  # type: ignore[union-attr]
        try:
            table = self.db.sql(query, params=values).to_arrow_table(READ_BATCH)
        except duckdb.BinderException:
            raise
        except duckdb.Error:
            return None
        if table.num_rows != len(counted.ends):  # blank lines: the reader skips them, so rows no longer match lines
            return None
        if not pc.all(table.column("has_data")).as_py():
            return None  # a RECORD without data: the careful way says which
        return table.append_column("i", pa.chunked_array([counted.numbers]))

    def _read_envelopes(self, counted: _Counted) -> bool:
        """Parse every spooled line's envelope into the view `env`, if the chunk reads cleanly; else say no (`env`
        is not made)."""
        try:
            env = self._read(self._reader_query(), {}, counted)
        except duckdb.BinderException as exc:  # the catalog's fields make no STRUCT (names equal but for case)
            return self._stop_reading(f"it cannot take this catalog's fields: {exc}")
        if env is not None:
            self.db.register("env", env)
        return env is not None

    def _parse_one_stream(self, stream: TargetStream, data: memoryview | bytes, counted: _Counted) -> Chunk | None:
        """The spooled chunk parsed with `stream`'s fields typed as they are read, if it reads cleanly and holds
        no other stream's records; else None (nothing left registered)."""
        query, params = self.one_stream_queries[stream.key]
        try:
            typed = self._read(query, params, counted)
        except duckdb.BinderException:  # the general way tells whether the reader can take the catalog's fields
            return None
        if typed is None:
            return None
        try:
            self.db.register("env", typed)
            self.db.register("lines", _lines_table(data, counted.ends, counted.numbers, counted.step))
            return self._split(counted.first, typed)
        finally:
            self.db.unregister("env")
            self.db.unregister("lines")

    def _stop_reading(self, why: str) -> bool:
        """The careful way for every chunk from now on; says no, as `_read_envelopes` does."""
        logger.info(f"parsing without DuckDB's JSON reader, since {why}")
        if self.spool is not None:
            self.spool.close()
        self.spool = None
        return False

    def _envelopes(self, batch: pa.Table) -> None:
        """The careful way to `env`, a temp table: lines that are not JSON are logged and skipped."""
        transform = (  # a RECORD without data, or whose data is no object, parses as one whose fields are all null
            f"CREATE OR REPLACE TEMP TABLE env AS SELECT i, {_envelope('m.')}, has_data FROM (SELECT i, "
            "json_transform(line, ?) AS m, coalesce(json_type(line, '$.record.data') = 'OBJECT', false) AS has_data "
            "FROM lines{})"
        )
        try:
            self.db.execute(transform.format(""), [self.envelope])
            return
        except duckdb.Error:
            pass
        invalid = self.db.execute("SELECT i, line FROM lines WHERE NOT json_valid(line)").fetchall()
        for number, line in invalid:
            if line.strip():
                logger.warning("stdin line %d is not JSON, skipped: %.200s", number + 1, line)  # cut after masking
        try:
            self.db.execute(transform.format(" WHERE json_valid(line)"), [self.envelope])
        except duckdb.Error as exc:
            raise self._first_malformed(batch, exc) from exc

    def _first_malformed(self, batch: pa.Table, exc: Exception) -> AirbyteTracedException:
        for number, line in zip(batch.column("i").to_pylist(), batch.column("line").to_pylist(), strict=True):
            try:
                orjson.loads(line)
                self.db.execute("SELECT json_transform(?, ?)", [line, self.envelope])
            except orjson.JSONDecodeError:
                continue
            except duckdb.Error as line_exc:
                return input_error(
                    f"stdin line {number + 1} is JSON but not an Airbyte message: {line[:200]}", str(line_exc)
                )
        return input_error(f"stdin could not be parsed: {exc}")

    def _split(self, first: int, one_stream: pa.Table | None = None) -> Chunk | None:
        """The chunk's messages from `env` (its first line `first`), its records typed per stream. `one_stream`:
        `env` holds every line with the typed fields of `self.expected` (`_parse_one_stream`); None if the chunk
        holds another stream's records."""
        present = self.db.execute(
            "SELECT namespace, stream, min(i) FROM env WHERE type = 'RECORD' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        if one_stream is not None and any((namespace, name) != self.expected.key for namespace, name, _ in present):
            return None  # before the other messages are checked: the general way checks them
        if present:  # the next chunk is tried as this one's stream, if this one held only one
            self.expected = self.streams.get(present[0][:2]) if len(present) == 1 and self.one_stream_queries else None
        chunk = Chunk()
        bad_record = (
            "stream IS NULL OR NOT has_data OR emitted_at IS NULL "
            f"OR NOT (emitted_at >= {_EMITTED_RANGE[0]} AND emitted_at < {_EMITTED_RANGE[1]})"
        )
        others = self.db.execute(
            f"SELECT i, type, {bad_record} FROM env WHERE type IS DISTINCT FROM 'RECORD' OR {bad_record} ORDER BY i"
        ).fetchall()
        controls: list[int] = []
        for number, kind, invalid in others:
            if kind not in MESSAGE_TYPES:
                raise self._malformed(number, f"its type is {kind!r}, not one of {sorted(MESSAGE_TYPES)}")
            if kind == "RECORD" and invalid:
                raise self._malformed(
                    number,
                    "a RECORD needs record.stream, record.emitted_at (milliseconds since 1970, within the years "
                    "1-9999) and record.data, an object",
                )
            controls.append(number)
        if controls:
            texts = self.db.execute(
                "SELECT line FROM lines WHERE i IN (SELECT unnest(?::BIGINT[])) ORDER BY i", [controls]
            ).fetchall()
            chunk.controls = [self._control(number, text) for number, (text,) in zip(controls, texts, strict=True)]
        states = [n for n, message in zip(controls, chunk.controls, strict=True) if message["type"] == "STATE"]
        split = states[-1] if states else first
        chunk.counts = [Counter() for _ in range(len(controls) + 1)]
        positions = np.array(controls, dtype=np.int64)
        for namespace, name, first_line in present:
            stream = self.streams.get((namespace, name))
            if stream is None:
                where = f"{namespace}.{name}" if namespace else name
                raise input_error(
                    f"stdin line {first_line + 1}: a RECORD for stream '{where}', which the configured catalog "
                    "does not hold. Add the stream to the catalog or leave it out of the source's catalog."
                )
            # one query per stream and chunk (planning it costs about 10 ms), its rows cut at the last STATE. They
            # come in line order (preserve_insertion_order) except where the query joins `lines` (exact numbers):
            # then they are put back in it. Typed as read (`one_stream`), they are every line but the other messages
            typed = self._typed(stream) if one_stream is None else _without(one_stream, positions - first)
            rows = self._rows(stream, typed)
            lines = int_values(rows.column(SEQ))
            if np.any(lines[1:] < lines[:-1]):
                order = np.argsort(lines, kind="stable")
                rows, lines = rows.take(int_array(order)), lines[order]
            cut = int(np.searchsorted(lines, split))
            for part, table, seq in (
                (chunk.before, rows.slice(0, cut), lines[:cut]),
                (chunk.after, rows.slice(cut), lines[cut:]),
            ):
                if not table.num_rows:
                    continue
                part.append((stream, table))
                buckets = np.searchsorted(positions, seq, side="left")
                for bucket, n in enumerate(np.bincount(buckets, minlength=len(controls) + 1)):
                    if n:
                        chunk.counts[bucket][stream.key] += int(n)
        return chunk

    def _typed(self, stream: TargetStream) -> pa.Table:
        """The typed query's result for `stream`'s records in `env`."""
        query, params = self.queries[stream.key]
        values = {**params, "stream": stream.name, "namespace": stream.namespace}
        return self.db.sql(query, params=values).to_arrow_table()

    def _rows(self, stream: TargetStream, table: pa.Table) -> pa.Table:
        """The chunk's rows of `stream` (`table`: the typed query's), with their metadata columns."""
        n = table.num_rows
        for k, column in enumerate(stream.columns):
            if column.kind is Kind.JSON:  # a value that may have lost digits or hold what is not JSON is taken again
                # from its line. (pyarrow's RE2 matches with half the CPU of DuckDB's regexp_matches.)
                flags = pc.match_substring_regex(table.column(f"c{k}"), _RECHECK_JSON, ignore_case=True)
                table = table.append_column(f"recheck{k}", flags)
        columns = {column.name: table.column(f"c{k}") for k, column in enumerate(stream.columns)}
        metas = table.column("meta").cast(pa.string())
        changes: dict[int, list[dict[str, str]]] = {}  # row -> changes found in Python
        if self.repaired:
            for row, number in enumerate(table.column("i").to_pylist()):
                fields = self.repaired.get(number, set())
                for column in (c for c in stream.columns if c.name in fields):
                    changes.setdefault(row, []).append(_change(column.name, "TRUNCATED"))
        for k, column in enumerate(stream.columns):
            if f"recheck{k}" not in table.column_names or not pc.any(table.column(f"recheck{k}")).as_py():
                continue
            if column.kind is Kind.JSON:
                columns[column.name] = self._recheck_json(column.name, table, k, changes)
            else:
                columns[column.name] = self._recheck_number(column.name, table, k, changes)
        if changes:
            texts = metas.to_pylist()
            for row, found in changes.items():
                meta = orjson.loads(texts[row])
                meta["changes"] = [*meta["changes"], *found]
                texts[row] = orjson.dumps(meta).decode()
            metas = string_array(texts)
        if self.raw_ids:
            columns[RAW_ID] = table.column("raw_id")
        columns[EXTRACTED_AT] = pc.cast(table.column("emitted_ms"), pa.timestamp("ms", tz="UTC"))
        columns[GENERATION_ID] = int_array(np.full(n, stream.generation_id, dtype=np.int64))
        columns[META] = metas
        columns[SEQ] = table.column("i")
        return pa.table(columns)

    def _recheck_json(self, name: str, table: pa.Table, k: int, changes: dict[int, list[dict[str, str]]]) -> pa.Array:
        """Column `c{k}` with its flagged rows' JSON re-read from their lines: every number kept digit for digit,
        NULs removed (TRUNCATED), a value holding NaN or Infinity, or a number out of numeric's range where numbers
        go to PostgreSQL, nulled (NULLED); each change added to `changes`."""
        flagged, rows, texts = self._flagged_lines(table, k)
        exact: list[str | None] = []
        for row, number in zip(rows, texts, strict=True):
            cleaned = _JsonCleaner(self.numeric)
            try:
                line = simplejson.loads(texts[number], use_decimal=True, allow_nan=True)
                value = cleaned.clean(line["record"]["data"][name])
            except (_NotStored, simplejson.JSONDecodeError):  # DuckDB also reads `nan`, `inf`: not JSON either
                exact.append(None)
                changes.setdefault(row, []).append(_change(name, "NULLED"))
                continue
            if cleaned.truncated:
                changes.setdefault(row, []).append(_change(name, "TRUNCATED"))
            exact.append(simplejson.dumps(value, use_decimal=True, ensure_ascii=False, separators=(",", ":")))
        return pc.replace_with_mask(table.column(f"c{k}").combine_chunks(), flagged, string_array(exact))

    def _recheck_number(self, name: str, table: pa.Table, k: int, changes: dict[int, list[dict[str, str]]]) -> pa.Array:
        """Column `c{k}` (a number kept as text) with its flagged rows' numbers taken from the parsed line, digit for
        digit, through the same check of numeric's range (NULLED, added to `changes`, when out of it)."""
        flagged, rows, texts = self._flagged_lines(table, k)
        exact = [str(simplejson.loads(text, use_decimal=True)["record"]["data"][name]) for text in texts.values()]
        check = "SELECT list_transform(?::VARCHAR[], lambda t: numeric_text(t))"
        (checked,) = self.db.execute(check, [exact]).fetchone()
        for row, value in zip(rows, checked, strict=True):
            if value is None:
                changes.setdefault(row, []).append(_change(name, "NULLED"))
        return pc.replace_with_mask(table.column(f"c{k}").combine_chunks(), flagged, string_array(checked))

    def _flagged_lines(self, table: pa.Table, k: int) -> tuple[pa.Array, list[int], dict[int, str]]:
        """The mask of rows flagged by `recheck{k}`, their row indices, and their stdin lines by line number (in
        row order)."""
        flagged = table.column(f"recheck{k}").combine_chunks().fill_null(False)
        numbers = table.column("i").filter(flagged).to_pylist()
        found = dict(
            self.db.execute("SELECT i, line FROM lines WHERE i IN (SELECT unnest(?::BIGINT[]))", [numbers]).fetchall()
        )
        return flagged, pc.indices_nonzero(flagged).to_pylist(), {number: found[number] for number in numbers}

    def _control(self, number: int, text: str) -> dict[str, Any]:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError as exc:  # DuckDB's parser is laxer (a trailing comma, NaN)
            raise self._malformed(number, f"it is not strict JSON ({exc})") from exc
        if message["type"] == "STATE":  # its state blob is opaque here, echoed as it came: only its envelope checked
            self._check_state(number, message.get("state"))
            return message
        try:  # against the protocol's models; the message goes on as it came, every field kept
            AirbyteMessageSerializer.load(message)
        except SchemaValidationError as exc:
            why = "; ".join(f"{error.instance_path or 'the message'}: {error.message}" for error in exc.errors)
            raise self._malformed(number, why) from exc
        return message

    def _check_state(self, number: int, state: Any) -> None:
        if not isinstance(state, dict):
            raise self._malformed(number, "a STATE needs a state object")
        kind = state.get("type") or "LEGACY"
        if kind == "STREAM":
            descriptors = [(state.get("stream") or {}).get("stream_descriptor")]
        elif kind == "GLOBAL":
            descriptors = [s.get("stream_descriptor") for s in (state.get("global") or {}).get("stream_states") or []]
        elif kind == "LEGACY":
            return
        else:
            raise self._malformed(number, f"a STATE's type must be STREAM, GLOBAL or LEGACY, not {kind!r}")
        for descriptor in descriptors:
            if not isinstance(descriptor, dict) or not descriptor.get("name"):
                raise self._malformed(number, "a STATE's stream_descriptor needs a name")
            key = (descriptor.get("namespace"), descriptor["name"])
            if key not in self.streams:
                where = f"{key[0]}.{key[1]}" if key[0] else key[1]
                raise input_error(
                    f"stdin line {number + 1}: a STATE for stream '{where}', "
                    "which the configured catalog does not hold."
                )

    @staticmethod
    def _malformed(number: int, why: str) -> AirbyteTracedException:
        return input_error(f"stdin line {number + 1} is not a valid Airbyte message: {why}.")


def _surrogate_fields(line: str) -> set[str]:
    """The data fields of a RECORD line whose values hold a lone surrogate (Python's json reads them; a byte that
    is no UTF-8 is one too, decoded with surrogateescape)."""
    try:
        data = json.loads(line)["record"]["data"]
    except (ValueError, KeyError, TypeError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {name for name, value in data.items() if _has_surrogate(json.dumps(value, ensure_ascii=False))}


def _has_surrogate(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _change(name: str, change: str) -> dict[str, str]:
    return {"field": name, "change": change, "reason": "DESTINATION_SERIALIZATION_ERROR"}


class _NotStored(Exception):
    """A JSON value neither database can store as it is."""


class _JsonCleaner:
    """A JSON value (numbers as Decimal) as both databases can store it; `truncated` says whether a NUL was cut."""

    def __init__(self, numeric: bool) -> None:
        self.numeric = numeric
        self.truncated = False

    def clean(self, value: Any) -> Any:
        if isinstance(value, str):
            if "\0" in value:
                self.truncated = True
                return value.replace("\0", "")
            return value
        if isinstance(value, dict):
            return {self.clean(key): self.clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.clean(item) for item in value]
        if isinstance(value, float) or (self.numeric and isinstance(value, Decimal) and not _fits_numeric(value)):
            raise _NotStored  # NaN or Infinity (simplejson reads those as floats), or too large for numeric
        return value


def _fits_numeric(number: Decimal) -> bool:
    """Whether PostgreSQL's numeric holds `number` (see NUMERIC_MAX_WEIGHT)."""
    _, digits, exponent = number.as_tuple()
    weight = number.adjusted() if any(digits) else 0
    return max(0, -int(exponent)) <= NUMERIC_MAX_SCALE and weight <= NUMERIC_MAX_WEIGHT


def _spool_file() -> IO[bytes] | None:
    """The file each chunk is written to for DuckDB's JSON reader; None where no temporary folder is writable."""
    try:
        return tempfile.NamedTemporaryFile(prefix="airbyte-chunk-", suffix=".jsonl")
    except OSError:
        return None


def _envelope(message: str) -> str:
    """The columns of `env` (besides i and has_data) from a parsed `message` (a STRUCT, or '' for the reader's
    columns): flat, since a query over an Arrow table converts every column it reads whole, a struct with its data."""
    record = f"{message}record"
    return (
        f"{message}type AS type, {record}.stream AS stream, {record}.namespace AS namespace, "
        f"{record}.emitted_at AS emitted_at, {record}.data AS data, {record}.meta AS meta"
    )


def _type_text(structure: str | dict[str, Any]) -> str:
    """A json_transform structure as a DuckDB type, e.g. STRUCT("a b" VARCHAR); field names quoted as identifiers."""
    if isinstance(structure, str):
        return structure
    fields = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" {_type_text(kind)}' for name, kind in structure.items())
    return f"STRUCT({fields})"


def _without(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table` without `rows` (ascending, not all of them): slices between them where they are few (no copy, but a
    batch per slice), else filtered."""
    if len(rows) > 64:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        return table.filter(keep)
    starts = np.concatenate(([0], rows + 1))
    stops = np.concatenate((rows, [table.num_rows]))
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(starts, stops, strict=True) if b > a])


def _lines_table(data: memoryview | bytes, ends: np.ndarray, numbers: pa.Array, step: int) -> pa.Table:
    """`data`'s lines (ending at `ends`) as the table `lines` (i, line), in batches of `step` lines."""
    offsets = np.concatenate(([0], ends + 1)).astype(np.int32)
    lines = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    batches = [
        pa.record_batch({"i": numbers.slice(at, step), "line": lines.slice(at, step)})
        for at in range(0, len(ends), step)
    ]
    return pa.Table.from_batches(batches, schema=pa.schema({"i": pa.int64(), "line": pa.string()}))


def read_lines(
    stream: BinaryIO, size: int, max_wait: float = 1.0, idle: Callable[[], None] | None = None
) -> Iterator[memoryview]:
    """Whole lines from an unbuffered `stream`, up to about `size` bytes at a time, in one reused buffer.

    A piece is handed on when the buffer is full, or when the input pauses (nothing to read for a moment) or has
    been trickling for `max_wait` seconds, so that a slow source still gets its states acknowledged promptly.
    Each piece ends with a newline (one is added at the end of input if missing) and is valid only until the
    next one is asked for. A single line longer than the buffer grows it. While nothing comes, `idle` is called
    every `IDLE_SECONDS` (its error ends the reading).
    """
    buffer = bytearray(size)
    filled, started = 0, time.monotonic()
    while True:
        while idle is not None and not _readable(stream, IDLE_SECONDS):
            idle()
        if filled == len(buffer):  # one line longer than the buffer: a new one, twice as large, since the caller
            buffer = buffer + bytearray(len(buffer))  # may still hold a view of this one (it could not be resized)
        got = stream.readinto(memoryview(buffer)[filled:])
        if not got:
            break
        filled += got
        cut = buffer.rfind(b"\n", 0, filled) + 1
        if cut and (filled == len(buffer) or time.monotonic() - started > max_wait or not _readable(stream)):
            yield memoryview(buffer)[:cut]
            buffer[: filled - cut] = buffer[cut:filled]
            filled, started = filled - cut, time.monotonic()
    if filled:
        if buffer[filled - 1] != ord("\n"):
            buffer[filled : filled + 1] = b"\n"
            filled += 1
        yield memoryview(buffer)[:filled]


def _readable(stream: BinaryIO, wait: float = 0.05) -> bool:
    try:
        return bool(select.select([stream], [], [], wait)[0])
    except (OSError, ValueError):  # not selectable: a regular file is always ready
        return True
