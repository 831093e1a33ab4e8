"""Finding a field's own text in a line of JSON, for the numbers a JSON parser would round to a double."""

from __future__ import annotations

import json

# after a key: optional spaces, a colon, optional spaces, then the number's text (captured)
NUMBER_AFTER_KEY = r"\s*:\s*(-?[0-9][0-9.eE+-]*)"


def literal_pattern(text: str) -> str:
    """`text` as an RE2 pattern matching itself: every character but ASCII letters and digits as a hex escape
    (so the pattern also holds no quote, and can be written into SQL as a literal)."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def number_pattern(key: str) -> str:
    """An RE2 pattern whose group 1 is the number written after `key` in a JSON object (UTF-8 written as is)."""
    return literal_pattern(json.dumps(key, ensure_ascii=False)) + NUMBER_AFTER_KEY
