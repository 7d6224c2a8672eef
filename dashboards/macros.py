"""Expand a dashboard query the way Grafana and the ClickHouse plugin do, so tests can run it.

The dashboards' SQL is only correct once three layers have rewritten it, in this order:

1. the plugin's frontend `$__conditionalAll(condition, $var)` (`applyConditionalAll` in
   grafana/clickhouse-datasource `src/data/CHDatasource.ts`): replaced by `1=1` when the
   variable's current value is `''` or `$__all`, else by the condition;
2. Grafana's template service, with the plugin's format function for variables without
   an explicit format (multi-value -> `'a','b'`, single value -> as is), and Grafana's named
   formats (`${var:singlequote}`, `${var:csv}`, `${var:sqlstring}`, `${var:raw}`...);
3. the plugin's backend macros (`pkg/macros/macros.go`): `$__timeFilter(col)`,
   `$__timeFilter_ms(col)`, `$__dateFilter(col)`, `$__dateTimeFilter(date, time)` (alias
   `$__dt`), `$__fromTime`, `$__toTime`, `$__fromTime_ms`, `$__toTime_ms`,
   `$__timeInterval(col)`, `$__timeInterval_ms(col)` and `$__interval_s`.

Each function below reproduces its counterpart's output text, so a query that runs here
runs in Grafana (and one that fails here would fail there). Nothing is guessed beyond that:
an unknown `$__macro(` is an error rather than left for ClickHouse to reject obscurely.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ALL = "$__all"


class MacroError(ValueError):
    """A macro or variable the expander cannot resolve; the message names it."""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current state, as the template service sees it.

    `value` is a string for a single-value variable and a list for a multi-value one;
    `ALL` (alone, or as the only list element) means "All" is selected, which expands to
    `all_value` when the variable defines a custom one and to every option otherwise.
    """

    value: str | Sequence[str]
    options: Sequence[str] = ()
    all_value: str | None = None

    @property
    def is_all(self) -> bool:
        v = self.value
        return v == ALL or (not isinstance(v, str) and list(v) == [ALL])

    @property
    def current_text(self) -> str:
        """`current.value.toString()` in JavaScript: lists join with ','."""
        return self.value if isinstance(self.value, str) else ",".join(self.value)


@dataclass(frozen=True)
class TimeRange:
    """The dashboard time range and the panel interval Grafana computed for the query."""

    start: datetime
    end: datetime
    interval: timedelta = field(default=timedelta(seconds=60))

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.tzinfo is None:
                raise MacroError("time range bounds must be timezone-aware")


# --------------------------------------------------------------------------- 1. conditionalAll
_COND_ALL = "$__conditionalAll("
_VAR_IN_ARG = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")


def _macro_args(query: str, open_paren: int) -> list[str]:
    """The plugin's `getMacroArgs`: split on top-level commas up to the matching ')'."""
    args: list[str] = []
    depth = 0
    last = open_paren + 1
    for m in re.finditer(r"[(),]", query[open_paren:]):
        pos = open_paren + m.start()
        ch = m.group()
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 1:
            args.append(query[last:pos])
            last = pos + 1
        if depth == 0:
            args.append(query[last:pos])
            return args
    return []


def apply_conditional_all(sql: str, variables: Mapping[str, Variable]) -> str:
    """`$__conditionalAll(cond, $var)` -> `1=1` when $var is '' or All, else `cond`."""
    idx = sql.rfind(_COND_ALL)
    while idx != -1:
        params = _macro_args(sql, idx + len(_COND_ALL) - 1)
        if len(params) != 2:
            raise MacroError(f"$__conditionalAll needs 2 arguments at: {sql[idx : idx + 80]!r}")
        phrase = params[0]
        found = _VAR_IN_ARG.search(params[1].strip())
        if found:
            var = variables.get(found.group())
            if var is not None and var.current_text in ("", ALL):
                phrase = "1=1"
        sql = sql.replace(f"{_COND_ALL}{params[0]},{params[1]})", phrase, 1)
        idx = sql.rfind(_COND_ALL)
    return sql


# --------------------------------------------------------------------------- 2. template variables
def _plugin_format(values: list[str], multi: bool) -> str:
    """The plugin's `format`: arrays become quoted, comma-joined; single values stay raw."""
    return "'" + "','".join(values) + "'" if multi else values[0]


def _sqlstring(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


_FORMATS: dict[str, Callable[[list[str]], str]] = {
    "raw": lambda vs: ",".join(vs),
    "csv": lambda vs: ",".join(vs),
    "singlequote": lambda vs: ",".join("'" + v.replace("'", "\\'") + "'" for v in vs),
    "doublequote": lambda vs: ",".join('"' + v.replace('"', '\\"') + '"' for v in vs),
    "sqlstring": lambda vs: ",".join(_sqlstring(v) for v in vs),
    "pipe": lambda vs: "|".join(vs),
}

# $var, ${var}, ${var:fmt}, [[var]] -- Grafana's variable regex, minus field paths.
_VAR_REF = re.compile(r"\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]|\$\{(\w+)(?::([\w.]+))?\}")


def _values(var: Variable) -> tuple[list[str], bool, bool]:
    """(values, is_multi, is_custom_all) after resolving All."""
    if var.is_all:
        if var.all_value is not None:
            return [var.all_value], False, True
        return list(var.options), True, False
    if isinstance(var.value, str):
        return [var.value], False, False
    return list(var.value), True, False


def replace_variables(sql: str, variables: Mapping[str, Variable]) -> str:
    """Grafana's `templateSrv.replace(sql, scopedVars, pluginFormat)` for dashboard variables.

    `$__...` names (macros, built-ins) are left alone for the backend, as Grafana leaves
    names it does not know. A custom All value is inserted unformatted unless the reference
    names a format, as Grafana does.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        if name.startswith("__"):
            return m.group(0)
        var = variables.get(name)
        if var is None:
            raise MacroError(f"query references undefined variable ${name}")
        values, multi, custom_all = _values(var)
        if fmt:
            if fmt not in _FORMATS:
                raise MacroError(f"unsupported variable format {fmt!r} in {m.group(0)}")
            return _FORMATS[fmt](values)
        if custom_all:
            return values[0]
        if not values:
            return ""
        return _plugin_format(values, multi)

    return _VAR_REF.sub(sub, sql)


# --------------------------------------------------------------------------- 3. backend macros
def _unix(t: datetime) -> int:
    return int(t.timestamp())


def _unix_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _date(t: datetime) -> str:
    return f"toDate('{t.astimezone(UTC).strftime('%Y-%m-%d')}')"


def _dt(t: datetime) -> str:
    return f"toDateTime({_unix(t)})"


def _dt64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_unix_ms(t)})"


def _one(name: str, args: list[str]) -> str:
    if len(args) != 1:
        raise MacroError(f"$__{name} expects 1 argument, got {len(args)}")
    return args[0]


def _backend_macros(tr: TimeRange) -> dict[str, Callable[[list[str]], str]]:
    """macros.go's `Macros` map, bound to one time range and interval."""
    f, t = tr.start, tr.end
    seconds = max(int(tr.interval.total_seconds()), 1)
    millis = max(int(tr.interval.total_seconds() * 1000), 1)

    def time_filter(a: list[str]) -> str:
        c = _one("timeFilter", a)
        return f"{c} >= {_dt(f)} AND {c} <= {_dt(t)}"

    def time_filter_ms(a: list[str]) -> str:
        c = _one("timeFilter_ms", a)
        return f"{c} >= {_dt64(f)} AND {c} <= {_dt64(t)}"

    def date_filter(a: list[str]) -> str:
        c = _one("dateFilter", a)
        return f"{c} >= {_date(f)} AND {c} <= {_date(t)}"

    def date_time_filter(a: list[str]) -> str:
        if len(a) != 2:
            raise MacroError(f"$__dateTimeFilter expects 2 arguments, got {len(a)}")
        d, c = a
        return f"({d} >= {_date(f)} AND {d} <= {_date(t)}) AND ({c} >= {_dt(f)} AND {c} <= {_dt(t)})"

    return {
        "fromTime": lambda a: _dt(f),
        "toTime": lambda a: _dt(t),
        "fromTime_ms": lambda a: _dt64(f),
        "toTime_ms": lambda a: _dt64(t),
        "timeFilter": time_filter,
        "timeFilter_ms": time_filter_ms,
        "dateFilter": date_filter,
        "dateTimeFilter": date_time_filter,
        "dt": date_time_filter,
        "timeInterval": lambda a: (
            f"toStartOfInterval(toDateTime({_one('timeInterval', a)}), INTERVAL {seconds} second)"
        ),
        "timeInterval_ms": lambda a: (
            f"toStartOfInterval(toDateTime64({_one('timeInterval_ms', a)}, 3), INTERVAL {millis} millisecond)"
        ),
        "interval_s": lambda a: str(seconds),
    }


_MACRO_NAME = re.compile(r"\$__(\w+)")


def _split_args(text: str) -> list[str]:
    """Split macro arguments on top-level commas and trim them (sqlds' argument parsing)."""
    args, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip() or args:
        args.append(cur.strip())
    return args


def apply_backend_macros(sql: str, tr: TimeRange) -> str:
    """Replace every `$__name` / `$__name(args)` with the plugin's expansion."""
    macros = _backend_macros(tr)
    out: list[str] = []
    pos = 0
    for m in _MACRO_NAME.finditer(sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        if name not in macros:
            raise MacroError(f"unknown macro $__{name}")
        end = m.end()
        args: list[str] = []
        if end < len(sql) and sql[end] == "(":
            depth = 0
            for i in range(end, len(sql)):
                depth += sql[i] == "("
                depth -= sql[i] == ")"
                if depth == 0:
                    args = _split_args(sql[end + 1 : i])
                    end = i + 1
                    break
            else:
                raise MacroError(f"unbalanced parentheses after $__{name}")
        out.append(sql[pos : m.start()])
        out.append(macros[name](args))
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def expand(sql: str, time_range: TimeRange, variables: Mapping[str, Variable] | None = None) -> str:
    """The SQL the ClickHouse server receives for a panel or variable query."""
    variables = variables or {}
    sql = apply_conditional_all(sql, variables)
    sql = replace_variables(sql, variables)
    return apply_backend_macros(sql, time_range)


def interval_for(
    time_range: TimeRange, max_data_points: int = 1000, min_interval_s: float = 1.0
) -> timedelta:
    """Roughly Grafana's auto interval: range / max data points, at least the minimum."""
    span = (time_range.end - time_range.start).total_seconds()
    return timedelta(seconds=max(math.ceil(span / max_data_points), min_interval_s))
