"""Bound-parameter SQL fragments: every user value travels as a `{pN:Type}` parameter.

Filters are built as a list of conditions whose values are never spliced into SQL text;
ClickHouse's server-side parameter substitution types and escapes them. Only identifiers
from `collector.schema.names` and fixed expressions are written into the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Params:
    """Collects parameter values and hands out their placeholders."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, type_: str) -> str:
        """Register `value` and return its placeholder, e.g. `{p3:String}`."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


@dataclass
class Conditions:
    """An AND-list of SQL conditions sharing one `Params`."""

    params: Params
    items: list[str] = field(default_factory=list)

    def add(self, sql: str) -> None:
        self.items.append(sql)

    def eq(self, column: str, value: Any, type_: str = "String") -> None:
        self.add(f"{column} = {self.params.bind(value, type_)}")

    def in_(self, column: str, values: Sequence[Any], type_: str = "String") -> None:
        self.add(f"{column} IN {self.params.bind(list(values), f'Array({type_})')}")

    def copy(self) -> Conditions:
        """The same conditions on a copy of the parameters: one variant per query of a loop
        (e.g. one time window each) without the variants' values piling up in the original."""
        return Conditions(Params(dict(self.params.values)), list(self.items))

    def sql(self, keyword: str = "WHERE") -> str:
        return f"{keyword} " + " AND ".join(f"({c})" for c in self.items) if self.items else ""

    def joined(self) -> str:
        """The conditions AND-ed, or `1` when there are none."""
        return " AND ".join(f"({c})" for c in self.items) if self.items else "1"


def like_contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ns_expr(column: str) -> str:
    """A DateTime64(9) column as Int64 nanoseconds: exact, timezone-free values for JSON and cursors."""
    return f"toUnixTimestamp64Nano({column})"


def ts_param(params: Params, ns: int) -> str:
    """A nanosecond instant as a DateTime64(9) literal expression usable against the sort key."""
    return f"fromUnixTimestamp64Nano({params.bind(ns, 'Int64')}, 'UTC')"
