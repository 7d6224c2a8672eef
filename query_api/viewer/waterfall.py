"""The trace waterfall's rows, written as HTML in one Python loop so the template only prints them.

A run of 5,000 spans is 5,000 rows. Through Jinja (a loop of ~15 escaped expressions per row) the
rows cost more than reading the trace itself; one format string per row, with only the text that
comes from the data escaped (`html.escape`: the same five characters Jinja's autoescape
replaces), costs a fraction. Each row carries only what the page's script and CSS need: its ids, depth and
bar geometry as CSS variables; the look (indent, bar position, colours) is in viewer.css.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape as esc

from markupsafe import Markup

from connlog.instrumentation import semconv as sc
from connlog.query_api.models import Trace, TraceSpan
from connlog.query_api.viewer.render import duration

_CALL_ROLES = frozenset((sc.Role.HTTP.value, sc.Role.WEBHOOK.value))
_STEP_ROLE = sc.Role.STEP.value
_ERROR = sc.RunStatus.ERROR.value
_MIN_WIDTH = 0.2  # percent: a 1 ms span among minutes stays visible
_FOLD = '<button type="button" class="fold" aria-label="collapse">▾</button>'
_LEAF = '<i class="leaf"></i>'


@dataclass(frozen=True)
class Waterfall:
    rows: Markup  # every span's row, escaped
    count: int
    errors: int


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


def waterfall(trace: Trace) -> Waterfall:
    """Every span of `trace` as a waterfall row, parents before their children: a row links to
    the span's own page (a call's detail, a step's pages); errors and 429s are marked by class."""
    spans, depth = tree_order(trace.spans)
    scale = 100 / (trace.duration_ms or 1.0)
    parents = {s.parent_id for s in spans}
    tid = esc(trace.trace_id)
    parts: list[str] = []
    errors = 0
    for s in spans:
        sid = esc(s.span_id)
        label = esc(s.label)
        message = s.status_message
        role = s.role
        if role in _CALL_ROLES:
            label = f'<a href="/calls/{sid}?run={tid}">{label}</a>'
        elif role == _STEP_ROLE:
            label = f'<a href="/runs/{tid}/steps/{sid}">{label}</a>'
        else:
            label = f"<span>{label}</span>"
        if s.status == _ERROR:
            errors += 1
            css = "span-row span-error"
            mark = f' <span class="status status-error" title="{esc(message)}">error</span>'
        else:
            css, mark = "span-row", ""
        if "429" in message:
            css += " span-429"
        title = f' title="{esc(message)}"' if message else ""
        d = depth[s.span_id]
        # --d: depth (indent); --l / --w: the bar's left and width in percent of the run.
        parts.append(
            f'<div class="{css}" data-id="{sid}" data-depth="{d}"'
            f' style="--d:{d};--l:{s.start_offset_ms * scale:.3f}%;--w:{max(s.duration_ms * scale, _MIN_WIDTH):.3f}%">'
            f'<div class="span-label">{_FOLD if s.span_id in parents else _LEAF}{label}'
            f' <span class="muted">{esc(role)}</span>{mark}</div>'
            f'<div class="span-track"><div class="bar"{title}></div></div>'
            f'<div class="span-dur num">{duration(s.duration_ms)}</div></div>\n'
        )
    # Safe by construction: every value from the data went through `esc` above.
    return Waterfall(rows=Markup("".join(parts)), count=len(spans), errors=errors)  # noqa: S704
