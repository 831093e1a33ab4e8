"""Query cost (Shopify's rule, on the validated AST with the variables) and the leaky bucket.

Scalar and enum fields cost 0, an object field 1, a list of objects 1, a connection `2 + first * (cost of one
node)` where a node costs 1 plus its selection, a mutation root field 10. The requested cost uses `first`; the
actual cost walks the result and uses the number of nodes returned.
"""

from __future__ import annotations

import time
from typing import Any

from graphql import FieldNode, GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values

MUTATION_COST = 10
MAX_COST = 1000


class Coster:
    """The cost of one operation (`fragments` and coerced `variables` as graphql-core collects fields with)."""

    def __init__(self, schema: GraphQLSchema, fragments: dict, variables: dict[str, Any]):
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.cache: dict[tuple, dict[str, list[FieldNode]]] = {}  # sub-selections, asked again for every node
        self.plans: dict[int, list[tuple]] = {}

    def root_fields(self, root: GraphQLObjectType, selection_set: Any) -> dict[str, list[FieldNode]]:
        return collect_fields(self.schema, self.fragments, self.variables, root, selection_set)

    def _sub(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> dict[str, list[FieldNode]]:
        key = (parent.name, *map(id, nodes))
        fields = self.cache.get(key)
        if fields is None:
            fields = self.cache[key] = collect_sub_fields(self.schema, self.fragments, self.variables, parent, nodes)
        return fields

    def _node_selections(self, connection: GraphQLObjectType, nodes: list[FieldNode]) -> list[tuple[str, ...]]:
        """Where a connection's nodes sit in its result: (`nodes`,) and (`edges`, `node`) under their keys."""
        paths: list[tuple[str, ...]] = []
        for key, field_nodes in self._sub(connection, nodes).items():
            name = field_nodes[0].name.value
            if name == "nodes":
                paths.append((key,))
            elif name == "edges":
                edge = get_named_type(connection.fields["edges"].type)
                for edge_key, edge_nodes in self._sub(edge, field_nodes).items():  # type: ignore[arg-type]
                    if edge_nodes[0].name.value == "node":
                        paths.append((key, edge_key))
        return paths

    def _node_fields(self, connection: GraphQLObjectType, nodes: list[FieldNode], path: tuple[str, ...]):
        fields = self._sub(connection, nodes)[path[0]]
        if len(path) == 2:
            edge = get_named_type(connection.fields["edges"].type)
            fields = self._sub(edge, fields)[path[1]]  # type: ignore[arg-type]
        return fields

    def requested(self, parent: GraphQLObjectType, fields: dict[str, list[FieldNode]]) -> int:
        total = 0
        for field_nodes in fields.values():
            name = field_nodes[0].name.value
            if name.startswith("__"):
                continue
            definition = parent.fields[name]
            kind = get_named_type(definition.type)
            if is_leaf_type(kind):
                continue
            if kind.name.endswith("Connection"):
                first = get_argument_values(definition, field_nodes[0], self.variables).get("first") or 0
                node_type = get_named_type(kind.fields["nodes"].type)
                node = 1 + max(
                    (
                        self.requested(node_type, self._sub(node_type, self._node_fields(kind, field_nodes, path)))
                        for path in self._node_selections(kind, field_nodes)
                    ),
                    default=0,
                )
                total += 2 + first * node
            else:
                total += 1 + self.requested(kind, self._sub(kind, field_nodes))
        return total

    def _plan(self, parent: GraphQLObjectType, fields: dict[str, list[FieldNode]]) -> list[tuple]:
        """The non-leaf fields of a selection: (key, is a connection, type, sub-fields or node selections)."""
        plan = self.plans.get(id(fields))
        if plan is None:
            plan = []
            for key, field_nodes in fields.items():
                name = field_nodes[0].name.value
                kind = None if name.startswith("__") else get_named_type(parent.fields[name].type)
                if kind is None or is_leaf_type(kind):
                    continue
                if kind.name.endswith("Connection"):
                    node_type = get_named_type(kind.fields["nodes"].type)
                    paths = [
                        (path, self._sub(node_type, self._node_fields(kind, field_nodes, path)))
                        for path in self._node_selections(kind, field_nodes)
                    ]
                    plan.append((key, True, node_type, paths))
                else:
                    plan.append((key, False, kind, self._sub(kind, field_nodes)))
            self.plans[id(fields)] = plan
        return plan

    def actual(self, parent: GraphQLObjectType, fields: dict[str, list[FieldNode]], data: dict | None) -> int:
        if not data:
            return 0
        total = 0
        for key, connection, kind, sub in self._plan(parent, fields):
            value = data.get(key)
            if value is None:
                continue
            if connection:
                costs: list[int] = []
                for path, node_fields in sub:
                    for i, item in enumerate(value.get(path[0]) or ()):
                        cost = 1 + self.actual(kind, node_fields, item.get(path[1]) if len(path) == 2 else item)
                        if i < len(costs):
                            costs[i] = max(costs[i], cost)
                        else:
                            costs.append(cost)
                total += 2 + sum(costs)
            else:
                items = value if isinstance(value, list) else [value]
                total += 1 + max((self.actual(kind, sub, item) for item in items), default=0)
        return total


class Bucket:
    """Shopify's leaky bucket of query cost points (not thread-safe: the caller holds its lock)."""

    def __init__(self, maximum: float, restore_rate: float):
        self.maximum, self.restore_rate = float(maximum), float(restore_rate)
        self.available, self.last = self.maximum, time.monotonic()

    def refill(self) -> float:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.last) * self.restore_rate)
        self.last = now
        return self.available

    def take(self, points: float) -> bool:
        if self.refill() < points:
            return False
        self.available -= points
        return True

    def refund(self, points: float) -> None:
        self.refill()
        self.available = min(self.maximum, self.available + points)

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.refill(), 1),
            "restoreRate": self.restore_rate,
        }
