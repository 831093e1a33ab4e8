"""Test support shared by every package's tests: local servers (`servers`), a connector's CLI as a process
(`cli`), messages and catalogs (`messages`) and the local PostgreSQL (`postgres`, which needs psycopg)."""

from source_core.testing.cli import Cli, Run, lines, parse_output
from source_core.testing.messages import (
    EMITTED_AT,
    catalog,
    record,
    source_error,
    state,
    state_list,
    status,
    stream_entry,
)
from source_core.testing.servers import free_port, served, start_moto, start_server, stop_server

__all__ = [
    "EMITTED_AT",
    "Cli",
    "Run",
    "catalog",
    "free_port",
    "lines",
    "parse_output",
    "record",
    "served",
    "source_error",
    "start_moto",
    "start_server",
    "state",
    "state_list",
    "status",
    "stop_server",
    "stream_entry",
]
