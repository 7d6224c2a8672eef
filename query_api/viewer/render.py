"""Templates and the small formatting helpers pages share.

Jinja2 autoescapes every value (`autoescape=True` for all templates), so span names, URLs,
bodies and headers render as text whatever they contain. The one markup built outside a
template, the trace waterfall's rows (`waterfall.py`), escapes each value itself.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from connlog.instrumentation import semconv as sc
from connlog.query_api.timeutil import NS, iso, now_ns
from connlog.query_api.viewer.urls import OPERATIONS

TEMPLATES: Final = Path(__file__).parent / "templates"
STATIC: Final = Path(__file__).parent / "static"
STATIC_PREFIX: Final = "/viewer-static"
GZIP_MIN: Final = 1400  # smaller pages fit in one packet anyway
# zlib level 3: a 2 MB waterfall compresses in 6 ms to 157 KB; level 5 took 18 ms for 140 KB.
GZIP_LEVEL: Final = 3
FOLD_NODES: Final = 3000  # JSON bigger than this is shown pretty-printed but not foldable

# The failure cause in plain words, for the person reading the page at 3 a.m.
CAUSE_WORDS: Final[dict[str, str]] = {
    sc.FailureCause.AUTH.value: "Bad credentials: the API refused the key or token (401/403).",
    sc.FailureCause.NOT_FOUND.value: "Wrong path or missing record: the API answered 404.",
    sc.FailureCause.RATE_LIMITED.value: "Rate limit: the API answered 429 (too many requests).",
    sc.FailureCause.TIMEOUT.value: "Timeout: the API did not answer in time.",
    sc.FailureCause.NETWORK.value: "Network: the connection failed (DNS, connect or TLS).",
    sc.FailureCause.SERVER_ERROR.value: "The API failed on its side (5xx).",
    sc.FailureCause.CLIENT_ERROR.value: "The API rejected the request (4xx).",
    sc.FailureCause.SHAPE_MISMATCH.value: "Response shape mismatch: the answer could not be parsed or validated.",
    sc.FailureCause.ERROR.value: "An error the SDK could not classify.",
}


def cause_words(cause: str, retry_after: str | None = None) -> str:
    if not cause:
        return ""
    text = CAUSE_WORDS.get(cause, cause)
    if cause == sc.FailureCause.RATE_LIMITED.value and retry_after:
        text += f" Retry-After: {retry_after} s."
    return text


def duration(ms_value: float | None) -> str:
    if ms_value is None:
        return ""
    if ms_value < 1000:
        return f"{ms_value:.0f} ms"
    seconds = ms_value / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {sec} s"
    return f"{minutes // 60} h {minutes % 60} min"


def elapsed(start_ns: int) -> str:
    return duration(max(now_ns() - start_ns, 0) / 1_000_000)


def ago(start_ns: int) -> str:
    minutes = max(now_ns() - start_ns, 0) // (60 * NS)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} d ago"


def finished(run: Any) -> str:
    """When a finished run (or operation) ended: its start plus its duration, as `short_time`."""
    if run.duration_ms is None:
        return ""
    return short_time(iso(run.start_ns + int(run.duration_ms * 1_000_000)))


def short_time(iso_text: str) -> str:
    """`2026-01-31T12:00:00.123456Z` -> `2026-01-31 12:00:00` (UTC, stated in the header)."""
    return iso_text[:19].replace("T", " ")


@dataclass
class Body:
    """A body as the call page shows it: kind, size, pretty text and (JSON) a foldable tree."""

    kind: str  # hidden, empty, json, text, binary
    size: int = 0
    text: str = ""
    tree: Any = None
    foldable: bool = False
    note: str = ""
    content_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _nodes(value: Any, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(value, dict):
        for v in value.values():
            _nodes(v, budget)
    elif isinstance(value, list):
        for v in value:
            _nodes(v, budget)


def body_view(body: str | None, content_type: str, *, status: int | None = None) -> Body:
    if body is None:
        return Body("hidden", content_type=content_type)
    size = len(body.encode())
    if not body:
        note = "No content (204): the response has no body." if status == 204 else "Empty body."
        return Body("empty", note=note, content_type=content_type)
    ct = content_type.lower()
    textual = not ct or any(t in ct for t in ("json", "text", "xml", "form", "javascript", "html"))
    if not textual or "\x00" in body:
        return Body("binary", size=size, note=f"Binary body: {content_type or 'unknown type'}, {size:,} bytes.",
                    content_type=content_type)  # fmt: skip
    try:
        parsed = json.loads(body)
    except ValueError:
        return Body("text", size=size, text=body, content_type=content_type)
    budget = [FOLD_NODES]
    _nodes(parsed, budget)
    return Body(
        "json",
        size=size,
        text=json.dumps(parsed, indent=2, ensure_ascii=False),
        tree=parsed,
        foldable=budget[0] >= 0 and isinstance(parsed, dict | list),
        content_type=content_type,
    )


def json_scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def is_redacted(value: Any) -> bool:
    return isinstance(value, str) and sc.REDACTED_PREFIX in value


def url_with(request: Request, path: str | None = None, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """This page's URL (or `path`) with its query string changed: the deep-link builder."""
    params = {k: v for k, v in request.query_params.items() if k not in drop and k != "cursor"}
    for key, value in changes.items():
        key = key.rstrip("_")
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return (path if path is not None else request.url.path) + (f"?{query}" if query else "")


env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(
    duration=duration, elapsed=elapsed, ago=ago, short_time=short_time, json_scalar=json_scalar
)
env.globals.update(
    cause_words=cause_words,
    finished=finished,
    url_with=url_with,
    is_redacted=is_redacted,
    static=STATIC_PREFIX,
    causes=[c.value for c in sc.FailureCause],
    statuses=[s.value for s in sc.RunStatus],
    triggers=[t.value for t in sc.Trigger],
    sync_types=[t.value for t in sc.SyncType],
    actions=[a.value for a in sc.EntityAction],
    counters=[c.value for c in sc.Counter],
    sync_kind=sc.RunKind.SYNC.value,
    operations_url=OPERATIONS,
)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template with the request, the signed-in principal and the CSRF token."""
    html = env.get_template(template).render(
        request=request,
        who=getattr(request.state, "viewer_principal", None),
        csrf=getattr(request.state, "viewer_csrf", ""),
        auth_on=getattr(request.state, "viewer_auth_on", False),
        **context,
    )
    return compressed(request, html.encode(), status_code)


def compressed(request: Request, body: bytes, status_code: int = 200) -> HTMLResponse:
    """The page gzip-compressed when the browser accepts it: big tables shrink about tenfold."""
    if len(body) < GZIP_MIN or "gzip" not in request.headers.get("accept-encoding", ""):
        return HTMLResponse(body, status_code=status_code, headers={"Vary": "Accept-Encoding"})
    return HTMLResponse(
        gzip.compress(body, compresslevel=GZIP_LEVEL),
        status_code=status_code,
        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
    )
