"""Bulk query operations: the query's selection is compiled once into a plan and projected over the records by
a background thread, which writes the JSONL file while the operation is RUNNING.

The file holds one line per node of the root connection, nested objects inline, and one line per node of a nested
connection after its parent, with `"__parentId"`. graphql-core only parses and validates the query: executing it
per record would be some 50 times slower.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values
from graphql.type.definition import GraphQLOutputType

from source_shopify.sandbox import search
from source_shopify.sandbox.data import gid, now
from source_shopify.sandbox.resolvers import CHILDREN, COMPUTED, ROOT_TABLES, SCOPES, Context, numeric_id, visible
from source_shopify.sandbox.table import Record, Table

PLAIN, CALL, OBJECT, LIST, CONNECTION, CONSTANT = range(6)
Plan = list[tuple[str, int, Any, Any]]  # (response key, kind, field name | getter | constant, sub-plan)
FLUSH_EVERY = 2000  # root records between file writes and objectCount updates
TOUCH_GAP_SECONDS = 1.1  # between a `bulk_touch` fault's two changes
IN_PROGRESS = ("CREATED", "RUNNING", "CANCELING")


class AccessDenied(Exception):
    pass


@dataclass
class Operation:
    n: int
    query: str
    created_at: str
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: str | None = None
    object_count: int = 0
    root_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_url: str | None = None
    path: Path | None = None
    expired: bool = False
    hold_seconds: float = 0.0  # a `bulk_slow` fault: stays RUNNING at least this long
    cancel: threading.Event = field(default_factory=threading.Event)

    def graphql(self) -> dict[str, Any]:
        return {
            "id": gid("BulkOperation", self.n),
            "type": "QUERY",
            "status": self.status,
            "errorCode": self.error_code,
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
            "objectCount": str(self.object_count),
            "rootObjectCount": str(self.root_count),
            "fileSize": None if self.file_size is None else str(self.file_size),
            "url": self.url,
            "partialDataUrl": self.partial_url,
            "query": self.query,
        }


def _is_list(kind: GraphQLOutputType) -> bool:
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


def compile_plan(
    schema: GraphQLSchema, fragments: dict, parent: GraphQLObjectType, nodes: list[FieldNode], ctx: Context
) -> Plan:
    """The projection of `nodes`' sub-selections on a `parent` record; raises AccessDenied for a missing scope."""
    plan: Plan = []
    for key, field_nodes in collect_sub_fields(schema, fragments, {}, parent, nodes).items():
        name = field_nodes[0].name.value
        if name == "__typename":
            plan.append((key, CONSTANT, parent.name, None))
            continue
        scope = SCOPES.get((parent.name, name))
        if scope is not None and scope not in ctx.scopes:
            raise AccessDenied(name)
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        args = get_argument_values(definition, field_nodes[0], {})
        computed = COMPUTED.get(parent.name, {}).get(name)
        getter = (lambda r, f=computed, a=args: f(r, a, ctx)) if computed else (lambda r, n=name: r.get(n))
        if (parent.name, name) in CHILDREN:
            children = CHILDREN[parent.name, name]
            node_type, node_fields = _connection_nodes(schema, fragments, named, field_nodes)
            sub = compile_plan(schema, fragments, node_type, node_fields, ctx)
            plan.append((key, CONNECTION, lambda r, f=children, a=args: f(r, a, ctx), sub))
        elif is_leaf_type(named):
            plan.append((key, CALL, getter, None) if computed else (key, PLAIN, name, None))
        else:
            sub = compile_plan(schema, fragments, named, field_nodes, ctx)
            plan.append((key, LIST if _is_list(definition.type) else OBJECT, getter, sub))
    return plan


def _connection_nodes(
    schema: GraphQLSchema, fragments: dict, connection: Any, field_nodes: list[FieldNode]
) -> tuple[GraphQLObjectType, list[FieldNode]]:
    """The node type of a connection and the field nodes selecting on it (`edges { node }` and `nodes`)."""
    fields = collect_sub_fields(schema, fragments, {}, connection, field_nodes)
    node_type = get_named_type(connection.fields["nodes"].type)
    selected = field_nodes_named(fields, "nodes")
    edges = field_nodes_named(fields, "edges")
    if edges:
        edge_type = get_named_type(connection.fields["edges"].type)
        selected += field_nodes_named(collect_sub_fields(schema, fragments, {}, edge_type, edges), "node")
    return node_type, selected


def field_nodes_named(fields: dict[str, list[FieldNode]], name: str) -> list[FieldNode]:
    return [node for nodes in fields.values() for node in nodes if node.name.value == name]


def project(plan: Plan, record: Record, children: list) -> dict[str, Any]:
    out = {}
    for key, kind, how, sub in plan:
        if kind == PLAIN:
            out[key] = record.get(how)
        elif kind == CALL:
            out[key] = how(record)
        elif kind == OBJECT:
            value = how(record)
            out[key] = None if value is None else project(sub, value, children)
        elif kind == LIST:
            out[key] = [project(sub, value, children) for value in how(record)]
        elif kind == CONNECTION:
            children.append((sub, how(record)))
        else:
            out[key] = how
    return out


def emit(plan: Plan, record: Record, parent_id: str | None, lines: list[bytes]) -> None:
    children: list = []
    line = project(plan, record, children)
    if parent_id is not None:
        line["__parentId"] = parent_id
    lines.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    for sub, nodes in children:
        for node in nodes:
            emit(sub, node, record["id"], lines)


class BulkOperations:
    """Every bulk operation of the shop; one query operation runs at a time."""

    def __init__(self, schema: GraphQLSchema, data_lock: threading.Lock):
        self.schema = schema
        self.data_lock = data_lock  # the records', held for a change an operation makes while it runs
        self.folder = Path(tempfile.mkdtemp(prefix="shopify-sandbox-bulk-"))
        self.lock = threading.Lock()
        self.operations: dict[int, Operation] = {}
        self.thread: threading.Thread | None = None
        self.started = 0
        self.fail_next = 0  # faults: the next operations fail / have their file expire / their lines shuffled
        self.expire_next = 0
        self.shuffle_next = 0
        self.touch_next = 0  # the next operations change two of their records while they run (see `_run`)
        self.slow_next: list[float] = []  # seconds the next operations stay RUNNING

    def current(self) -> dict[str, Any] | None:
        with self.lock:
            return self.operations[max(self.operations)].graphql() if self.operations else None

    def by_id(self, id_: str) -> dict[str, Any] | None:
        with self.lock:
            op = self.operations.get(numeric_id(id_, "BulkOperation") or 0)
            return op.graphql() if op else None

    def file(self, n: int) -> tuple[Path | None, bool]:
        """The result (or partial result) file of operation n and whether its URL has expired."""
        with self.lock:
            op = self.operations.get(n)
            return (op.path, op.expired) if op else (None, False)

    def reset(self) -> None:
        with self.lock:
            for op in self.operations.values():
                op.cancel.set()
            thread = self.thread
        if thread is not None:
            thread.join()
        with self.lock:
            self.operations.clear()
            self.thread = None
            self.started = self.fail_next = self.expire_next = self.shuffle_next = self.touch_next = 0
            self.slow_next.clear()
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir()

    def cancel(self, id_: str) -> dict[str, Any]:
        with self.lock:
            op = self.operations.get(numeric_id(id_, "BulkOperation") or 0)
            if op is None:
                return {
                    "bulkOperation": None,
                    "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}],
                }
            if op.status not in IN_PROGRESS:
                message = f"A bulk operation cannot be canceled when it is {op.status.lower()}"
                return {"bulkOperation": op.graphql(), "userErrors": [{"field": None, "message": message}]}
            op.status = "CANCELING"
            op.cancel.set()
            return {"bulkOperation": op.graphql(), "userErrors": []}

    def start(self, query: str, ctx: Context) -> dict[str, Any]:
        """bulkOperationRunQuery: validate, snapshot the root records, then write the file in a thread."""
        with self.lock:
            running = [op for op in self.operations.values() if op.status in IN_PROGRESS]
        if running:
            message = (
                "A bulk query operation for this app and shop is already in progress: "
                f"{gid('BulkOperation', running[0].n)}."
            )
            return {
                "bulkOperation": None,
                "userErrors": [{"field": None, "message": message, "code": "OPERATION_IN_PROGRESS"}],
            }
        try:
            plan, table, roots = self._prepare(query, ctx)
            denied = False
        except AccessDenied:
            plan, table, roots, denied = [], None, [], True
        except ValueError as error:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": str(error), "code": "INVALID"}],
            }
        with self.lock:
            self._drop_old_files()
            op = Operation(n=max(self.operations, default=0) + 1, query=query, created_at=now())
            op.hold_seconds = self.slow_next.pop(0) if self.slow_next else 0.0
            self.operations[op.n] = op
            self.started += 1
            fail = self.fail_next > 0
            self.fail_next -= fail
            shuffle = self.shuffle_next > 0
            self.shuffle_next -= shuffle
            touched = table if self.touch_next > 0 else None
            self.touch_next -= touched is not None
            if denied:
                op.status, op.error_code, op.completed_at = "FAILED", "ACCESS_DENIED", now()
            else:
                op.path = self.folder / f"{op.n}.jsonl"
                self.thread = threading.Thread(
                    target=self._run,
                    args=(op, plan, roots, fail, shuffle, touched, f"{ctx.base_url}/_bulk/{op.n}.jsonl"),
                    daemon=True,
                )
                self.thread.start()
            return {"bulkOperation": op.graphql(), "userErrors": []}

    def _drop_old_files(self, keep: int = 2) -> None:
        """Delete the files of all but the last `keep` operations: 100,000 orders make some 180 MB."""
        for n in sorted(self.operations)[:-keep]:
            op = self.operations[n]
            if op.path is not None:
                op.path.unlink(missing_ok=True)
                op.path = None

    def close(self) -> None:
        self.reset()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _prepare(self, query: str, ctx: Context) -> tuple[Plan, Table, list[Record]]:
        try:
            document = parse(query)
        except GraphQLSyntaxError as error:
            raise ValueError(f"Invalid bulk query: {error.message}") from error
        errors = validate(self.schema, document)
        if errors:
            raise ValueError(f"Invalid bulk query: {errors[0].message}")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation.value != "query":
            raise ValueError("Invalid bulk query: a bulk query must hold exactly one query operation")
        fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
        root = self.schema.query_type
        assert root is not None
        fields = collect_fields(self.schema, fragments, {}, root, operations[0].selection_set)
        if len(fields) != 1 or next(iter(fields.values()))[0].name.value not in ROOT_TABLES:
            raise ValueError("Bulk queries must contain exactly one top-level connection field.")
        field_nodes = next(iter(fields.values()))
        name = field_nodes[0].name.value
        scope = SCOPES[("QueryRoot", name)]
        if scope not in ctx.scopes:
            raise AccessDenied(name)
        definition = root.fields[name]
        args = get_argument_values(definition, field_nodes[0], {})
        node_type, node_fields = _connection_nodes(self.schema, fragments, get_named_type(definition.type), field_nodes)
        plan = compile_plan(self.schema, fragments, node_type, node_fields, ctx)
        table = getattr(ctx.data, ROOT_TABLES[name])
        conditions = visible(ROOT_TABLES[name], search.parse(args.get("query")), ctx)
        scan = table.scan(args.get("sortKey", "ID"), args.get("reverse", False), conditions, None)
        return plan, table, list(scan)

    def _run(
        self,
        op: Operation,
        plan: Plan,
        roots: list[Record],
        fail: bool,
        shuffle: bool,
        touched: Table | None,
        url: str,
    ) -> None:
        """Write the file of the records `roots` (those the query matched when it started), as they are when
        written. With `touched` (their table, a `bulk_touch` fault), half-way through the first record, already
        written, and then the last, still to come, are changed (`updatedAt` now), as a store's records change during
        a long export: the file holds the last one's new version and the first one's old one."""
        with self.lock:
            op.status = "RUNNING"
        stop = len(roots) // 2 if fail else len(roots)
        halfway = stop // 2 if touched is not None and stop >= 2 else None
        assert op.path is not None
        count = 0
        starts = sorted({*range(0, stop, FLUSH_EVERY), *([halfway] if halfway is not None else [])})
        with op.path.open("wb") as sink:
            for start, end in zip(starts, [*starts[1:], stop], strict=True):
                if op.cancel.is_set():
                    break
                if start == halfway and touched is not None:
                    for record in (roots[0], roots[stop - 1]):
                        with self.data_lock:
                            touched.update(record["_n"], {"updatedAt": now()})
                        op.cancel.wait(TOUCH_GAP_SECONDS)  # updatedAt counts seconds: the two changes differ
                lines: list[bytes] = []
                batch = roots[start:end]
                for record in batch:
                    emit(plan, record, None, lines)
                sink.write(b"".join(lines))
                count += len(lines)
                with self.lock:
                    op.object_count, op.root_count = count, op.root_count + len(batch)
        op.cancel.wait(op.hold_seconds)
        if shuffle:  # Shopify promises no order of lines: children may come before their parent
            lines = op.path.read_bytes().splitlines(keepends=True)
            random.Random(op.n).shuffle(lines)
            op.path.write_bytes(b"".join(lines))
        with self.lock:
            op.completed_at = now()
            if count:
                op.file_size = op.path.stat().st_size
            else:
                op.path.unlink()
                op.path = None
            if op.cancel.is_set():
                op.status, op.partial_url = "CANCELED", url if count else None
            elif fail:
                op.status, op.error_code, op.partial_url = "FAILED", "INTERNAL_SERVER_ERROR", url if count else None
            else:
                op.status, op.url = "COMPLETED", url if count else None
                if self.expire_next > 0:
                    op.expired, self.expire_next = True, self.expire_next - 1
