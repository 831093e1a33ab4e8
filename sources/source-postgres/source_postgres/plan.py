"""How one configured stream is read: which columns, in which order, and how its STATE maps to a position.

The order is what makes a read resumable: the primary key for full refresh (or the physical row address,
ctid, for tables without one), and cursor then primary key for incremental. A STATE holds the position of
the last emitted row in that order; the next read continues strictly after it.

Values of a position travel as text in PostgreSQL's own output format (which casts back exactly) and reach
the server only as bound parameters: the streamed query reads them with current_setting(). The query orders
and compares the table's own columns (qualified by the relation's alias), never the SELECT list's outputs of the
same name, which may be a text cast of them (inet, enums, intervals...) that sorts differently.

Without a key, rows of one cursor value have no position of their own: the query numbers the cursor's distinct
values (dense_rank, under the same ordering), so that the server, not their text, says which rows tie (numeric 1.0
and 1.00, float -0 and 0, interval '1 day' and '24 hours' are equal with different texts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from source_core.config import config_error
from source_core.emit import Kind
from source_postgres.catalog import PgColumn, Relation
from source_postgres.types import orderable, select_expression

FULL_REFRESH_DONE = "__ab_full_refresh_sync_complete"
_SETTING = "airbyte.p{}"
_ALIAS = "_ab_rel"  # the relation's alias in the read query
# Kinds whose Arrow value is already the exact text (or integer) PostgreSQL casts back (bytea's base64 is not);
# others get a hidden `CAST(column AS text)` select column for their position.
_EXACT_KINDS = {Kind.INTEGER, Kind.STRING, Kind.DECIMAL}


@dataclass(frozen=True)
class OrderColumn:
    name: str  # column name, or "ctid"
    field: str  # the batch field holding its position value
    expression: sql.Composable  # the table's column, qualified by the relation's alias
    type: sql.Composable  # the type the position text is cast back to
    hidden: sql.Composable | None  # what is selected as `field` when the data columns do not hold the position


@dataclass(frozen=True)
class ReadPlan:
    relation: Relation
    columns: tuple[PgColumn, ...]
    order: tuple[OrderColumn, ...]
    cursor: str | None  # incremental when set
    ties: str | None  # the batch field numbering cursor values when rows may share them (incremental, no key)

    @property
    def physical(self) -> bool:
        """Ordered by row address: read in heap order without ORDER BY (a seq or TID range scan)."""
        return bool(self.order) and self.order[0].name == "ctid"

    @property
    def data_fields(self) -> list[str]:
        return [c.name for c in self.columns]

    def query(self, resume_from: int) -> sql.Composed:
        """SELECT for this stream, continuing after a position of `resume_from` leading order columns."""
        rel = sql.SQL("{} AS {}").format(
            sql.Identifier(self.relation.schema, self.relation.name), sql.Identifier(_ALIAS)
        )
        select = [
            sql.SQL("{} AS {}").format(select_expression(sql.Identifier(c.name), c.how), sql.Identifier(c.name))
            for c in self.columns
        ]
        select += [
            sql.SQL("{} AS {}").format(o.hidden, sql.Identifier(o.field)) for o in self.order if o.hidden is not None
        ]
        if self.ties is not None:
            select.append(
                sql.SQL("dense_rank() OVER (ORDER BY {}) AS {}").format(
                    self.order[0].expression, sql.Identifier(self.ties)
                )
            )
        where: list[sql.Composable] = []
        if self.cursor is not None:
            where.append(sql.SQL("{} IS NOT NULL").format(sql.Identifier(self.cursor)))
        if resume_from:
            lead = self.order[:resume_from]
            values = [
                sql.SQL("CAST(current_setting({}) AS {})").format(sql.Literal(_SETTING.format(i)), o.type)
                for i, o in enumerate(lead)
            ]
            where.append(
                sql.SQL("({}) > ({})").format(
                    sql.SQL(", ").join(o.expression for o in lead), sql.SQL(", ").join(values)
                )
            )
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select) if select else sql.SQL("NULL"), rel)
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        if self.order and not self.physical:
            query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(o.expression for o in self.order)
        return query

    @staticmethod
    def settings(position: list[Any]) -> dict[str, str]:
        return {_SETTING.format(i): str(value) for i, value in enumerate(position)}

    # -- STATE <-> position ------------------------------------------------------------------------------
    def state(self, position: list[Any] | None) -> dict[str, Any]:
        if self.cursor is None:
            if position is None:
                return {FULL_REFRESH_DONE: True}
            return (
                {"ctid": position[0]} if self.physical else {"key": dict(zip(self._key_names, position, strict=True))}
            )
        state: dict[str, Any] = {"cursor_field": [self.cursor], "cursor": position[0] if position else None}
        if position and len(position) > 1:
            state["key"] = dict(zip(self._key_names, position[1:], strict=True))
        return state

    @property
    def _key_names(self) -> list[str]:
        names = [o.name for o in self.order]
        return names[1:] if self.cursor is not None else names

    def position(self, state: dict[str, Any] | None, logger: logging.Logger) -> list[Any] | None:
        """Where a read starting from `state` continues (None: from the start)."""
        if not state:
            return None
        where = f"{self.relation.schema}.{self.relation.name}"
        if self.cursor is None:
            if FULL_REFRESH_DONE in state:
                return None
            if self.physical and "ctid" in state:
                return [state["ctid"]]
            if not self.physical and list(state.get("key") or {}) == self._key_names and self._key_names:
                return list(state["key"].values())
            logger.warning(f"{where}: the saved state does not fit a full refresh of this table; reading it whole.")
            return None
        if state.get("cursor_field") != [self.cursor]:
            logger.warning(
                f"{where}: the saved state is for cursor {state.get('cursor_field')}, not [{self.cursor}]; "
                "reading it whole."
            )
            return None
        if state.get("cursor") is None:
            return None
        key = state.get("key")
        if not key:  # saved at a change of cursor value: "cursor > saved" is exact
            return [state["cursor"]]
        if list(key) == self._key_names:
            return [state["cursor"], *key.values()]
        # Rows sharing the saved cursor value may still be unread, and the saved key cannot find them any more.
        logger.warning(f"{where}: the saved state's key {list(key)} is not the table's key now; reading it whole.")
        return None


def _hidden_field(name: str, taken: set[str]) -> str:
    """A batch field name for a hidden select column, clear of the table's columns and the other hidden ones."""
    while name in taken:
        name = "_" + name
    taken.add(name)
    return name


def _order_column(column: PgColumn, data: tuple[PgColumn, ...], taken: set[str]) -> OrderColumn:
    """Order by `column`; its position comes from its `data` column when that holds the exact text, otherwise
    from a hidden one (its text, or the data's own form when the catalog does not select it)."""
    expression = sql.Identifier(_ALIAS, column.name)
    exact = column.how.kind in _EXACT_KINDS and column.how.cast != "base64"
    field, hidden = column.name, None
    if not exact:
        field = _hidden_field("_ab_position_" + column.name, taken)
        hidden = sql.SQL("CAST({} AS text)").format(expression)
    elif column not in data:
        hidden = select_expression(expression, column.how)
    return OrderColumn(column.name, field, expression, sql.Identifier(column.type.schema, column.type.name), hidden)


def plan_stream(
    relation: Relation, selected: list[str] | None, cursor: str | None, primary_key: list[str] | None
) -> ReadPlan:
    """Validate a configured stream against the table as it is now, and decide how to read it."""
    where = f"{relation.schema}.{relation.name}"
    names = [c.name for c in relation.columns]
    if selected is not None:
        missing = [n for n in selected if n not in names]
        if missing:
            raise config_error(
                f"Columns {missing} of stream {where} are not in the table any more (or not readable): "
                "run discover again and update the configured catalog."
            )
    columns = tuple(c for c in relation.columns if selected is None or c.name in selected)
    for name in primary_key or []:
        if relation.column(name) is None:
            raise config_error(
                f"Primary key column {name!r} of stream {where} does not exist: fix the catalog's primary_key."
            )
    # Reads are ordered by the table's own key only: one chosen in the catalog (for a table without one) need not be
    # unique or free of NULLs, and resuming after a value it repeats would skip rows.
    key = list(relation.primary_key)
    taken = set(names)
    order: list[OrderColumn] = []
    if cursor is not None:
        column = relation.column(cursor)
        if column is None:
            raise config_error(f"Cursor column {cursor!r} does not exist in {where}: choose another cursor_field.")
        if not orderable(column.type):
            raise config_error(
                f"Cursor column {cursor!r} of {where} has type {column.type.name}, which cannot be a cursor: "
                "use a number, date, timestamp, text or uuid column."
            )
        order.append(_order_column(column, columns, taken))
    order += [_order_column(relation.column(k), columns, taken) for k in key if k != cursor]
    ties = _hidden_field("_ab_tie", taken) if cursor is not None and not key else None
    if cursor is None and not key and relation.has_ctid:
        ctid = sql.Identifier(_ALIAS, "ctid")
        order.append(
            OrderColumn(
                "ctid",
                _hidden_field("_ab_ctid", taken),
                ctid,
                sql.Identifier("pg_catalog", "tid"),
                sql.SQL("CAST({} AS text)").format(ctid),
            )
        )
    return ReadPlan(relation, columns, tuple(order), cursor, ties)
