"""Counter roll-up: entity outcomes and call failures summed onto page, step and run.

Every model span (run, step, page, entity) has a `Node` in a context variable, linked to
its parent. An event (an entity finished, a call failed, a 429) walks up the chain once
and increments each aggregating ancestor, so the totals are final the moment a span
ends and need no post-processing in the collector. A single lock guards the
increments: they are a handful of integer additions, cheaper than a lock per node and
correct when thread-pool workers share a page.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

from connlog.instrumentation.semconv import ERROR_COUNT, RATE_LIMITED, Counter, Role, count_key

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# Reentrant: an unentered entity may be finished from `__del__`, which the garbage
# collector can run at any allocation, including inside a locked section of this thread.
_lock = threading.RLock()

# Roles whose spans carry `connector.count.*` (entities are counted, they do not count).
AGGREGATING: frozenset[Role] = frozenset({Role.RUN, Role.STEP, Role.PAGE})
COUNTER_KEYS: dict[Counter, str] = {c: count_key(c) for c in Counter}


class Node:
    """The SDK's view of one open model span."""

    __slots__ = (
        "__weakref__",
        "counts",
        "errors",
        "first_cause",
        "last_http",
        "last_outcome",
        "parent",
        "rate_limited",
        "role",
        "span",
        "step_name",
    )

    def __init__(self, span: Span, role: Role, parent: Node | None) -> None:
        self.span = span
        self.role = role
        self.parent = parent
        self.counts: dict[Counter, int] = {}
        self.errors = 0
        self.rate_limited = False
        # (redacted url, status) of the latest HTTP response under this node.
        self.last_http: tuple[str, int] | None = None
        # (redacted url, status or None, cause or None) of the latest call under this node,
        # failed or not: the scope evidence of `causes` (rule 2) when its cause is set.
        self.last_outcome: tuple[str, int | None, str | None] | None = None
        # The `connector.step.name` of the innermost step at or above this node.
        self.step_name: str | None = parent.step_name if parent is not None else None
        # Cause of the first failure recorded at or under this node: a run that ends with a
        # non-zero exit code after handling a failed step reports that cause, not `error`.
        self.first_cause: str | None = None

    def chain(self) -> list[Node]:
        out: list[Node] = []
        node: Node | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def add(self, counter: Counter, n: int = 1) -> None:
        """Increment `counter` on this node (if it aggregates) and every aggregating ancestor."""
        with _lock:
            for node in self.chain():
                if node.role in AGGREGATING:
                    node.counts[counter] = node.counts.get(counter, 0) + n

    def add_error(self, n: int = 1) -> None:
        with _lock:
            for node in self.chain():
                node.errors += n

    def note_cause(self, cause: str) -> None:
        """Record a failure's cause on this node and every ancestor that has none yet."""
        with _lock:
            for node in self.chain():
                if node.first_cause is None:
                    node.first_cause = cause

    def note_http(self, url: str, status: int, cause: str | None = None) -> None:
        """Remember the latest response (and its cause when it failed); flag a 429 up the chain."""
        outcome = (url, status, cause)
        for node in self.chain():
            node.last_http = (url, status)
            node.last_outcome = outcome
            if status == 429:
                node.rate_limited = True

    def note_failed_call(self, url: str, cause: str) -> None:
        """Remember a call that got no response (timeout, connection refused) up the chain."""
        outcome = (url, None, cause)
        for node in self.chain():
            node.last_outcome = outcome

    def failed_call(self) -> tuple[str, int | None, str] | None:
        """The latest call under this node if it failed, else None (a later success clears it)."""
        outcome = self.last_outcome
        if outcome is None or outcome[2] is None:
            return None
        return outcome[0], outcome[1], outcome[2]

    def write_totals(self) -> None:
        """Set the roll-up attributes on this node's span (call right before it ends)."""
        span = self.span
        if self.role in AGGREGATING:
            with _lock:
                counts = dict(self.counts)
            for counter, key in COUNTER_KEYS.items():
                span.set_attribute(key, counts.get(counter, 0))
            span.set_attribute(ERROR_COUNT, self.errors)
        elif self.errors:
            span.set_attribute(ERROR_COUNT, self.errors)
        if self.rate_limited:
            span.set_attribute(RATE_LIMITED, "true")


current_node: ContextVar[Node | None] = ContextVar("connlog_current_node", default=None)


def nearest_aggregating(node: Node | None) -> Node | None:
    """The innermost run/step/page at or above `node`."""
    while node is not None and node.role not in AGGREGATING:
        node = node.parent
    return node
