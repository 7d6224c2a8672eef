"""CSV and PDF renderings of the runs, calls and logs lists, streamed page by page.

Rows are flattened to (header, values) once, in `COLUMNS`, so both formats and the CLI
agree on what an exported run/call/log looks like. CSV streams as pages arrive; a PDF needs
its whole table to lay out, so it is built after the rows are read (the row cap bounds it)
and then sent in chunks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from query_api.models import CallRow, LogRow, RunSummary

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
        str(c.fetched),
        str(c.created),
        str(c.updated),
        str(c.unchanged),
        str(c.skipped),
        str(c.deleted),
        str(c.failed),
        str(r.error_count),
        "" if r.exit_code is None else str(r.exit_code),
        r.failure_cause,
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
        str(r.retry_count),
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
            "fetched",
            "created",
            "updated",
            "unchanged",
            "skipped",
            "deleted",
            "failed",
            "errors",
            "exit_code",
            "failure_cause",
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


def _safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ becomes text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_stream(kind: str, rows: Iterator[BaseModel]) -> Iterator[bytes]:
    header, flatten = COLUMNS[kind]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow([_safe_cell(v) for v in flatten(row)])
        if i % 200 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def pdf_bytes(kind: str, title: str, rows: Iterator[BaseModel]) -> bytes:
    """One landscape table with a repeating header row; long cells wrap."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    header, flatten = COLUMNS[kind]
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=6, leading=7)
    head = styles["BodyText"].clone("head", fontSize=6, leading=7, fontName="Helvetica-Bold")
    data: list[list[Any]] = [[Paragraph(escape(h), head) for h in header]]
    for row in rows:
        data.append([Paragraph(escape(v[:400]), cell) for v in flatten(row)])
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=8 * mm,
        rightMargin=8 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title=title,
    )
    table = LongTable(data, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    doc.build([Paragraph(escape(title), styles["Heading2"]), Spacer(1, 4 * mm), table])
    return out.getvalue()


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
