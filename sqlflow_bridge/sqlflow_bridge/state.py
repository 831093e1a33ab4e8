"""Where Airbyte STATE messages are kept between reads: a JSON file, or a DuckDB table like SQLFlow's
`sqlflow_state(key, value JSON, timestamp)`.

A store holds, per scope (one connection: a pipeline's source), the latest state of each stream, or one GLOBAL
state; `load` gives them in the form `--state` takes. `commit` replaces the given streams' states in one atomic
step (a file renamed into place after fsync, or one database transaction).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from destination_core.durable import make_folders, place
from sqlflow_bridge.errors import config_error

GLOBAL = "__global__"


def state_key(state: dict[str, Any]) -> str:
    """Which stream a STATE (its `state` object) is for: "namespace.name", ".name" without one, or GLOBAL."""
    if state.get("type") == "GLOBAL":
        return GLOBAL
    if state.get("type") != "STREAM":
        raise config_error(f"Only STREAM and GLOBAL states can be stored, not {state.get('type')!r} (LEGACY).")
    descriptor = state["stream"]["stream_descriptor"]
    return f"{descriptor.get('namespace') or ''}.{descriptor['name']}"


def merge(current: dict[str, dict[str, Any]], states: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Later states replace earlier ones of their stream; a GLOBAL state replaces everything."""
    merged = dict(current)
    for state in states:
        key = state_key(state)
        if key == GLOBAL:
            merged = {}
        else:
            merged.pop(GLOBAL, None)
        merged[key] = {k: v for k, v in state.items() if k not in ("sourceStats", "destinationStats")}
    return merged


class StateStore(ABC):
    @abstractmethod
    def _read(self, scope: str) -> dict[str, dict[str, Any]]:
        """The stored states of `scope` by `state_key`."""

    @abstractmethod
    def _replace(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        """Store exactly `states` for `scope`, atomically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def load(self, scope: str) -> list[dict[str, Any]]:
        """The stored states of `scope`, as the list of STATE objects a connector's `--state` takes."""
        return list(self._read(scope).values())

    def commit(self, scope: str, states: Iterable[dict[str, Any]]) -> None:
        states = list(states)
        if not states:
            return
        with self._lock:
            self._replace(scope, merge(self._read(scope), states))

    def clear(self, scope: str) -> None:
        with self._lock:
            self._replace(scope, {})


class FileStateStore(StateStore):
    """A JSON file {scope: {stream: state}}; each commit writes a new file and renames it into place."""

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__()
        self.path = Path(path)

    def _all(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise config_error(f"State file {self.path} is not JSON ({exc}): repair or delete it.") from exc

    def _read(self, scope: str) -> dict[str, dict[str, Any]]:
        return self._all().get(scope, {})

    def _replace(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        everything = self._all()
        everything[scope] = states
        make_folders(str(self.path.parent))
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(everything, handle, indent=1)
            place(temp, str(self.path))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class DuckDBStateStore(StateStore):
    """Rows (key, value JSON, timestamp) of a DuckDB table, key "scope/stream", as SQLFlow's `sqlflow_state`.

    A "/" in the stream part is written %2F (and "%" %25), so that a scope's keys are those with no "/" after its
    own: scope "prod" never sees the states of scope "prod/x".
    """

    def __init__(self, path: str | os.PathLike[str], table: str = "sqlflow_state"):
        super().__init__()
        self.path = str(path)
        self.table = '"' + table.replace('"', '""') + '"'
        with self._connect() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (key VARCHAR PRIMARY KEY, value JSON, timestamp TIMESTAMPTZ)"
            )

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # A connection per use: the file stays free for other processes (SQLFlow's own) between commits.
        return duckdb.connect(self.path)

    def _where(self, scope: str) -> tuple[str, list[Any]]:
        """The condition that picks the keys of `scope`, and its parameters."""
        return "starts_with(key, ?) AND strpos(substr(key, ?), '/') = 0", [scope + "/", len(scope) + 2]

    def _read(self, scope: str) -> dict[str, dict[str, Any]]:
        where, params = self._where(scope)
        with self._connect() as db:
            rows = db.execute(f"SELECT key, value FROM {self.table} WHERE {where} ORDER BY key", params).fetchall()
        return {_unescape(key[len(scope) + 1 :]): json.loads(value) for key, value in rows}

    def _replace(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        where, params = self._where(scope)
        with self._connect() as db:
            db.execute("BEGIN")
            db.execute(f"DELETE FROM {self.table} WHERE {where}", params)
            for key, state in states.items():
                db.execute(
                    f"INSERT INTO {self.table} VALUES (?, ?, now())", [f"{scope}/{_escape(key)}", json.dumps(state)]
                )
            db.execute("COMMIT")


def _escape(key: str) -> str:
    return key.replace("%", "%25").replace("/", "%2F")


def _unescape(key: str) -> str:
    return key.replace("%2F", "/").replace("%25", "%")


class DeferredStateStore(StateStore):
    """Keeps commits in memory until `flush` (SQLFlow: until the pipeline that loaded the rows has succeeded)."""

    def __init__(self, target: StateStore):
        super().__init__()
        self.target = target
        self.pending: dict[str, dict[str, dict[str, Any]]] = {}

    def _read(self, scope: str) -> dict[str, dict[str, Any]]:
        return self.pending[scope] if scope in self.pending else self.target._read(scope)

    def _replace(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        self.pending[scope] = states

    def flush(self) -> None:
        with self._lock:
            pending, self.pending = self.pending, {}
        with self.target._lock:
            for scope, states in pending.items():
                self.target._replace(scope, states)
