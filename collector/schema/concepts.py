"""Derived concepts over the public schema, defined once: run status, failed run, failed call.

The query API, the Grafana dashboards and the docs all say "failed run" or "failed call"; if
each spelled its own SQL they would disagree (they did: the API counted a timeout as a failed
call in one place and not in another). Every reader imports these expressions instead.

- **Run status** (`ok`, `error`, `running`): a run has a start-marker row in `connector_runs`
  and, once it ends, a finished row; its status is the finished row's, else `running`.
- **Failed run**: a run whose status is `error` (it raised, or ended with a non-zero exit code).
  A run that finished `ok` but failed some records is not a failed run; it *has failures*.
- **Failed call**: an HTTP span (outgoing call or incoming webhook) that got a status >= 400
  **or** got no response at all (timeout, connection error: the span's status is Error). A
  timeout is a failed call.
- **Status** of a step, page, record or call: `ok` or `error` (from the span's OTel status:
  `Error` is `error`, `Ok`/`Unset` are `ok`), the words a run's status uses, so every level
  reads the same; the OTel value stays in `otel_traces.StatusCode`.
- **Counters**: the seven record counters of `semconv.Counter`, one `connector_runs` column each.
- **Log stream**: `stdout` / `stderr` for process output captured by `init(capture_stdio=True)`
  (`connector.log.stream`), `app` for every other record (the connector's own logging).
- **Run kind** (migration 5): `sync` for a connector sync (also when the SDK recorded no kind,
  as before migration 5), else the operation's kind (`build`, `deploy`...). An **operation**
  is a run whose kind is not `sync`.
"""

from __future__ import annotations

from typing import Final

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc

__all__ = [
    "CALL_ROLES",
    "CALL_ROLES_SQL",
    "COUNTER_COLUMNS",
    "FAILED_CALL",
    "FAILED_RUN",
    "HAS_FAILURES",
    "LOG_STREAM",
    "RUN_KIND",
    "RUN_STATUS",
    "SPAN_STATUS",
    "SYNC_ROW",
    "run_state",
]


def run_state(column: str) -> str:
    """A run's current value of a `connector_runs` column, grouped by TraceId: its finished
    row's if it has one, else its start marker's."""
    return f"argMax({column}, {n.C_FINISHED})"


# Over `connector_runs` GROUP BY TraceId.
RUN_STATUS: Final = run_state(n.C_RUN_STATUS)
FAILED_RUN: Final = f"({RUN_STATUS} = '{sc.RunStatus.ERROR.value}')"
HAS_FAILURES: Final = f"({FAILED_RUN} OR {run_state(n.C_ERROR_COUNT)} > 0)"

# Over `connector_runs` rows (a WHERE condition: both rows of a run carry the same kind).
SYNC_ROW: Final = f"({n.C_RUN_KIND} IN ('', '{sc.RunKind.SYNC.value}'))"
# Over `connector_runs` GROUP BY TraceId.
RUN_KIND: Final = f"if({run_state(n.C_RUN_KIND)} = '', '{sc.RunKind.SYNC.value}', {run_state(n.C_RUN_KIND)})"

# Over `otel_logs` rows.
LOG_STREAM: Final = (
    f"if({n.C_LOG_ATTRIBUTES}['{sc.LOG_STREAM}'] != '', {n.C_LOG_ATTRIBUTES}['{sc.LOG_STREAM}'],"
    f" '{sc.LOG_STREAM_APP}')"
)

# Over `otel_traces` rows.
SPAN_STATUS: Final = (
    f"if({n.C_STATUS_CODE} = 'Error', '{sc.RunStatus.ERROR.value}', '{sc.RunStatus.OK.value}')"
)
CALL_ROLES: Final[tuple[sc.Role, ...]] = (sc.Role.HTTP, sc.Role.WEBHOOK)
CALL_ROLES_SQL: Final = "(" + ", ".join(f"'{r.value}'" for r in CALL_ROLES) + ")"
FAILED_CALL: Final = (
    f"({n.C_ROLE} IN {CALL_ROLES_SQL} AND ({n.C_HTTP_STATUS} >= 400 OR {n.C_STATUS_CODE} = 'Error'))"
)

# semconv.Counter -> its `connector_runs` column, in the enum's order.
COUNTER_COLUMNS: Final[dict[sc.Counter, str]] = {c: n.RUN_COUNTER_COLUMNS[c.value] for c in sc.Counter}
