"""Dead-letter files: batches ClickHouse rejected permanently, kept with the reason.

Why a file and not a drop: the rows were acknowledged to the exporter, so an operator
must be able to see what was set aside and why (and re-insert it once the cause is
fixed). Rows are already redacted, like everything else the collector writes to disk.
One JSON document per batch: `{"reason", "table", "signal", "rows", "token", "columns",
"data"}`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from connlog.collector.batch import ColumnBatch

log = logging.getLogger("connlog.collector.dead_letter")


class DeadLetter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, batch: ColumnBatch, reason: str, token: str | None) -> Path:
        """Write `batch` durably (fsync) and return the file's path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{batch.table}-{batch.rows}.json"
        path = self.directory / name
        doc = {
            "reason": reason,
            "table": batch.table,
            "signal": batch.signal,
            "rows": batch.rows,
            "token": token,
            "columns": list(batch.columns),
            "data": batch.data,
        }
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return path

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.json")) if self.directory.exists() else []
