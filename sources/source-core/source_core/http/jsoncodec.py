"""JSON in and out for API bodies and their records: orjson, the fast path, and the standard json module for what
orjson cannot take exactly: an integer beyond 64 bits (orjson reads it as a rounded float and cannot write it), a
body after a UTF-8 byte order mark, a string holding an escaped lone surrogate (`"\\ud83d"`, half of an emoji)."""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
# The shortest digit runs of an integer beyond 64 bits (a longer float or a digit string inside a text matches too:
# those only take the slower way).
_BEYOND_64_BITS = (b"0" * 20, b"-" + b"0" * 19)


def _may_hold_a_big_integer(body: bytes) -> bool:
    digits = body.translate(_DIGITS_AS_ZERO)
    return any(run in digits for run in _BEYOND_64_BITS)


def loads(body: bytes) -> Any:
    """A JSON body as Python values, integers exact whatever their size; ValueError if it is not JSON."""
    if not _may_hold_a_big_integer(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body.decode("utf-8-sig"))


def dumps(value: Any) -> bytes:
    """`value` as JSON text; what orjson cannot write is written by json as ASCII (a lone surrogate as its escape,
    as the API sent it)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()
