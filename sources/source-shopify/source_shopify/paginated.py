"""Paginated reads: a family's parent connection page by page (`first`/`after`, sorted by updatedAt where it can
be), its children inline; a parent with more children than the inline page has the rest paged through the parent's
single lookup (`order(id:) { lineItems(first:, after:) }`). Page sizes keep each query's requested cost within the
bucket and the single-query limit. A STATE per stream follows every page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import AirbyteMessage

from source_core.launch import Records
from source_shopify.client import ShopifyClient
from source_shopify.cost import page_size, requested_cost
from source_shopify.family import Family
from source_shopify.queries import child_first_variable, children_query, page_query, search, single_query
from source_shopify.streams import Stream


def read_single(client: ShopifyClient, family: Family) -> Iterator[AirbyteMessage | Records]:
    """A stream that is one object (`shop`): one query, then its final STATE."""
    member = family.own
    member.rows.append(client.query(single_query(member.stream))[member.stream.field])
    yield from family.checkpoint(final=True)


def _children(client: ShopifyClient, child: Stream, node: Mapping[str, Any]) -> Iterator[dict]:
    """The children of a parent node: its inline page, then the rest through the parent's lookup; a parent deleted
    meanwhile (the lookup finds nothing) has no rest to read."""
    connection = node[child.field]
    yield from connection["nodes"]
    if not connection["pageInfo"]["hasNextPage"]:
        return
    text = children_query(child)
    variables: dict[str, Any] = {"id": node["id"], "after": connection["pageInfo"]["endCursor"]}
    while True:
        variables["first"] = page_size(text, variables, client.budget())
        parent = client.query(text, variables)[child.lookup]
        if parent is None:
            client.logger.warning(f"{node['id']} was deleted during the read: the rest of its {child.name} skipped.")
            return
        connection = parent[child.field]
        yield from connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            return
        variables["after"] = connection["pageInfo"]["endCursor"]


def _size(text: str, variables: dict[str, Any], budget: float, children: list[Stream]) -> None:
    """Set the page sizes: each child's inline page (halved while one parent alone would not fit), then the
    parent's."""
    for child in children:
        variables[child_first_variable(child)] = child.inline_first
    while requested_cost(text, {**variables, "first": 1}) > budget and any(
        variables[child_first_variable(c)] > 1 for c in children
    ):
        for child in children:
            name = child_first_variable(child)
            variables[name] = max(1, variables[name] // 2)
    variables["first"] = page_size(text, variables, budget)


def read_pages(client: ShopifyClient, family: Family) -> Iterator[AirbyteMessage | Records]:
    parent = family.parent
    children = [c.stream for c in family.children]
    text = page_query(parent, family.own is not None, children)
    variables: dict[str, Any] = {"query": search(family.start()), "after": None}
    while True:
        _size(text, variables, client.budget(), children)
        connection = client.query(text, variables)[parent.field]
        for node in connection["nodes"]:
            for member in family.admit(node):
                for row in _children(client, member.stream, node):
                    family.add_child(member, row, node)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        yield from family.checkpoint()
        variables["after"] = connection["pageInfo"]["endCursor"]
    yield from family.checkpoint(final=True)
