"""The baseline: a minimal airbyte-cdk source, written the obvious way.

One `Stream` whose `read_records` runs `SELECT *` through a psycopg server-side cursor and yields a dict per
row; the CDK turns each into an AirbyteMessage and serializes it. Usage: `python naive_cdk_source.py read
--config C --catalog K` with config {"dsn": ..., "table": "schema.name", "primary_key": "id"}.
"""

from __future__ import annotations

import datetime
import decimal
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import ConnectorSpecification, SyncMode
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream


def plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.datetime | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class Table(Stream):
    def __init__(self, dsn: str, table: str, key: str):
        self.dsn, self.table, self.key = dsn, table, key

    @property
    def name(self) -> str:
        return self.table.split(".")[-1]

    @property
    def primary_key(self) -> str:
        return self.key

    def get_json_schema(self) -> Mapping[str, Any]:
        return {"type": "object", "properties": {}}

    def read_records(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        schema, name = self.table.split(".")
        with psycopg.connect(self.dsn) as conn, conn.cursor(name="naive") as cur:
            cur.itersize = 10_000
            cur.execute(psycopg.sql.SQL("SELECT * FROM {}").format(psycopg.sql.Identifier(schema, name)))
            columns = None
            for row in cur:
                columns = columns or [c.name for c in cur.description]
                yield {c: plain(v) for c, v in zip(columns, row, strict=True)}


class NaiveSource(AbstractSource):
    def spec(self, logger: Any) -> ConnectorSpecification:
        return ConnectorSpecification(connectionSpecification={"type": "object", "properties": {}})

    def check_connection(self, logger: Any, config: Mapping[str, Any]) -> tuple[bool, Any]:
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        return [Table(config["dsn"], config["table"], config["primary_key"])]


if __name__ == "__main__":
    launch(NaiveSource(), sys.argv[1:])
