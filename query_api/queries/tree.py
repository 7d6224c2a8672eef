"""Parent/child structure of one run: descendants and ancestors of spans.

Steps, pages, entities and calls are linked only by ParentSpanId, so "calls of a step" or
"what triggered this call" walks the tree. The tree of one run is small (ids only, read
within the run's bounds), so it is walked in Python rather than with recursive SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

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


def run_tree(client: Client, bounds: TraceBounds) -> RunTree:
    params = Params()
    where = Conditions(params)
    bounds.apply(where)
    rows = fetch(
        client,
        f"SELECT {n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {n.C_ROLE}, {n.C_STEP_NAME},"
        f" toUInt32OrNull({attr(sc.PAGE_NUMBER)}), {n.C_ENTITY_EXTERNAL_ID}, {n.C_JOB_ID}"
        f" FROM {n.TRACES} {where.sql()}",
        params.values,
        label="run_tree",
    )
    nodes: dict[str, Node] = {}
    children: dict[str, list[str]] = defaultdict(list)
    for sid, parent, role, step, page_no, ext, job in rows:
        nodes[sid] = Node(sid, parent, role, step, None if page_no is None else int(page_no), ext, job)
        if parent:
            children[parent].append(sid)
    return RunTree(nodes, dict(children))
