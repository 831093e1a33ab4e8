"""Pacing by query cost (Shopify's leaky bucket).

Every GraphQL response reports `extensions.cost`: the points the query asked for (`requestedQueryCost`), the points
it spent, and the bucket after it (`throttleStatus`: `maximumAvailable`, `currentlyAvailable`, `restoreRate`). The
bucket as last reported, refilled at the restore rate since the response came (a slight underestimate, so a
wait is never too short), tells how long to wait before a query of a known requested cost: the connector waits
that long instead of being THROTTLED. Requested costs are computed from the query text with Shopify's rule, which
also picks page sizes that keep a query under the single-query limit and the bucket's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, SelectionSetNode, parse, value_from_ast_untyped

MAX_QUERY_COST = 1000  # Shopify refuses a single query asking for more
MAX_PAGE = 250  # the largest `first` a connection accepts
CONNECTION_COST = 2
MUTATION_COST = 10


def _selection_cost(selection: SelectionSetNode | None, variables: Mapping[str, Any]) -> int:
    """Scalars 0, an object (or a list of objects) 1 plus its fields, a connection 2 + first x (1 + node fields)."""
    total = 0
    for field in selection.selections if selection else []:
        if not isinstance(field, FieldNode) or field.selection_set is None:
            continue
        children = {f.name.value: f for f in field.selection_set.selections if isinstance(f, FieldNode)}
        if "nodes" in children or "edges" in children:
            args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in field.arguments}
            first = int(MAX_PAGE if args.get("first") is None else args["first"])  # none: a bulk query's all
            node = children.get("nodes")
            if node is None:
                edges = children["edges"].selection_set
                node = next(f for f in edges.selections if isinstance(f, FieldNode) and f.name.value == "node")
            node_cost = 1 + _selection_cost(node.selection_set, variables)
            rest = {k: v for k, v in children.items() if k not in ("nodes", "edges")}
            total += (
                CONNECTION_COST
                + first * node_cost
                + sum(1 + _selection_cost(f.selection_set, variables) for f in rest.values() if f.selection_set)
            )
        else:
            total += 1 + _selection_cost(field.selection_set, variables)
    return total


def requested_cost(query: str, variables: Mapping[str, Any]) -> int:
    operation = next(d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode))
    if operation.operation.value == "mutation":
        return MUTATION_COST * len(operation.selection_set.selections)
    return _selection_cost(operation.selection_set, variables)


def page_size(query: str, variables: Mapping[str, Any], budget: float) -> int:
    """The largest `$first` (up to 250) whose requested cost stays within `budget` (at least 1)."""
    fixed = requested_cost(query, {**variables, "first": 0})
    per_node = requested_cost(query, {**variables, "first": 1}) - fixed
    return max(1, min(MAX_PAGE, int((budget - fixed) // max(per_node, 1))))


class CostBucket:
    """The shop's bucket as last reported; how long a query of a given cost must wait; what was spent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self.maximum: float | None = None
        self.restore_rate: float | None = None
        self._available = 0.0
        self._at = 0.0
        self.waits = 0
        self.waited_seconds = 0.0
        self.throttled = 0
        self.points_requested = 0.0
        self.points_spent = 0.0

    @property
    def budget(self) -> float:
        """The most a single query may ask for: the API's limit, and never more than the bucket holds."""
        return min(MAX_QUERY_COST, self.maximum) if self.maximum else MAX_QUERY_COST

    def available(self) -> float | None:
        if self.maximum is None or self.restore_rate is None:
            return None
        refilled = self._available + (self._clock() - self._at) * self.restore_rate
        return min(self.maximum, refilled)

    def delay(self, cost: float) -> float:
        """Seconds until the bucket holds `cost` points (0 when nothing is known yet)."""
        available = self.available()
        if available is None or available >= cost or not self.restore_rate:
            return 0.0
        return (min(cost, self.maximum or cost) - available) / self.restore_rate

    def wait_for(self, cost: float) -> None:
        seconds = self.delay(cost)
        if seconds > 0:
            self.waits += 1
            self.waited_seconds += seconds
            self._sleep(seconds)

    def observe(self, cost: Mapping[str, Any] | None) -> None:
        """Take in a response's `extensions.cost`, just received."""
        if not cost:
            return
        status = cost.get("throttleStatus") or {}
        if status.get("currentlyAvailable") is not None:
            self.maximum = float(status["maximumAvailable"])
            self.restore_rate = float(status["restoreRate"])
            self._available = float(status["currentlyAvailable"])
            self._at = self._clock()
        if cost.get("actualQueryCost") is not None:
            self.points_requested += float(cost.get("requestedQueryCost") or 0)
            self.points_spent += float(cost["actualQueryCost"])

    def summary(self) -> dict[str, Any]:
        return {
            "points_requested": round(self.points_requested, 1),
            "points_spent": round(self.points_spent, 1),
            "waits": self.waits,
            "waited_seconds": round(self.waited_seconds, 3),
            "throttled": self.throttled,
            "maximum_available": self.maximum,
            "restore_rate": self.restore_rate,
        }
