"""The sandbox's state (data, bucket, faults, counts, bulk operations) and its HTTP server; see the package docs."""

from __future__ import annotations

import gc
import re
import shutil
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson
from graphql import (
    GraphQLError,
    GraphQLSyntaxError,
    OperationType,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from source_core.sandbox_http import SandboxHandler, SandboxHTTPServer, pending_faults, take_fault
from source_shopify.sandbox.bulk import BulkOperations
from source_shopify.sandbox.cost import MAX_COST, MUTATION_COST, Bucket, Coster
from source_shopify.sandbox.data import Dataset, generate
from source_shopify.sandbox.execution import RecordExecutionContext, never_awaitable
from source_shopify.sandbox.resolvers import Context, attach

FULL_TOKEN = "shpat_sandbox_full"
LIMITED_TOKEN = "shpat_sandbox_limited"
RECENT_ORDERS_TOKEN = "shpat_sandbox_recent_orders"
READ_SCOPES = ("read_customers", "read_orders", "read_products", "read_locations", "read_inventory")
SCOPES = {
    FULL_TOKEN: frozenset((*READ_SCOPES, "read_all_orders", "write_orders", "write_customers", "write_products")),
    LIMITED_TOKEN: frozenset(("read_products", "read_locations", "read_inventory")),
    RECENT_ORDERS_TOKEN: frozenset(READ_SCOPES),
}
RATE_DOCS = "https://shopify.dev/api/usage/rate-limits"
GRAPHQL_PATH = re.compile(r"/([^/]+)/admin/api/([^/]+)/graphql\.json")
VERSION = re.compile(r"\d{4}-\d{2}")
BULK_PATH = re.compile(r"/_bulk/(\d+)\.jsonl")
NOT_FOUND = {"errors": "Not Found"}
UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
REQUEST_ID = "1b355a21-7117-44c5-8d8b-8948082f40a8"
INTERNAL_ERROR = {  # Shopify's own failure, answered with status 200
    "errors": [
        {
            "message": "Internal error. Looks like something went wrong on our end.\n"
            f"Request ID: {REQUEST_ID} (include this in support requests).",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": REQUEST_ID},
        }
    ]
}
EXPIRED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>Request expired</Message></Error>"
)


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8766
    shop: str = "sandbox-shop"
    orders: int = 2000
    customers: int = 500
    products: int = 100
    locations: int = 3
    restore_rate: float = 100.0
    bucket: float = 2000.0
    seed: int = 1


class Sandbox:
    """One shop. `lock` guards the bucket, faults and counts; `data_lock` the records during a query or mutation."""

    def __init__(self, options: Options):
        self.options = options
        self.schema = attach(build_schema(resources.files(__package__).joinpath("schema.graphql").read_text()))
        self.lock = threading.Lock()
        self.data_lock = threading.Lock()
        self.bulk = BulkOperations(self.schema, self.data_lock)
        self.generation = 0  # counts resets: a response to a request from before the last reset is not counted
        self.reset()

    def reset(self) -> None:
        """Back to the seed: data, faults, counts, bucket (full, with the CLI's size and rate), bulk operations."""
        self.bulk.reset()
        o = self.options
        gc.unfreeze()
        data = generate(o.seed, o.shop, o.orders, o.customers, o.products, o.locations)
        gc.collect()
        gc.freeze()  # the seed lives as long as the server: keep the collector from rescanning it on every page
        with self.data_lock:
            self.data: Dataset = data
        with self.lock:
            self.bucket = Bucket(o.bucket, o.restore_rate)
            self.faults: deque[dict[str, Any]] = deque()
            self.gone_next = 0  # single lookups still to find their object deleted
            self.counts: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.by_root_field: Counter[str] = Counter()
            self.points = {"requested": 0, "spent": 0}
            self.generation += 1

    def control(self, body: dict[str, Any]) -> None:
        with self.lock:
            for fault in body.get("faults", []):
                kind, count = str(fault["kind"]), int(fault.get("count", 1))
                if kind == "bulk_slow":
                    with self.bulk.lock:
                        self.bulk.slow_next += [float(fault.get("seconds", 1.0))] * count
                elif kind in ("bulk_fail", "bulk_expire", "bulk_shuffle", "bulk_touch"):
                    with self.bulk.lock:
                        attribute = f"{kind.removeprefix('bulk_')}_next"
                        setattr(self.bulk, attribute, getattr(self.bulk, attribute) + count)
                elif kind == "gone":
                    self.gone_next += count
                else:
                    self.faults.append({**fault, "kind": kind, "count": count})
            if "restore_rate" in body:
                self.bucket.refill()
                self.bucket.restore_rate = float(body["restore_rate"])
            if "bucket" in body:
                self.bucket.maximum = self.bucket.available = float(body["bucket"])
            if "available" in body:
                self.bucket.refill()
                self.bucket.available = min(self.bucket.maximum, float(body["available"]))

    def next_fault(self) -> dict[str, Any] | None:
        with self.lock:
            return take_fault(self.faults)

    def take_gone(self) -> bool:
        with self.lock:
            if self.gone_next <= 0:
                return False
            self.gone_next -= 1
            return True

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.counts["requests"],
                "graphql_requests": self.counts["graphql"],
                "throttled": self.counts["throttled"],
                "max_cost_exceeded": self.counts["max_cost"],
                "points_requested": self.points["requested"],
                "points_spent": self.points["spent"],
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "bulk_operations": self.bulk.started,
                "by_root_field": dict(sorted(self.by_root_field.items())),
                "bucket": self.bucket.status(),
                "pending_faults": pending_faults(self.faults),
            }

    def graphql(self, request: Any, scopes: frozenset[str], base_url: str) -> dict[str, Any]:
        """One GraphQL request -> the response body (always HTTP 200)."""
        with self.lock:
            self.counts["graphql"] += 1
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return {"errors": [{"message": "No query string was present"}]}
        try:
            document = parse(request["query"])
        except GraphQLSyntaxError as error:
            return {"errors": [error.formatted]}
        errors = validate(self.schema, document)
        if errors:
            return {"errors": [e.formatted for e in errors]}
        operation_name = request.get("operationName")
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return {"errors": [{"message": "An operation name is required when the document holds several"}]}
        variables = request.get("variables") or {}
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return {"errors": [e.formatted for e in coerced]}
        fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
        coster = Coster(self.schema, fragments, coerced)
        mutation = operation.operation == OperationType.MUTATION
        root = self.schema.mutation_type if mutation else self.schema.query_type
        assert root is not None
        fields = coster.root_fields(root, operation.selection_set)
        names = [nodes[0].name.value for nodes in fields.values() if not nodes[0].name.value.startswith("__")]
        requested = MUTATION_COST * len(names) if mutation else coster.requested(root, fields)
        if requested > MAX_COST:
            with self.lock:
                self.counts["max_cost"] += 1
            message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_COST})."
            extensions = {
                "code": "MAX_COST_EXCEEDED",
                "cost": requested,
                "maxCost": MAX_COST,
                "documentation": RATE_DOCS,
            }
            return {"errors": [{"message": message, "extensions": extensions}]}
        with self.lock:
            allowed = self.bucket.take(requested)
            if not allowed:
                self.counts["throttled"] += 1
                cost = {
                    "requestedQueryCost": requested,
                    "actualQueryCost": None,
                    "throttleStatus": self.bucket.status(),
                }
                error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_DOCS}}
                return {"errors": [error], "extensions": {"cost": cost}}
            self.by_root_field.update(names)
        with self.data_lock:
            context = Context(self.data, scopes, self.bulk, base_url, self.take_gone)
            result = execute(
                self.schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                execution_context_class=RecordExecutionContext,
                is_awaitable=never_awaitable,
            )
        actual = requested if mutation else min(requested, coster.actual(root, fields, result.data))
        with self.lock:
            self.bucket.refund(requested - actual)
            self.points["requested"] += requested
            self.points["spent"] += actual
            status = self.bucket.status()
        body: dict[str, Any] = {}
        if result.data is not None:
            body["data"] = result.data
        if result.errors:
            body["errors"] = [_formatted(e) for e in result.errors]
        body["extensions"] = {
            "cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}
        }
        return body


def _formatted(error: GraphQLError) -> dict[str, Any]:
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        return {**error.formatted, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    return error.formatted


class Handler(SandboxHandler):
    content_type = "application/json; charset=utf-8"
    server: SandboxServer

    def _count_request(self) -> None:
        with self.server.sandbox.lock:
            self.server.sandbox.counts["requests"] += 1

    def do_POST(self) -> None:
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/_control":
            try:
                sandbox.control(orjson.loads(body or b"{}"))
            except (ValueError, KeyError, TypeError) as error:
                self._json(400, {"error": f"bad control request: {error}"}, counted=False)
                return
            self._json(200, {"ok": True}, counted=False)
            return
        if path == "/_reset":
            sandbox.reset()
            self._json(200, {"ok": True}, counted=False)
            return
        self._count_request()
        match = GRAPHQL_PATH.fullmatch(path)
        if not match or match.group(1) != sandbox.options.shop or not VERSION.fullmatch(match.group(2)):
            self._json(404, NOT_FOUND)
            return
        scopes = SCOPES.get(self.headers.get("X-Shopify-Access-Token", ""))
        if scopes is None:
            self._json(401, UNAUTHORIZED)
            return
        version = {"X-Shopify-API-Version": match.group(2)}
        fault = sandbox.next_fault()
        if fault is not None:
            if fault["kind"] == "slow":
                time.sleep(float(fault.get("seconds", 5)))
            elif fault["kind"].isdigit():
                status = int(fault["kind"])
                self._json(status, {"errors": SERVER_ERRORS.get(status, "Server Error")}, version)
                return
            elif fault["kind"] == "internal_error":
                self._json(200, INTERNAL_ERROR, version)
                return
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._json(400, {"errors": {"query": "Required parameter missing or invalid"}}, version)
            return
        response = sandbox.graphql(request, scopes, f"http://{self.headers.get('Host') or self._address()}")
        self._json(200, response, version)

    def _address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        if path == "/_stats":
            self._json(200, sandbox.stats(), counted=False)
            return
        self._count_request()
        match = BULK_PATH.fullmatch(path)
        if not match:
            self._json(404, NOT_FOUND)
            return
        file, expired = sandbox.bulk.file(int(match.group(1)))
        if expired:
            self._send(403, EXPIRED, content_type="application/xml")
            return
        if file is None or not file.exists():
            self._json(404, NOT_FOUND)
            return
        with file.open("rb") as source:
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonl")
            self.send_header("Content-Length", str(file.stat().st_size))
            self.end_headers()
            shutil.copyfileobj(source, self.wfile, 1 << 20)
        self._count(200)


class SandboxServer(SandboxHTTPServer):
    sandbox: Sandbox

    def __init__(self, sandbox: Sandbox):
        super().__init__((sandbox.options.host, sandbox.options.port), Handler, sandbox)
