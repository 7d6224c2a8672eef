"""connlog instrumentation SDK: one `init()`, then `run` / `step` / `page` / `entity`.

    import connlog as cl
    handle = cl.init(connector="hubspot", version="1.4.0", environment="prod", tenant="acme",
                     secrets=[api_key])
    with cl.run(sync_type="incremental", trigger="schedule", job_id="job-42") as r:
        with cl.step("contacts"):
            with cl.page(number=1):
                resp = client.get(url)              # recorded as a CLIENT span
                cl.entity("ext-1", type="contact", action="create")

Nothing here raises into the connector after `init()` returned, and nothing blocks on
the collector. See `docs/semconv.md` for every attribute written.
"""

from connlog.instrumentation._init import ExportStats, Handle, SdkSettings, active_handle, init
from connlog.instrumentation.asgi import ConnlogASGIMiddleware, instrument_asgi
from connlog.instrumentation.causes import cause_for_exception, cause_for_status
from connlog.instrumentation.model import count, current_span, entity, operation, page, run, step, wrap
from connlog.instrumentation.redaction import RedactionConfig, Redactor
from connlog.instrumentation.safe_export import SignalStats
from connlog.instrumentation.semconv import (
    Counter,
    EntityAction,
    FailureCause,
    OperationStatus,
    Role,
    RunKind,
    RunStatus,
    SyncType,
    Trigger,
)

__all__ = [
    "ConnlogASGIMiddleware",
    "Counter",
    "EntityAction",
    "ExportStats",
    "FailureCause",
    "Handle",
    "OperationStatus",
    "RedactionConfig",
    "Redactor",
    "Role",
    "RunKind",
    "RunStatus",
    "SdkSettings",
    "SignalStats",
    "SyncType",
    "Trigger",
    "active_handle",
    "cause_for_exception",
    "cause_for_status",
    "count",
    "current_span",
    "entity",
    "init",
    "instrument_asgi",
    "operation",
    "page",
    "run",
    "step",
    "wrap",
]
