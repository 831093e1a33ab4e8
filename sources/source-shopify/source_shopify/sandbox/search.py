"""Shopify's search syntax for a connection's `query:` argument, the subset the sandbox filters on.

Terms are `field:value` or `field:<op>value` (`>=`, `>`, `<=`, `<`), joined by ` AND ` or a space; a value may be
quoted with ' or ". Fields: `updated_at`, `created_at`, `processed_at` (RFC 3339 or a date), `id` (a number). Other
terms are ignored, as Shopify ignores unknown search fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TERM = re.compile(r"""(\w+):(>=|<=|>|<)?("[^"]*"|'[^']*'|\S+)""")
DATE_FIELDS = {"updated_at": "updatedAt", "created_at": "createdAt", "processed_at": "processedAt"}
FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Condition:
    field: str  # the record's field
    op: str  # one of = >= > <= <
    value: Any

    def matches(self, record: dict[str, Any]) -> bool:
        value = record.get(self.field)
        if value is None:
            return False
        if self.op == ">=":
            return value >= self.value
        if self.op == ">":
            return value > self.value
        if self.op == "<=":
            return value <= self.value
        if self.op == "<":
            return value < self.value
        return value == self.value


def _instant(text: str, op: str) -> tuple[str, str]:
    """A timestamp as the records' text form, with the operator adjusted for a fraction of a second."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when.microsecond:  # records have whole seconds: compare with the whole second on the right side
        when = when.replace(microsecond=0)
        if op in (">=", ">"):
            op, when = ">=", when + timedelta(seconds=1)
        elif op in ("<=", "<"):
            op = "<="
        else:
            return when.strftime(FORMAT) + ".5", op  # equal to a fraction of a second: no record matches
    return when.strftime(FORMAT), op


def parse(query: str | None) -> list[Condition]:
    conditions = []
    for name, op, raw in TERM.findall(query or ""):
        value = raw[1:-1] if raw[:1] in "'\"" and len(raw) > 1 else raw
        op = op or "="
        if name in DATE_FIELDS:
            try:
                text, op = _instant(value, op)
            except ValueError:
                continue
            conditions.append(Condition(DATE_FIELDS[name], op, text))
        elif name == "id" and value.isdigit():
            conditions.append(Condition("_n", op, int(value)))
    return conditions
