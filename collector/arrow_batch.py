"""Column lists of a `ColumnBatch` -> one Arrow table typed after the target table's columns.

Why: clickhouse-connect serializes `Native` blocks value by value in Python (String,
LowCardinality dictionaries, Map and Array containers), which was about half of the
insert stage. Arrow builds each column in C from the Python lists (a map column becomes
three flat arrays: offsets, keys, values), and ClickHouse reads the Arrow stream
natively, on a server (`insert_arrow` over HTTP) and in chDB alike.

The Arrow type of each column follows its ClickHouse type name (as `DESCRIBE` reports
it), so one converter serves every ingest table and a column added to a table needs no
change here as long as its type is one of the shapes below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any, Final

import pyarrow as pa

_WRAPPER: Final = re.compile(r"^(LowCardinality|Nullable)\((.*)\)$")
_DATETIME64: Final = re.compile(r"^DateTime64\((\d)(?:,\s*'([^']*)')?\)$")
_UNITS: Final = {0: "s", 3: "ms", 6: "us", 9: "ns"}
_INTS: Final = {
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
}

Builder = Callable[[Sequence[Any]], pa.Array]


class UnsupportedType(TypeError):
    """A column type this converter has no Arrow shape for (the Native path handles it)."""


def _split_args(inner: str) -> list[str]:
    """Top-level comma-separated arguments of a type, e.g. `LowCardinality(String), String`."""
    out: list[str] = []
    depth = start = 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i].strip())
            start = i + 1
    out.append(inner[start:].strip())
    return out


def _flatten(values: Sequence[Sequence[Any]]) -> tuple[list[Any], pa.Array]:
    """The items of every list in order, and the int32 offsets that delimit them."""
    flat = [v for vs in values for v in vs]
    offsets = pa.array(list(accumulate(map(len, values), initial=0)), pa.int32())
    return flat, offsets


def builder(ch_type: str) -> Builder:
    """A function turning a Python list of one column's values into an Arrow array."""
    wrapped = _WRAPPER.match(ch_type)
    if wrapped:
        return builder(wrapped.group(2))
    if ch_type in ("String", "FixedString"):
        return lambda values: pa.array(values, pa.string())
    if ch_type in _INTS:
        arrow_type = _INTS[ch_type]
        return lambda values: pa.array(values, arrow_type)
    dt = _DATETIME64.match(ch_type)
    if dt and int(dt.group(1)) in _UNITS:
        ts_type = pa.timestamp(_UNITS[int(dt.group(1))], tz=dt.group(2) or "UTC")
        return lambda values: pa.array(values, pa.int64()).cast(ts_type)
    if ch_type.startswith("Array(") and ch_type.endswith(")"):
        item = builder(ch_type[6:-1])

        def array(values: Sequence[Any]) -> pa.Array:
            flat, offsets = _flatten(values)
            return pa.ListArray.from_arrays(offsets, item(flat))

        return array
    if ch_type.startswith("Map(") and ch_type.endswith(")"):
        key_type, value_type = _split_args(ch_type[4:-1])
        keys_of, values_of = builder(key_type), builder(value_type)

        def mapping(values: Sequence[Any]) -> pa.Array:
            keys = [k for m in values for k in m]
            items = [v for m in values for v in m.values()]
            offsets = pa.array(list(accumulate(map(len, values), initial=0)), pa.int32())
            return pa.MapArray.from_arrays(offsets, keys_of(keys), values_of(items))

        return mapping
    raise UnsupportedType(f"no Arrow shape for ClickHouse type {ch_type}")


class ArrowConverter:
    """Builds Arrow tables for one table's columns (the builders are made once)."""

    def __init__(self, columns: Sequence[str], ch_types: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._builders = [builder(t) for t in ch_types]

    def table(self, data: Sequence[Sequence[Any]]) -> pa.Table:
        arrays = [build(values) for build, values in zip(self._builders, data, strict=True)]
        return pa.Table.from_arrays(arrays, names=list(self.columns))
