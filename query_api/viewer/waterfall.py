"""The trace waterfall's rows, computed once in Python so the template only prints them.

A run of 5,000 spans is 5,000 rows: formatting each bar's offset, width, duration and link in
the template costs about a second; done here, the page renders several times faster.
"""

from __future__ import annotations

from typing import NamedTuple

from connlog.instrumentation import semconv as sc
from connlog.query_api.models import Trace, TraceSpan
from connlog.query_api.viewer.render import duration

_CALL_ROLES = (sc.Role.HTTP.value, sc.Role.WEBHOOK.value)
_MIN_WIDTH = 0.2  # percent: a 1 ms span among minutes stays visible


class Bar(NamedTuple):
    span_id: str
    parent_id: str
    depth: int
    css: str  # span-row classes: span-error, span-429
    href: str  # the span's own page (a call's detail, a step's pages), or ""
    label: str
    role: str
    error: bool
    status_message: str
    folds: bool  # has children: gets a fold button
    style: str  # the bar's left and width, in percent of the run
    title: str
    took: str


def tree_order(spans: list[TraceSpan]) -> tuple[list[TraceSpan], dict[str, int]]:
    """Spans depth-first (each parent followed by its children, in start order) and their depth.

    Start order alone is not enough: a child that starts in the same nanosecond as its parent
    may sort before it. Spans whose parent is missing (not sent, or cut) are roots.
    """
    ids = {s.span_id for s in spans}
    children: dict[str, list[TraceSpan]] = {}
    roots: list[TraceSpan] = []
    for s in spans:  # already in start order
        if s.parent_id in ids and s.parent_id != s.span_id:
            children.setdefault(s.parent_id, []).append(s)
        else:
            roots.append(s)
    out: list[TraceSpan] = []
    depth: dict[str, int] = {}
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        span, d = stack.pop()
        if span.span_id in depth:
            continue  # a cycle in bad data: show each span once
        depth[span.span_id] = d
        out.append(span)
        stack.extend((c, d + 1) for c in reversed(children.get(span.span_id, [])))
    return out, depth


def bars(trace: Trace) -> list[Bar]:
    """Every span of `trace` as a waterfall row, parents before their children."""
    rows, depth = tree_order(trace.spans)
    total = trace.duration_ms or 1.0
    parents = {s.parent_id for s in rows}
    out: list[Bar] = []
    for s in rows:
        error = s.status == sc.RunStatus.ERROR.value
        css = ("span-row span-error" if error else "span-row") + (
            " span-429" if "429" in s.status_message else ""
        )
        if s.role in _CALL_ROLES:
            href = f"/calls/{s.span_id}?run={trace.trace_id}"
        elif s.role == sc.Role.STEP.value:
            href = f"/runs/{trace.trace_id}/steps/{s.span_id}"
        else:
            href = ""
        took = duration(s.duration_ms)
        left = s.start_offset_ms / total * 100
        width = max(s.duration_ms / total * 100, _MIN_WIDTH)
        out.append(
            Bar(
                span_id=s.span_id,
                parent_id=s.parent_id,
                depth=depth[s.span_id],
                css=css,
                href=href,
                label=s.label,
                role=s.role,
                error=error,
                status_message=s.status_message,
                folds=s.span_id in parents,
                style=f"left: {left:.3f}%; width: {width:.3f}%",
                title=f"{s.label} · {took} · {s.status_message}"
                if s.status_message
                else f"{s.label} · {took}",
                took=took,
            )
        )
    return out
