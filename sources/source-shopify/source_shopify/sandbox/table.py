"""Records of one type with a sorted index per sort key, so a filtered, cursor-continued page is a bisect.

An index is a list of `(value, n)` tuples (`n` = the record's numeric id), ordered like Shopify's pages: by the sort
key, then by id. A cursor is the base64 of `[sortKey, value, n]`.
"""

from __future__ import annotations

import base64
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from graphql import GraphQLError

from source_shopify.sandbox.search import Condition

Record = dict[str, Any]
ABOVE = "\U0010ffff"  # appended to a string value: sorts after every tuple holding that value


class CursorError(GraphQLError):
    """A cursor that is not one of ours or belongs to another sort key: a client error, like Shopify's."""


def encode_cursor(sort_key: str, value: Any, n: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort_key, value, n])).decode()


def decode_cursor(cursor: str, sort_key: str) -> tuple[Any, int]:
    try:
        key, value, n = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as error:
        raise CursorError(f"Invalid cursor: {cursor!r}") from error
    if key != sort_key:
        raise CursorError(f"Invalid cursor for the sort key {sort_key}: {cursor!r}")
    return value, n


class Page:
    """One page of a connection; `edges` and cursors are built only if the query asks for them."""

    __slots__ = ("_cursor", "hasNextPage", "hasPreviousPage", "nodes")

    def __init__(self, nodes: list[Record], cursor: Callable[[Record], str], has_next: bool, has_previous: bool):
        self.nodes, self._cursor = nodes, cursor
        self.hasNextPage, self.hasPreviousPage = has_next, has_previous

    @property
    def edges(self) -> list[dict[str, Any]]:
        return [{"cursor": self._cursor(node), "node": node} for node in self.nodes]

    @property
    def pageInfo(self) -> dict[str, Any]:
        return {
            "hasNextPage": self.hasNextPage,
            "hasPreviousPage": self.hasPreviousPage,
            "startCursor": self._cursor(self.nodes[0]) if self.nodes else None,
            "endCursor": self._cursor(self.nodes[-1]) if self.nodes else None,
        }


def child_page(records: list[Record], first: int, after: str | None) -> Page:
    """A page of a record's child list (line items, variants, inventory levels), kept in id order."""
    start = 0
    if after is not None:
        _, n = decode_cursor(after, "ID")
        start = bisect_right([r["_n"] for r in records], n)
    nodes = records[start : start + first]
    return Page(nodes, lambda r: encode_cursor("ID", r["_n"], r["_n"]), start + first < len(records), start > 0)


class Table:
    """Records by numeric id, with an index per sort key (`sort_fields`: sort key -> record field)."""

    def __init__(self, records: list[Record], sort_fields: dict[str, str]):
        self.by_n = {r["_n"]: r for r in records}
        self.sort_fields = sort_fields
        self.index = {key: sorted((r[field], r["_n"]) for r in records) for key, field in sort_fields.items()}

    def get(self, n: int) -> Record | None:
        return self.by_n.get(n)

    def update(self, n: int, changes: Record) -> Record:
        """Change a record's fields and move it in every index whose value changed."""
        record = self.by_n[n]
        for key, field in self.sort_fields.items():
            if field in changes and changes[field] != record[field]:
                index = self.index[key]
                del index[bisect_left(index, (record[field], n))]
                insort(index, (changes[field], n))
        record.update(changes)
        return record

    def cursor(self, sort_key: str) -> Callable[[Record], str]:
        field = self.sort_fields[sort_key]
        return lambda r: encode_cursor(sort_key, r[field], r["_n"])

    def scan(self, sort_key: str, reverse: bool, conditions: list[Condition], after: str | None) -> Iterator[Record]:
        """Matching records in page order, strictly after the cursor `after`."""
        field = self.sort_fields[sort_key]
        index = self.index[sort_key]
        lo, hi = 0, len(index)
        rest = []
        for condition in conditions:
            if condition.field != field:
                rest.append(condition)
                continue
            value = condition.value
            above = value + ABOVE if isinstance(value, str) else value + 0.5
            if condition.op in (">=", "="):
                lo = max(lo, bisect_left(index, (value,)))
            if condition.op == ">":
                lo = max(lo, bisect_left(index, (above,)))
            if condition.op in ("<=", "="):
                hi = min(hi, bisect_left(index, (above,)))
            if condition.op == "<":
                hi = min(hi, bisect_left(index, (value,)))
        if after is not None:
            position = decode_cursor(after, sort_key)
            if reverse:
                hi = min(hi, bisect_left(index, tuple(position)))
            else:
                lo = max(lo, bisect_right(index, tuple(position)))
        by_n = self.by_n
        positions = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
        for i in positions:
            record = by_n[index[i][1]]
            if all(c.matches(record) for c in rest):
                yield record

    def page(self, sort_key: str, reverse: bool, conditions: list[Condition], first: int, after: str | None) -> Page:
        nodes = []
        has_next = False
        for record in self.scan(sort_key, reverse, conditions, after):
            if len(nodes) == first:
                has_next = True
                break
            nodes.append(record)
        return Page(nodes, self.cursor(sort_key), has_next, after is not None)
