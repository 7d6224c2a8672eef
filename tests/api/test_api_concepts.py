"""The seven counters come from one list (semconv.Counter) wherever they cross a boundary."""

from __future__ import annotations

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import COUNTER_COLUMNS
from connlog.instrumentation import semconv as sc
from connlog.query_api.export import COLUMNS
from connlog.query_api.models import Counters


def test_counters_model_columns_and_export_follow_semconv() -> None:
    order = [c.value for c in sc.Counter]
    assert list(Counters.model_fields) == order  # the typed response model
    assert list(n.RUN_COUNTER_COLUMNS) == order  # connector_runs columns
    assert [c.value for c in COUNTER_COLUMNS] == order
    header, _ = COLUMNS["runs"]
    at = header.index(order[0])
    assert header[at : at + len(order)] == order  # the runs export, in the same order
