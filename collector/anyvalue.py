"""OTLP `AnyValue` / attribute lists flattened to strings exactly like the clickhouseexporter.

The exporter stores every attribute as `Map(LowCardinality(String), String)` using Go's
`pcommon.Value.AsString()`: ints in decimal, bools `true`/`false`, doubles in Go's
shortest non-exponent form, bytes as base64, arrays and kvlists as JSON. Matching it
keeps our rows identical to what the official collector would write.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def format_double(value: float) -> str:
    """Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _raw(value: AnyValue) -> Any:
    """The JSON-able native form (Go's `AsRaw`), used inside arrays and kvlists."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else format_double(d)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        return [_raw(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _raw(kv.value) for kv in value.kvlist_value.values}
    return None


def _json(raw: Any) -> str:
    return json.dumps(raw, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def any_value_to_str(value: AnyValue) -> str:
    """One attribute value or log body as the exporter's string."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return format_double(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return ""
    return _json(_raw(value))


def attributes_to_map(attributes: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as a key-sorted dict of strings (later duplicates win, as in pcommon.Map)."""
    # One comprehension (no per-attribute statement dispatch). A non-empty `string_value`
    # can only mean the string case, so the common attribute skips `WhichOneof`.
    flat = {kv.key: kv.value.string_value or any_value_to_str(kv.value) for kv in attributes}
    if len(flat) < 2:
        return flat
    keys = sorted(flat)
    if keys == list(flat):
        return flat
    return {k: flat[k] for k in keys}
