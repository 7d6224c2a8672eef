"""Redaction of finished spans before they are exported or spooled.

Why here and not only where the SDK sets attributes: a connector also writes its own
attributes (`current_span().set_attribute("db.statement", sql)`), statuses and events
through plain OpenTelemetry calls the SDK never sees, and whatever reaches the exporter
also reaches the on-disk spool when the collector is down. So `SafeSpanExporter` passes
every batch through `redact_spans` first: span names, status messages, attributes and
event attributes (exception messages and stack traces) go through the `Redactor`, each
by the rule its key implies (`Redactor.attribute`).

Cheap by construction: the HTTP payload attributes the SDK's own capture already
redacted (URL, query, headers, bodies of spans with role `http`) are not redacted twice,
non-string values are skipped, short values repeat (statuses, names, ids) and are cached,
and a span with nothing to change is passed through as is (no copy).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status

from connlog.instrumentation.redaction import Redactor
from connlog.instrumentation.semconv import (
    HTTP_REQUEST_BODY,
    HTTP_REQUEST_HEADER_PREFIX,
    HTTP_RESPONSE_BODY,
    HTTP_RESPONSE_HEADER_PREFIX,
    REDACTED_PREFIX,
    ROLE,
    URL_FULL,
    URL_QUERY,
    Role,
)

_log = logging.getLogger("connlog.sdk")

# Redacted by the SDK's HTTP capture (instrumentation.payload / httpx_capture / asgi).
_CAPTURED_KEYS: Final = frozenset({URL_FULL, URL_QUERY, HTTP_REQUEST_BODY, HTTP_RESPONSE_BODY})
_CAPTURED_PREFIXES: Final = (HTTP_REQUEST_HEADER_PREFIX, HTTP_RESPONSE_HEADER_PREFIX)
_CACHE_MAX: Final = 20_000
_CACHE_VALUE_MAX: Final = 256


class SpanRedactor:
    """Redacts batches of finished spans with one `Redactor`; keeps a small value cache."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._cache: dict[tuple[str, str], str] = {}

    def spans(self, batch: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        """The batch with every secret-bearing string redacted (unchanged spans kept as is)."""
        out: list[ReadableSpan] = []
        for span in batch:
            try:
                out.append(self.span(span))
            except Exception:
                # Never export what could not be checked: keep only what carries no text.
                _log.debug("span redaction failed", exc_info=True)
                out.append(_stripped(span))
        return out

    def span(self, span: ReadableSpan) -> ReadableSpan:
        attrs = span.attributes or {}
        captured = attrs.get(ROLE) == Role.HTTP.value
        new_attrs = self._attributes(attrs, captured)
        name = self._value("", span.name) if span.name else span.name
        status = span.status
        new_status = status
        if status.description:
            description = self._value("", status.description)
            if description != status.description:
                new_status = Status(status.status_code, description)
        events = span.events
        new_events: list[Event] | None = None
        for i, event in enumerate(events):
            ev_attrs = self._attributes(event.attributes or {}, False)
            if ev_attrs is not None:
                if new_events is None:
                    new_events = list(events)  # type: ignore[arg-type]
                new_events[i] = Event(event.name, ev_attrs, event.timestamp)
        if new_attrs is None and name == span.name and new_status is status and new_events is None:
            return span
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=new_attrs if new_attrs is not None else attrs,
            events=new_events if new_events is not None else events,
            links=span.links,
            kind=span.kind,
            status=new_status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _attributes(self, attrs: Mapping[str, Any], captured: bool) -> dict[str, Any] | None:
        """A redacted copy of `attrs`, or None when nothing changes."""
        out: dict[str, Any] | None = None
        for key, value in attrs.items():
            if captured and (key in _CAPTURED_KEYS or key.startswith(_CAPTURED_PREFIXES)):
                continue
            if isinstance(value, str):
                new: Any = self._value(key, value)
            elif isinstance(value, tuple | list) and any(isinstance(v, str) for v in value):
                new = tuple(self._value(key, v) if isinstance(v, str) else v for v in value)
                if new == tuple(value):
                    continue
            else:
                continue
            if new != value:
                if out is None:
                    out = dict(attrs)
                out[key] = new
        return out

    def _value(self, key: str, value: str) -> str:
        if not value or value.startswith(REDACTED_PREFIX):
            return value
        if len(value) > _CACHE_VALUE_MAX:
            return self.redactor.attribute(key, value) if key else self.redactor.text(value)
        cache_key = (key, value)
        done = self._cache.get(cache_key)
        if done is None:
            done = self.redactor.attribute(key, value) if key else self.redactor.text(value)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[cache_key] = done
        return done


def _stripped(span: ReadableSpan) -> ReadableSpan:
    """The span with its string attributes, status text and events removed (fail closed)."""
    attrs = {k: v for k, v in (span.attributes or {}).items() if not isinstance(v, str | tuple | list)}
    return ReadableSpan(
        name="[REDACTED:unchecked]",
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attrs,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
