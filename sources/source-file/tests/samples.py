"""Sample files (as bytes) and the records they must give, shared by the local and the S3 read tests.

Expected values are written by hand from the file contents, never taken from a run of the connector.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

BIG = "12345678901234567890.123"  # more digits than a double holds

VALUES_CSV = f'''\
id,name,amount,flag,day,note
1,plain,1.5,true,2024-01-02,"a, b"
2,"say ""hi""",{BIG},false,2024-02-29,""
3,,NULL,,,NULL
4,ünï ✓,-0.001,TRUE,1999-12-31,'single'
'''.encode()

VALUES_ROWS = [
    {"id": 1, "name": "plain", "amount": Decimal("1.5"), "flag": True, "day": "2024-01-02", "note": "a, b"},
    {"id": 2, "name": 'say "hi"', "amount": Decimal(BIG), "flag": False, "day": "2024-02-29", "note": ""},
    {"id": 3, "name": None, "amount": None, "flag": None, "day": None, "note": None},
    {"id": 4, "name": "ünï ✓", "amount": Decimal("-0.001"), "flag": True, "day": "1999-12-31", "note": "'single'"},
]

LATIN1_CSV = 'id;name;city\n1;café;Zürich\n2;Ærøskøbing;"Málaga; España"\n'.encode("latin1")
LATIN1_ROWS = [
    {"id": 1, "name": "café", "city": "Zürich"},
    {"id": 2, "name": "Ærøskøbing", "city": "Málaga; España"},
]

NO_HEADER_CSV = b"10,alpha\n20,beta\n"
NO_HEADER_ROWS = [{"num": 10, "word": "alpha"}, {"num": 20, "word": "beta"}]

NESTED_JSONL = (
    b'{"id": 1, "obj": {"k": "v", "n": [1, 2, 3], "deep": {"x": null}}, "tags": ["a", "b"], '
    b'"s": "quote \\" backslash \\\\ newline \\n tab \\t \\u00e9", "f": 0.25, "b": true}\n'
    b"\n"
    b'{"id": 2, "obj": {}, "tags": [], "s": "", "f": -3, "b": false}\n'
    b'{"id": 3, "obj": null, "tags": null, "s": null}\n'
)
NESTED_ROWS = [
    {"id": 1, "obj": {"k": "v", "n": [1, 2, 3], "deep": {"x": None}}, "tags": ["a", "b"],
     "s": 'quote " backslash \\ newline \n tab \t é', "f": Decimal("0.25"), "b": True},
    {"id": 2, "obj": {}, "tags": [], "s": "", "f": -3, "b": False},
    {"id": 3, "obj": None, "tags": None, "s": None, "f": None, "b": None},
]  # fmt: skip

NUMBERS_JSONL = f'{{"id": 1, "big": {BIG}, "small": 0.1}}\n{{"id": 2, "big": -1.5e-7, "small": 3}}\n'.encode()
NUMBERS_ROWS = [
    {"id": 1, "big": Decimal(BIG), "small": Decimal("0.1")},
    {"id": 2, "big": Decimal("-1.5e-7"), "small": 3},
]

SMALL_CSV_ROWS = [{"id": 1, "word": "one"}, {"id": 2, "word": "two, too"}]
SMALL_CSV = b'id,word\n1,one\n2,"two, too"\n'
SMALL_JSONL = b'{"id": 1, "word": "one"}\n{"id": 2, "word": "two, too"}\n'


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def bzipped(data: bytes) -> bytes:
    return bz2.compress(data)


def parquet_bytes() -> bytes:
    table = pa.table(
        {
            "i64": pa.array([9223372036854775807, None], pa.int64()),
            "f64": pa.array([1.25, None], pa.float64()),
            "dec": pa.array([Decimal(BIG), Decimal("-0.001")], pa.decimal128(23, 3)),
            "flag": pa.array([True, None]),
            "day": pa.array([dt.date(2024, 1, 2), None]),
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None], pa.timestamp("us")),
            "ts_tz": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC), None], pa.timestamp("us", tz="Asia/Kolkata")
            ),
            "text": pa.array(['x "q" \\ é', None]),
            "items": pa.array([[1, 2], []], pa.list_(pa.int64())),
            "obj": pa.array([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


PARQUET_ROWS = [
    {"i64": 9223372036854775807, "f64": Decimal("1.25"), "dec": Decimal(BIG), "flag": True, "day": "2024-01-02",
     "ts": "2024-01-02T03:04:05.123456", "ts_tz": "2024-01-02T03:04:05.500000Z", "text": 'x "q" \\ é',
     "items": [1, 2], "obj": {"a": 1, "b": "x"}},
    {"i64": None, "f64": None, "dec": Decimal("-0.001"), "flag": None, "day": None, "ts": None, "ts_tz": None,
     "text": None, "items": [], "obj": None},
]  # fmt: skip


def strict(value: Any) -> Any:
    """`value` with every scalar tagged by its JSON type, so that True != 1 and 1 != '1' in comparisons."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict(v) for v in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | Decimal):  # 3 and 3.0 are the same number; integer columns are checked by schema
        return ("number", Decimal(value))
    if isinstance(value, str):
        return ("string", value)
    raise TypeError(f"unexpected {type(value)}: {value!r}")
