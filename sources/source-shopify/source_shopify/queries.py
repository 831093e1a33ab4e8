"""The GraphQL texts: a page of a parent with its children inline, the further pages of one parent's children,
the shop, the access scopes, and a bulk operation's query. Values travel as variables, except in the bulk query
(a string by nature), whose search filter is built from a validated datetime only."""

from __future__ import annotations

from datetime import datetime

from source_shopify.config import rfc3339
from source_shopify.streams import Stream

PAGE_INFO = "pageInfo { hasNextPage endCursor }"
PARENT_CURSOR_FIELDS = "id updatedAt"  # what a parent must show so that its children can be placed


def search(start: datetime | None) -> str | None:
    """The `query:` filter for records updated at or after `start` (ties are settled by the cursor tracker)."""
    return f"updated_at:>='{rfc3339(start)}'" if start else None


def _node(parent: Stream, with_parent: bool, children: list[Stream], child_first: bool) -> str:
    own = parent.fields if with_parent else PARENT_CURSOR_FIELDS
    inline = " ".join(
        f"{c.field}(first: ${child_first_variable(c)}) {{ {PAGE_INFO} nodes {{ {c.fields} }} }}"
        if child_first
        else f"{c.field} {{ edges {{ node {{ {c.fields} }} }} }}"
        for c in children
    )
    return f"{own} {inline}".strip()


def child_first_variable(child: Stream) -> str:
    """The variable holding a child connection's page size inside its parent's page."""
    return f"{child.field}First"


def page_query(parent: Stream, with_parent: bool, children: list[Stream]) -> str:
    sort = f", sortKey: {parent.sort_key}" if parent.sort_key else ""
    child_firsts = "".join(f", ${child_first_variable(c)}: Int!" for c in children)
    return (
        f"query Page($first: Int!, $after: String, $query: String{child_firsts}) {{ "
        f"{parent.field}(first: $first, after: $after, query: $query{sort}) {{ {PAGE_INFO} "
        f"nodes {{ {_node(parent, with_parent, children, child_first=True)} }} }} }}"
    )


def children_query(child: Stream) -> str:
    return (
        "query Children($id: ID!, $first: Int!, $after: String) { "
        f"{child.lookup}(id: $id) {{ {child.field}(first: $first, after: $after) {{ {PAGE_INFO} "
        f"nodes {{ {child.fields} }} }} }} }}"
    )


def single_query(stream: Stream) -> str:
    return f"query {{ {stream.field} {{ {stream.fields} }} }}"


SCOPES_QUERY = "query { shop { id } currentAppInstallation { accessScopes { handle } } }"


def bulk_query(parent: Stream, with_parent: bool, children: list[Stream], start: datetime | None) -> str:
    """A bulk operation's query: sorted by updatedAt where the connection can be, so that STATEs may follow the
    file as it is read; nested connections come out as their own lines with `__parentId`."""
    arguments = [f'query: "{search(start)}"'] if start else []
    if parent.sort_key:
        arguments.append(f"sortKey: {parent.sort_key}")
    args = f"({', '.join(arguments)})" if arguments else ""
    node = _node(parent, with_parent, children, child_first=False)
    return f"{{ {parent.field}{args} {{ edges {{ node {{ {node} }} }} }} }}"


BULK_RUN = """mutation Run($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } }
}"""
BULK_FIELDS = "id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl query"
BULK_CURRENT = f"query {{ currentBulkOperation(type: QUERY) {{ {BULK_FIELDS} }} }}"
BULK_BY_ID = f"query Operation($id: ID!) {{ bulkOperation(id: $id) {{ {BULK_FIELDS} }} }}"
