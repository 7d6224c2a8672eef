"""CSV and PDF renderings of the runs, calls and logs lists, bounded in time and memory.

Rows are flattened to (header, values) once, in `COLUMNS`, so both formats and the CLI
agree on what an exported run/call/log looks like. The rows given are already cut at the
export's row cap, so a rendering holds at most that many; the PDF is one plain-text table
(cells cut to a column width, no wrapping paragraphs: a paragraph per cell made 10,000 rows
take 41 s) and says in the document how many rows it holds and whether more matched.

Both renderers take a `Stop` (a cancel event and a deadline) and check it every
`CHECK_EVERY` rows and on every PDF page, so a request whose client went away, or that
runs past its time budget, stops within a page rather than finishing the document.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from connlog.query_api.models import CallRow, LogRow, RunSummary
from connlog.query_api.queries.common import COUNTER_NAMES

Row = list[str]


def _run_row(r: RunSummary) -> Row:
    c = r.counters
    return [
        r.start,
        r.run_id,
        r.connector,
        r.tenant,
        r.status,
        r.sync_type,
        r.trigger,
        "" if r.duration_ms is None else f"{r.duration_ms:.0f}",
        *(str(getattr(c, name)) for name in COUNTER_NAMES),
        str(r.error_count),
        "" if r.exit_code is None else str(r.exit_code),
        r.failure_cause,
        r.enduser,
    ]


def _call_row(r: CallRow) -> Row:
    return [
        r.start,
        r.call_id,
        r.run_id,
        r.connector,
        r.direction,
        r.method,
        r.url,
        "" if r.http_status is None else str(r.http_status),
        f"{r.duration_ms:.0f}",
        r.failure_cause,
        str(r.resend_count),
    ]


def _log_row(r: LogRow) -> Row:
    return [r.timestamp, r.severity_text, str(r.severity_number), r.connector, r.body, r.run_id, r.span_id]


COLUMNS: dict[str, tuple[list[str], Callable[[Any], Row]]] = {
    "runs": (
        [
            "start",
            "run_id",
            "connector",
            "tenant",
            "status",
            "sync_type",
            "trigger",
            "duration_ms",
            *COUNTER_NAMES,
            "errors",
            "exit_code",
            "failure_cause",
            "enduser",
        ],
        _run_row,
    ),
    "calls": (
        [
            "start",
            "call_id",
            "run_id",
            "connector",
            "direction",
            "method",
            "url",
            "status",
            "duration_ms",
            "failure_cause",
            "retries",
        ],
        _call_row,
    ),
    "logs": (
        ["timestamp", "severity", "severity_number", "connector", "body", "run_id", "span_id"],
        _log_row,
    ),
}


# Response headers that state the row cap of an export (also written into the PDF).
ROWS_HEADER: Final = "X-Connlog-Export-Rows"  # rows in the file
CAP_HEADER: Final = "X-Connlog-Export-Row-Cap"  # the cap this export was cut at
TRUNCATED_HEADER: Final = "X-Connlog-Export-Truncated"  # "true" when more rows matched

CHECK_EVERY: Final = 200  # rows between two checks of the stop condition
CELL_CHARS: Final = 36  # a PDF cell's text is cut to this many characters...
WIDE_CELL_CHARS: Final = 64  # ...or this many for the free-text columns
WIDE_COLUMNS: Final = frozenset(("url", "body", "failure_cause"))


class ExportStopped(Exception):
    """The rendering was stopped: the client went away (`cancelled`) or time ran out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Stop:
    """When a rendering must stop: a cancel event (set on disconnect or shutdown) and a deadline."""

    deadline: float = float("inf")  # time.monotonic() value
    event: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def after(cls, seconds: float) -> Stop:
        return cls(deadline=time.monotonic() + seconds)

    def check(self) -> None:
        if self.event.is_set():
            raise ExportStopped("cancelled")
        if time.monotonic() > self.deadline:
            raise ExportStopped("timeout")


@dataclass(frozen=True)
class ExportRows:
    """The rows of one export, cut at `cap`; `truncated` when more rows matched."""

    kind: str
    rows: Sequence[BaseModel]
    cap: int
    truncated: bool

    def headers(self) -> dict[str, str]:
        return {
            ROWS_HEADER: str(len(self.rows)),
            CAP_HEADER: str(self.cap),
            TRUNCATED_HEADER: "true" if self.truncated else "false",
        }

    def note(self) -> str:
        """The sentence the PDF carries under its title."""
        more = "; more rows match the filters: narrow them to see the rest" if self.truncated else ""
        return f"{len(self.rows):,} rows (row cap {self.cap:,}){more}"


def _safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ becomes text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_bytes(export: ExportRows, stop: Stop | None = None) -> bytes:
    stop = stop or Stop()
    header, flatten = COLUMNS[export.kind]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for i, row in enumerate(export.rows, 1):
        writer.writerow([_safe_cell(v) for v in flatten(row)])
        if i % CHECK_EVERY == 0:
            stop.check()
    return buf.getvalue().encode()


def _cut(value: str, limit: int) -> str:
    text = " ".join(value.split())  # no newlines or tabs: one line per cell
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


MONO_EM: Final = 0.6  # Courier: every character is 0.6 em wide


def _page_table(header: list[str], rows: list[list[str]], chars: list[int], size: float, row_h: float) -> Any:
    """A flowable drawing one page's table: a grid and one Courier line per row.

    reportlab's `Table` draws each cell with its own `drawString`, about 1 ms a cell here;
    cells of a monospaced font padded to their column's width line up by themselves, so a
    row is a single `textLine` and the grid is one `grid` call.
    """
    from reportlab.lib import colors
    from reportlab.platypus import Flowable

    advance = MONO_EM * size
    xs = [0.0]
    for n in chars:
        xs.append(xs[-1] + (n + 1) * advance)
    width, height = xs[-1], row_h * (len(rows) + 1)

    def line(cells: list[str]) -> str:
        return " ".join(c.ljust(n) for c, n in zip(cells, chars, strict=True))

    class PageTable(Flowable):  # type: ignore[misc]  # reportlab is untyped
        def wrap(self, avail_w: float, avail_h: float) -> tuple[float, float]:
            return min(width, avail_w), height

        def draw(self) -> None:
            c = self.canv
            c.setFillColor(colors.lightgrey)
            c.rect(0, height - row_h, width, row_h, stroke=0, fill=1)
            c.setFillColor(colors.black)
            c.setStrokeColor(colors.grey)
            c.setLineWidth(0.25)
            c.grid(xs, [height - i * row_h for i in range(len(rows) + 2)])
            text = c.beginText(advance / 2, height - row_h + (row_h - size) / 2 + 0.5)
            text.setFont("Courier-Bold", size, row_h)
            text.textLine(line(header))
            text.setFont("Courier", size, row_h)
            for cells in rows:
                text.textLine(line(cells))
            c.drawText(text)

    return PageTable()


def pdf_bytes(export: ExportRows, title: str, stop: Stop | None = None) -> bytes:
    """Landscape pages of one plain-text table each, the header row repeated on every page.

    Cells are single lines of cut text and every row has the same height, so the rows that
    fit a page are known in advance and each page is its own small table: reportlab never
    has to split one long table (which made the layout quadratic in the rows).
    """
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer

    stop = stop or Stop()
    header, flatten = COLUMNS[export.kind]
    limits = [WIDE_CELL_CHARS if h in WIDE_COLUMNS else CELL_CHARS for h in header]
    cells: list[list[str]] = []
    widest = [len(h) for h in header]
    for i, row in enumerate(export.rows, 1):
        line = [_cut(v, n) for v, n in zip(flatten(row), limits, strict=True)]
        widest = [max(w, len(c)) for w, c in zip(widest, line, strict=True)]
        cells.append(line)
        if i % CHECK_EVERY == 0:
            stop.check()
    page_w, page_h = landscape(A4)
    margin_x, margin_y = 8 * mm, 10 * mm
    usable_w, usable_h = page_w - 2 * margin_x - 12, page_h - 2 * margin_y - 12  # frame padding 6
    total = sum(w + 1 for w in widest)
    # The largest size at which every column's widest cell fits the page.
    size = min(7.0, usable_w / (total * MONO_EM))  # >= 2 pt: cells are cut to <= 64 chars
    row_h = size + 3.0
    styles = getSampleStyleSheet()
    story: list[Flowable] = [
        Paragraph(escape(title), styles["Heading2"]),
        Paragraph(escape(export.note()), styles["BodyText"]),
        Spacer(1, 3 * mm),
    ]
    heading_h = sum(f.wrap(usable_w, usable_h)[1] + f.getSpaceBefore() + f.getSpaceAfter() for f in story)
    per_page = max(1, int(usable_h // row_h) - 1)
    first = max(1, int((usable_h - heading_h) // row_h) - 1)
    start, chunk = 0, first
    while True:
        part = cells[start : start + chunk]
        story.append(_page_table(list(header), part, widest, size, row_h))
        start += chunk
        if start >= len(cells):
            break
        story.append(PageBreak())
        chunk = per_page

    def on_page(_canvas: Any, _doc: Any) -> None:
        stop.check()  # once per page: a stopped rendering ends within a page

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=margin_x,
        rightMargin=margin_x,
        topMargin=margin_y,
        bottomMargin=margin_y,
        title=title,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()
