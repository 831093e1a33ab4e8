"""Raw batches -> the stream's column types, in one DuckDB query per batch.

Every format goes through the same casts (`TRY_CAST`), so a value means the same in CSV, JSONL and Parquet. A
value that is present but does not fit its column (`abc` in an integer column, `1.5` too, a bad date) makes its
row bad: the read stops with an error naming the file, line, column and value, or, with `on_error: skip`, the
row is left out and counted. Numbers keep the digits the file wrote (written as exact JSON numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from source_core.emit import Column, Kind
from source_file.formats import FileError, RawBatch

JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
_CASTS = {Kind.BOOLEAN: "BOOLEAN", Kind.DATE: "DATE", Kind.TIMESTAMPTZ: "TIMESTAMPTZ",
          Kind.TIMESTAMP: "TIMESTAMP", Kind.TIME: "TIME"}  # fmt: skip


def _is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_null(type_)


def _is_binary(type_: pa.DataType) -> bool:
    return pa.types.is_binary(type_) or pa.types.is_large_binary(type_) or pa.types.is_fixed_size_binary(type_)


@dataclass
class Converted:
    table: pa.Table
    skipped: int


class Converter:
    def __init__(self, columns: list[Column]) -> None:
        """`columns`: the data columns with the kinds the schema gives them (NUMBER comes out as exact text)."""
        self.columns = columns
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")  # a date-time without an offset is UTC, not the host's time

    def _text(self, k: int, raw: RawBatch) -> str:
        """Column k as the casts take it: text (a JSON string unquoted, a CSV null value NULL outside string columns),
        or a typed Parquet value as it is."""
        value = f"r{k}"
        if raw.json:
            return f"CASE WHEN json_type({value}::JSON) = 'VARCHAR' THEN {value}::JSON ->> '$' ELSE {value} END"
        if raw.nulls and self.columns[k].kind is not Kind.STRING:  # a quoted "" is no value here, as inference has it
            listed = ", ".join("'" + text.replace("'", "''") + "'" for text in raw.nulls)
            return f"CASE WHEN {value} NOT IN ({listed}) THEN {value} END"
        type_ = raw.table.schema.field(k).type
        if _is_binary(type_):
            return f"base64({value})"
        if pa.types.is_nested(type_):
            return f"to_json({value})::VARCHAR"
        return value

    def _typed(self, k: int, column: Column, raw: RawBatch) -> str:
        value, type_ = f"s{k}", raw.table.schema.field(k).type
        text = raw.json or _is_text(type_) or pa.types.is_nested(type_) or _is_binary(type_)
        match column.kind:
            case Kind.INTEGER if pa.types.is_integer(type_):
                return value  # any width, unsigned 64-bit too: the encoder writes it as it is
            case Kind.INTEGER:
                return (f"CASE WHEN TRY_CAST({value} AS DOUBLE) = floor(TRY_CAST({value} AS DOUBLE)) "
                        f"THEN TRY_CAST({value} AS BIGINT) END")  # fmt: skip
            case Kind.NUMBER if text:
                return (f"CASE WHEN regexp_full_match(trim({value}), '{JSON_NUMBER}') THEN trim({value}) "
                        f"ELSE CAST(TRY_CAST({value} AS DOUBLE) AS VARCHAR) END")  # fmt: skip
            case Kind.NUMBER if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
                return f"CAST({value} AS VARCHAR)"  # exact for decimals, shortest round trip for doubles
            case Kind.NUMBER:
                return f"CAST(TRY_CAST({value} AS DOUBLE) AS VARCHAR)"
            case Kind.JSON if raw.json:
                return f"r{k}"
            case Kind.JSON if _is_text(type_):
                return f"CASE WHEN json_valid(r{k}) THEN r{k} END"
            case Kind.JSON:
                return f"to_json(r{k})::VARCHAR"
            case Kind.STRING:
                return f"CAST({value} AS VARCHAR)"
            case Kind.TIMETZ:  # Arrow has no time-with-offset type: the encoder takes the validated text
                return f"CASE WHEN TRY_CAST({value} AS TIMETZ) IS NOT NULL THEN CAST({value} AS VARCHAR) END"
            case kind:
                return f"TRY_CAST({value} AS {_CASTS[kind]})"

    def convert(self, raw: RawBatch, url: str, skip_bad: bool) -> Converted:
        table = raw.table.rename_columns([f"r{k}" for k in range(raw.table.num_columns)])
        for k, field in enumerate(table.schema):
            if pa.types.is_decimal256(field.type):  # DuckDB takes decimals up to 38 digits: the rest as exact text
                table = table.set_column(k, field.name, table.column(k).cast(pa.string()))
        table = table.append_column("line", raw.lines)
        texts = "".join(f", {self._text(k, raw)} AS s{k}" for k in range(len(self.columns)))
        typed = "".join(f", {self._typed(k, c, raw)} AS c{k}" for k, c in enumerate(self.columns))
        bad = [f"(s{k} IS NOT NULL AND c{k} IS NULL)" for k in range(len(self.columns))]
        first_bad = " WHEN ".join(f"{cond} THEN {k}" for k, cond in enumerate(bad))
        flag = f"CASE WHEN {first_bad} END" if bad else "NULL"
        outputs = "".join(f", c{k}" for k in range(len(self.columns)))
        self.db.register("raw", table)
        try:
            result = self.db.sql(
                f"SELECT line, {flag} AS bad{outputs}, "
                f"{', '.join(f's{k}' for k in range(len(self.columns))) or 'NULL AS none'} "
                f"FROM (SELECT *{typed} FROM (SELECT *{texts} FROM raw))"
            ).to_arrow_table()
        finally:
            self.db.unregister("raw")
        flags = result.column("bad")
        skipped = flags.length() - flags.null_count if bad else 0
        if skipped and not skip_bad:
            position = flags.is_valid().to_pylist().index(True)
            k = flags[position].as_py()
            value = result.column(f"s{k}")[position].as_py()
            column = self.columns[k]
            line = raw.line_of(result.column("line")[position].as_py())
            raise FileError(f"{url}, line {line}: column {column.name!r} holds {value!r}, which is not a valid "
                            f"{column.kind.value}")  # fmt: skip
        if skipped:
            result = result.filter(flags.is_null())
        typed_columns = {c.name: result.column(f"c{k}") for k, c in enumerate(self.columns)}
        return Converted(pa.table(typed_columns) if typed_columns else pa.table({}), skipped)
