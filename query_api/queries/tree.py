"""Parent/child structure of one run: descendants and ancestors of spans.

Steps, pages, entities and calls are linked only by ParentSpanId, so "calls of a step" or
"what triggered this call" walks the tree. The tree of one run is small (ids only, read
within the run's bounds), so it is walked in Python rather than with recursive SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.queries.common import TraceBounds, attr
from connlog.query_api.sqlbuild import Conditions, Params


@dataclass(frozen=True)
class Node:
    span_id: str
    parent_id: str
    role: str
    step: str
    page_number: int | None
    external_id: str
    job_id: str


@dataclass
class RunTree:
    nodes: dict[str, Node]
    children: dict[str, list[str]]

    def descendants(self, roots: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(roots)
        while stack:
            sid = stack.pop()
            for child in self.children.get(sid, ()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return out

    def ancestors(self, span_id: str) -> list[Node]:
        """From the span's parent up to the root; stops on a missing parent or a cycle."""
        out: list[Node] = []
        seen = {span_id}
        node = self.nodes.get(span_id)
        while node is not None and node.parent_id and node.parent_id not in seen:
            seen.add(node.parent_id)
            node = self.nodes.get(node.parent_id)
            if node is not None:
                out.append(node)
        return out

    @cached_property
    def run_span_ids(self) -> set[str]:
        """The run span: its own row once finished, the start marker's parent while running."""
        return {
            node.span_id if node.role == sc.Role.RUN.value else node.parent_id
            for node in self.nodes.values()
            if node.role in (sc.Role.RUN.value, sc.Role.RUN_START.value)
        } - {""}

    def place(self, parent_id: str) -> Place:
        """Where a span with this parent sits: directly under the run or a step (a login, a
        token refresh), or inside a page or a record."""
        if parent_id in self.run_span_ids:
            return Place("run", "directly under run", True)
        node = self.nodes.get(parent_id)
        if node is None:
            return Place("", "", False)
        if node.role == sc.Role.STEP.value:
            return Place("step", f"directly under step {node.step}", True)
        if node.role == sc.Role.PAGE.value:
            return Place("page", f"page {node.page_number or ''}".strip(), False)
        if node.role == sc.Role.ENTITY.value:
            return Place("entity", f"record {node.external_id}".strip(), False)
        return Place(node.role, node.role, False)

    def direct_calls(self) -> list[str]:
        """Ids of the calls made directly under the run or a step, whatever list shows them."""
        return sorted(
            sid
            for sid, node in self.nodes.items()
            if node.role in _CALL_ROLES and self.place(node.parent_id).direct
        )


@dataclass(frozen=True)
class Place:
    kind: str  # run, step, page, entity ("" when the parent is unknown)
    label: str
    direct: bool  # directly under the run or a step, not inside a page or record


_CALL_ROLES = (sc.Role.HTTP.value, sc.Role.WEBHOOK.value)


# A span as `tree_from_rows` reads it (the run screen prepends it to its calls' columns).
TREE_COLUMNS = (
    f"{n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {n.C_ROLE}, {n.C_STEP_NAME},"
    f" toUInt32OrNull({attr(sc.PAGE_NUMBER)}), {n.C_ENTITY_EXTERNAL_ID}, {n.C_JOB_ID}"
)
TREE_WIDTH = 7  # columns in TREE_COLUMNS


def run_tree(client: Client, bounds: TraceBounds) -> RunTree:
    where = Conditions(Params())
    bounds.apply(where)
    rows = fetch(
        client, f"SELECT {TREE_COLUMNS} FROM {n.TRACES} {where.sql()}", where.params.values, label="run_tree"
    )
    return tree_from_rows(rows)


def tree_from_rows(rows: Iterable[Sequence[Any]]) -> RunTree:
    """The tree of rows that start with `TREE_COLUMNS`."""
    nodes: dict[str, Node] = {}
    children: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        sid, parent, role, step, page_no, ext, job = row[:TREE_WIDTH]
        nodes[sid] = Node(sid, parent, role, step, None if page_no is None else int(page_no), ext, job)
        if parent:
            children[parent].append(sid)
    return RunTree(nodes, dict(children))
