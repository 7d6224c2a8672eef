"""The connector model: run → step → page → entity, as spans with roll-up counters.

Each scope is a context manager (sync and async) and a decorator (sync and async
functions). The span is current while the scope is open, so HTTP calls and log records
inside it nest under it, in threads only when the context is carried (see `wrap`).

`entity()` works both as a plain call and as a context manager. The span starts when
`entity()` is called. Entered with `with`, it stays open until the block exits and HTTP
calls nest under it. Not entered, it is finished as soon as the object is released,
which for the expression statement `cl.entity("x", action="create")` is immediately
(CPython reference counting); an entity object kept in a variable is finished at the
latest when its parent page/step/run ends. Either way no span is left unfinished.

Faults: the innermost scope an exception escapes records the root fault (an `exception`
event, the cause, the failing call's URL and status); every outer scope it escapes adds
status ERROR and the same cause, without a duplicate event.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001, S110

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from connlog.instrumentation._init import Handle, active_handle
from connlog.instrumentation.causes import cause_for_exception, cause_for_status, evidence_of
from connlog.instrumentation.counters import Node, current_node, nearest_aggregating
from connlog.instrumentation.semconv import (
    ACTION_COUNTER,
    CONNECTOR_TENANT,
    ENDUSER_ID,
    ENTITY_ACTION,
    ENTITY_EXTERNAL_ID,
    ENTITY_INTERNAL_ID,
    ENTITY_REASON,
    ENTITY_TYPE,
    EXCEPTION_EVENT,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
    FAILURE_CAUSE,
    FAULT_STATUS_CODE,
    FAULT_URL,
    OPERATION_OWNER,
    OPERATION_QUEUED_AT,
    OPERATION_STATUS,
    OPERATION_TARGET,
    PAGE_CURSOR,
    PAGE_NUMBER,
    ROLE,
    RUN_EXIT_CODE,
    RUN_JOB_ID,
    RUN_JOB_TICK,
    RUN_KIND,
    RUN_SCHEDULE,
    RUN_STATUS,
    RUN_SYNC_TYPE,
    RUN_TRIGGER,
    SPAN_ENTITY,
    SPAN_PAGE,
    SPAN_RUN,
    SPAN_RUN_START,
    SPAN_STEP,
    STEP_NAME,
    Counter,
    EntityAction,
    FailureCause,
    OperationStatus,
    Role,
    RunKind,
    RunStatus,
    schedule_every,
)

_log = logging.getLogger("connlog.sdk")
_NOOP_TRACER: Tracer = trace.NoOpTracer()

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="_Scope")
A = TypeVar("A", bound="_AsyncWith")


def _handle_and_tracer() -> tuple[Handle | None, Tracer]:
    handle = active_handle()
    if handle is None or handle.closed:
        return None, _NOOP_TRACER
    return handle, handle.tracer


def _swallow(handle: Handle | None, what: str) -> None:
    """Count and debug-log an SDK-internal exception instead of raising it into the connector."""
    _log.debug("connlog internal error in %s", what, exc_info=True)
    if handle is not None:
        handle.internal_error()


def _clean(handle: Handle | None, value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return handle.redactor.secrets(text) if handle is not None else text


# ---------------------------------------------------------------------- faults
def _after_success(node: Node | None) -> bool:
    while node is not None:
        if node.role in (Role.PAGE, Role.ENTITY):
            if node.last_http is not None and node.last_http[1] < 400:
                return True
        node = node.parent
    return False


def _resolve(
    handle: Handle | None, node: Node | None, exc: BaseException
) -> tuple[FailureCause, tuple[str | None, int | None]]:
    """(cause, (redacted url, status) of the failing call) by the evidence rule of `causes`."""
    redactor = handle.redactor if handle is not None else None
    status, raw_url = evidence_of(exc)
    url = redactor.url(raw_url) if raw_url and redactor is not None else raw_url
    failed = node.failed_call() if node is not None else None
    by_status = cause_for_status(status) if status is not None else None
    if by_status is not None:  # 1. the exception's own HTTP status
        if url is None and failed is not None and failed[1] == status:
            url = failed[0]
        return by_status, (url, status)
    if failed is not None:  # 2. the last call inside the scope failed
        return FailureCause(failed[2]), (url or failed[0], failed[1])
    cause = cause_for_exception(exc, after_success=_after_success(node))  # 3. the type
    if url is None and cause is FailureCause.SHAPE_MISMATCH and node is not None and node.last_http:
        return cause, node.last_http
    return cause, (url, None)


def record_failure(handle: Handle | None, node: Node | None, span: Span, exc: BaseException) -> FailureCause:
    """Mark `span` failed by `exc`; the first scope to see `exc` records the root fault event."""
    cause: FailureCause | None = getattr(exc, "__connlog_cause__", None)
    fault: tuple[str | None, int | None] = getattr(exc, "__connlog_fault__", (None, None))
    first = cause is None
    redactor = handle.redactor if handle is not None else None
    if cause is None:
        cause, fault = _resolve(handle, node, exc)
        try:
            exc.__connlog_cause__ = cause  # type: ignore[attr-defined]
            exc.__connlog_fault__ = fault  # type: ignore[attr-defined]
        except Exception:
            pass
    if node is not None:
        node.note_cause(cause.value)
    if not span.is_recording():
        return cause
    message = str(exc)
    if redactor is not None:
        message = redactor.text(message)
    span.set_attribute(FAILURE_CAUSE, cause.value)
    if fault[0]:
        span.set_attribute(FAULT_URL, fault[0])
    if fault[1] is not None:
        span.set_attribute(FAULT_STATUS_CODE, fault[1])
    if first:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        span.add_event(
            EXCEPTION_EVENT,
            {
                EXCEPTION_TYPE: type(exc).__name__,
                EXCEPTION_MESSAGE: message,
                EXCEPTION_STACKTRACE: redactor.text(stack) if redactor is not None else stack,
            },
        )
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:1024]))
    return cause


# ---------------------------------------------------------------------- scopes
class _AsyncWith:
    """`async with` for a scope whose `with` does the work: entering and leaving never await."""

    __slots__ = ()

    def __enter__(self: A) -> A:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self: A) -> A:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class _Scope(_AsyncWith):
    """A span-backed scope usable as `with`, `async with` and decorator."""

    role: Role = Role.STEP
    span_name: str = SPAN_STEP

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._handle: Handle | None = None
        self._span: Span = trace.INVALID_SPAN
        self._node: Node | None = None
        self._tokens: tuple[Any, Any] | None = None
        self._start_ns = 0

    # -- subclasses
    def _attributes(self, handle: Handle | None) -> dict[str, Any]:
        return {}

    def _parent_context(self) -> otel_context.Context | None:
        return None  # the current context

    def _on_started(self) -> None:
        pass

    def _start_time(self) -> int:
        return time.time_ns()

    def _on_ending(self, exc: BaseException | None) -> None:
        pass

    # -- lifecycle
    def __enter__(self: S) -> S:
        handle, tracer = _handle_and_tracer()
        self._handle = handle
        try:
            parent = current_node.get()
            attrs = self._attributes(handle)
            attrs[ROLE] = self.role.value
            if self.role is not Role.RUN and STEP_NAME not in attrs and parent is not None:
                if parent.step_name is not None:
                    attrs[STEP_NAME] = parent.step_name
            self._start_ns = self._start_time()
            span = tracer.start_span(
                self.span_name,
                context=self._parent_context(),
                kind=SpanKind.INTERNAL,
                attributes=attrs,
                start_time=self._start_ns,
            )
            self._span = span
            self._node = Node(span, self.role, parent)
            if self.role is Role.STEP and isinstance(attrs.get(STEP_NAME), str):
                self._node.step_name = attrs[STEP_NAME]
            self._tokens = (
                otel_context.attach(trace.set_span_in_context(span)),
                current_node.set(self._node),
            )
            self._on_started()
        except Exception:
            _swallow(handle, f"{self.role} enter")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = self._handle
        try:
            self._on_ending(exc)
            node = self._node
            if node is not None:
                _finish_pending(node)
                node.write_totals()
            self._span.end()
        except Exception:
            _swallow(handle, f"{self.role} exit")
        finally:
            tokens, self._tokens = self._tokens, None
            if tokens is not None:
                try:
                    current_node.reset(tokens[1])
                except Exception:
                    current_node.set(self._node.parent if self._node is not None else None)
                try:
                    otel_context.detach(tokens[0])
                except Exception:
                    _swallow(handle, "detach")

    def _fresh(self: S) -> S:
        return type(self)(*self._args, **self._kwargs)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorator form: a fresh scope around every call of `fn` (sync or async)."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper

    # -- public helpers
    @property
    def span(self) -> Span:
        """The underlying OpenTelemetry span (non-recording before init)."""
        return self._span

    def set_attribute(self, key: str, value: Any) -> None:
        """Add an attribute to this scope's span; string values have registered secrets redacted."""
        try:
            if isinstance(value, str):
                value = _clean(self._handle, value)
            self._span.set_attribute(key, value)
        except Exception:
            _swallow(self._handle, "set_attribute")

    def add(self, **counts: int) -> None:
        """Add to this scope's counters (and its ancestors'), e.g. `page.add(fetched=100)`."""
        _add_counts(self._node, counts, self._handle)


class run(_Scope):
    """One execution of the connector: the root span of a new trace.

    Always starts a new trace, even inside another span, so a run is one trace that a
    dashboard can list. A zero-length `connector.run.start` marker is exported right away
    so the run shows as running before it ends. Exit code: `set_exit_code()`, else
    `SystemExit.code`, else 0 on success and 1 on an exception.
    """

    role = Role.RUN
    span_name = SPAN_RUN

    def __init__(
        self,
        sync_type: str | None = None,
        trigger: str | None = None,
        job_id: str | None = None,
        job_tick: str | datetime | None = None,
        *,
        tenant: str | None = None,
        schedule: str | timedelta | float | None = None,
        user: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            sync_type,
            trigger,
            job_id,
            job_tick,
            tenant=tenant,
            schedule=schedule,
            user=user,
            attributes=attributes,
        )
        self._exit_code: int | None = None

    def _kind_attributes(self, handle: Handle | None) -> dict[str, Any]:
        return {RUN_KIND: RunKind.SYNC.value}

    @property
    def run_id(self) -> str | None:
        """The run's id: its trace id as 32 hex digits (None before `init()` or outside `with`)."""
        ctx = self._span.get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None

    @property
    def viewer_url(self) -> str | None:
        """`<viewer>/runs/<run_id>` when a viewer address is configured (`init(viewer_url=...)`
        or `CONNLOG_VIEWER_URL`), else None."""
        run_id = self.run_id
        base = self._handle.settings.viewer_url if self._handle is not None else None
        if run_id is None or not base:
            return None
        return base.rstrip("/") + VIEWER_RUN_PATH.format(run_id=run_id)

    def _attributes(self, handle: Handle | None) -> dict[str, Any]:
        sync_type, trigger, job_id, job_tick = self._args
        tenant = self._kwargs.get("tenant") or (handle.settings.tenant if handle is not None else None)
        attrs: dict[str, Any] = {}
        for key, value in (
            (RUN_SYNC_TYPE, sync_type),
            (RUN_TRIGGER, trigger),
            (RUN_JOB_ID, job_id),
            (RUN_JOB_TICK, job_tick),
            (CONNECTOR_TENANT, tenant),
            (RUN_SCHEDULE, schedule_text(self._kwargs.get("schedule"))),
            (ENDUSER_ID, self._kwargs.get("user")),
        ):
            if value is not None:
                attrs[key] = _clean(handle, value)
        attrs.update(self._kind_attributes(handle))
        for key, value in (self._kwargs.get("attributes") or {}).items():
            attrs[key] = _clean(handle, value) if isinstance(value, str) else value
        return attrs

    def _parent_context(self) -> otel_context.Context | None:
        return otel_context.Context()  # empty: a new trace

    def __enter__(self) -> run:
        # A run ignores any enclosing connlog scope as well as any enclosing span.
        token = current_node.set(None)
        try:
            super().__enter__()
        finally:
            if self._node is None:
                current_node.reset(token)
            else:
                self._outer_token = token
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        outer = getattr(self, "_outer_token", None)
        if outer is not None:
            try:
                current_node.reset(outer)
            except Exception:
                pass

    def _on_started(self) -> None:
        handle = self._handle
        if handle is None:
            return
        attrs = self._attributes(handle)
        attrs[ROLE] = Role.RUN_START.value
        attrs[RUN_STATUS] = RunStatus.RUNNING.value
        attrs.update(self._marker_attributes())
        marker = handle.tracer.start_span(
            SPAN_RUN_START,
            context=trace.set_span_in_context(self._span),
            attributes=attrs,
            start_time=self._start_ns,
        )
        marker.end(end_time=self._start_ns)
        handle.flush_soon()

    def _marker_attributes(self) -> dict[str, Any]:
        return {}

    def set_exit_code(self, code: int) -> None:
        """The process exit code to report; non-zero marks the run as failed."""
        self._exit_code = int(code)

    def _on_ending(self, exc: BaseException | None) -> None:
        span = self._span
        failed = exc is not None
        code = self._exit_code
        if isinstance(exc, SystemExit):
            sys_code = exc.code
            failed = sys_code not in (0, None)
            if code is None:
                code = sys_code if isinstance(sys_code, int) else (0 if sys_code is None else 1)
        if exc is not None and failed:
            record_failure(self._handle, self._node, span, exc)
        if code is None:
            code = 1 if failed else 0
        if code != 0 and not failed:
            failed = True
            span.set_status(Status(StatusCode.ERROR, f"exit code {code}"))
            noted = self._node.first_cause if self._node is not None else None
            span.set_attribute(FAILURE_CAUSE, noted or FailureCause.ERROR.value)
        span.set_attribute(RUN_EXIT_CODE, code)
        span.set_attribute(RUN_STATUS, (RunStatus.ERROR if failed else RunStatus.OK).value)
        if not failed:
            span.set_status(Status(StatusCode.OK))


class operation(run):
    """An asynchronous operation (build, deploy, sync to an environment) recorded as a run
    of another kind: `connector.run.kind` = `kind`, an owner, a target, and a status that is
    `running` on the start marker and `done` / `failed` on the run span.

    `queued_at` (when the operation was requested) starts the span there, so the pending
    interval shows on the timeline; without it the operation starts when entered.
    """

    def __init__(
        self,
        kind: RunKind | str,
        *,
        owner: str | None = None,
        target: str | None = None,
        queued_at: datetime | None = None,
        tenant: str | None = None,
        user: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tenant=tenant, user=user, attributes=attributes)
        self._operation: dict[str, Any] = {
            "kind": kind,
            "owner": owner,
            "target": target,
            "queued_at": queued_at,
        }

    def _fresh(self) -> operation:
        kwargs = {k: v for k, v in self._kwargs.items() if k in ("tenant", "user", "attributes")}
        return operation(**self._operation, **kwargs)

    def _kind_attributes(self, handle: Handle | None) -> dict[str, Any]:
        op = self._operation
        attrs: dict[str, Any] = {RUN_KIND: _clean(handle, op["kind"])}
        for key, value in (
            (OPERATION_OWNER, op["owner"]),
            (OPERATION_TARGET, op["target"]),
            (OPERATION_QUEUED_AT, op["queued_at"]),
        ):
            if value is not None:
                attrs[key] = _clean(handle, value)
        return attrs

    def _start_time(self) -> int:
        queued: datetime | None = self._operation["queued_at"]
        if queued is not None:
            try:
                return min(int(queued.timestamp() * 1e9), time.time_ns())
            except Exception:
                pass
        return time.time_ns()

    def _marker_attributes(self) -> dict[str, Any]:
        return {OPERATION_STATUS: OperationStatus.RUNNING.value}

    def _on_ending(self, exc: BaseException | None) -> None:
        super()._on_ending(exc)
        failed = exc is not None and not (isinstance(exc, SystemExit) and exc.code in (0, None))
        failed = failed or (self._exit_code not in (None, 0))
        status = OperationStatus.FAILED if failed else OperationStatus.DONE
        self._span.set_attribute(OPERATION_STATUS, status.value)


class step(_Scope):
    """A named phase of a run (`contacts`, `deals`): usually one object type."""

    role = Role.STEP
    span_name = SPAN_STEP

    def __init__(self, name: str | Callable[..., Any]) -> None:
        super().__init__(name)

    def __new__(cls, name: str | Callable[..., Any]) -> Any:
        # Bare decorator `@cl.step` (no parentheses): name the step after the function.
        if callable(name):
            return cls(getattr(name, "__name__", "step"))(name)
        return super().__new__(cls)

    def _attributes(self, handle: Handle | None) -> dict[str, Any]:
        return {STEP_NAME: _clean(handle, self._args[0])}

    def _on_ending(self, exc: BaseException | None) -> None:
        if exc is not None:
            record_failure(self._handle, self._node, self._span, exc)


class page(_Scope):
    """One page of a paginated fetch: the unit whose response is parsed into entities."""

    role = Role.PAGE
    span_name = SPAN_PAGE

    def __init__(self, number: int | None = None, cursor: str | None = None) -> None:
        super().__init__(number, cursor)

    def _attributes(self, handle: Handle | None) -> dict[str, Any]:
        number, cursor = self._args
        attrs: dict[str, Any] = {}
        if number is not None:
            attrs[PAGE_NUMBER] = int(number)
        if cursor is not None:
            attrs[PAGE_CURSOR] = _clean(handle, cursor)
        return attrs

    def _on_ending(self, exc: BaseException | None) -> None:
        if exc is not None:
            record_failure(self._handle, self._node, self._span, exc)


# ---------------------------------------------------------------------- entity
# Entities created but not (yet) entered, per parent node: finished when the parent ends.
_pending: weakref.WeakKeyDictionary[Node, weakref.WeakSet[entity]] = weakref.WeakKeyDictionary()
_pending_lock = threading.RLock()


def _finish_pending(node: Node) -> None:
    with _pending_lock:
        entities = _pending.pop(node, None)
    if entities:
        for ent in list(entities):
            ent._finish_plain()


class entity(_AsyncWith):
    """One record processed by the connector (see the module docstring for plain vs `with`)."""

    __slots__ = (
        "__weakref__",
        "_action",
        "_cause",
        "_done",
        "_external_id",
        "_handle",
        "_internal_id",
        "_node",
        "_parent_ctx",
        "_parent_node",
        "_reason",
        "_span",
        "_start_ns",
        "_tokens",
        "_type",
        "_user",
    )

    def __init__(
        self,
        external_id: str | int | None = None,
        type: str | None = None,
        internal_id: str | int | None = None,
        action: EntityAction | str | None = None,
        reason: str | None = None,
        *,
        user: str | None = None,
    ) -> None:
        self._done = True  # until fully constructed: makes __del__ a no-op on failure
        self._handle: Handle | None = None
        self._span: Span = trace.INVALID_SPAN
        self._node: Node | None = None
        self._tokens: tuple[Any, Any] | None = None
        self._external_id = external_id
        self._type = type
        self._internal_id = internal_id
        self._action = action
        self._reason = reason
        self._cause: FailureCause | str | None = None
        self._user = user
        self._start_ns = time.time_ns()
        handle, _tracer = _handle_and_tracer()
        self._handle = handle
        if handle is None:
            return
        try:
            self._parent_ctx = otel_context.get_current()
            self._parent_node = current_node.get()
            self._done = False
            if self._parent_node is not None:
                with _pending_lock:
                    _pending.setdefault(self._parent_node, weakref.WeakSet()).add(self)
        except Exception:
            self._done = True
            _swallow(handle, "entity")

    def set(
        self,
        *,
        type: str | None = None,
        internal_id: str | int | None = None,
        action: EntityAction | str | None = None,
        reason: str | None = None,
        external_id: str | int | None = None,
    ) -> None:
        """Fill in what is known later (the id assigned on create, the action taken)."""
        if type is not None:
            self._type = type
        if internal_id is not None:
            self._internal_id = internal_id
        if action is not None:
            self._action = action
        if reason is not None:
            self._reason = reason
        if external_id is not None:
            self._external_id = external_id

    def fail(self, reason: str, *, cause: FailureCause | str = FailureCause.ERROR) -> None:
        """Mark this entity failed without raising: action `fail`, the reason and the cause
        (e.g. `ent.fail("missing email", cause="shape_mismatch")`); counted as failed."""
        self._action = EntityAction.FAIL
        self._reason = reason
        self._cause = cause

    def skip(self, reason: str) -> None:
        """Mark this entity skipped with a reason; counted as skipped."""
        self._action = EntityAction.SKIP
        self._reason = reason
        self._cause = None

    def _start(self) -> None:
        handle = self._handle
        assert handle is not None
        attrs: dict[str, Any] = {ROLE: Role.ENTITY.value}
        parent = self._parent_node
        if parent is not None and parent.step_name is not None:
            attrs[STEP_NAME] = parent.step_name
        self._span = handle.tracer.start_span(
            SPAN_ENTITY,
            context=self._parent_ctx,
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            start_time=self._start_ns,
        )
        self._node = Node(self._span, Role.ENTITY, self._parent_node)

    def __enter__(self) -> entity:
        if self._done or self._handle is None:
            return self
        try:
            if self._parent_node is not None:
                with _pending_lock:
                    pending = _pending.get(self._parent_node)
                    if pending is not None:
                        pending.discard(self)
            self._start()
            self._tokens = (
                otel_context.attach(trace.set_span_in_context(self._span)),
                current_node.set(self._node),
            )
        except Exception:
            _swallow(self._handle, "entity enter")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and self._node is not None:
                # Whatever action was preset, an escaping exception means the record failed.
                self._action = EntityAction.FAIL
                self._reason = f"{type(exc).__name__}: {exc}"
                self._cause = record_failure(self._handle, self._node, self._span, exc)
            self._end()
        except Exception:
            _swallow(self._handle, "entity exit")
        finally:
            tokens, self._tokens = self._tokens, None
            if tokens is not None:
                try:
                    current_node.reset(tokens[1])
                except Exception:
                    current_node.set(self._parent_node)
                try:
                    otel_context.detach(tokens[0])
                except Exception:
                    _swallow(self._handle, "detach")

    def _finish_plain(self) -> None:
        """Emit a never-entered entity: started at creation, ended now."""
        if self._done:
            return
        try:
            self._start()
            self._end()
        except Exception:
            self._done = True
            _swallow(self._handle, "entity finish")

    def _end(self) -> None:
        if self._done:
            return
        self._done = True
        handle = self._handle
        span = self._span
        attrs: dict[str, Any] = {}
        if self._external_id is not None:
            attrs[ENTITY_EXTERNAL_ID] = _clean(handle, self._external_id)
        if self._type is not None:
            attrs[ENTITY_TYPE] = _clean(handle, self._type)
        if self._internal_id is not None:
            attrs[ENTITY_INTERNAL_ID] = _clean(handle, self._internal_id)
        action: EntityAction | None = None
        if self._action is not None:
            try:
                action = EntityAction(self._action)
            except ValueError:
                attrs[ENTITY_ACTION] = _clean(handle, self._action)
        if action is not None:
            attrs[ENTITY_ACTION] = action.value
        if self._reason is not None:
            reason = str(self._reason)
            attrs[ENTITY_REASON] = handle.redactor.text(reason)[:4096] if handle is not None else reason
        if self._user is not None:
            attrs[ENDUSER_ID] = _clean(handle, self._user)
        cause = _cause_value(self._cause) if action is EntityAction.FAIL else None
        if cause is not None:
            attrs[FAILURE_CAUSE] = cause
        span.set_attributes(attrs)
        parent = self._parent_node
        if parent is not None and cause is not None:
            parent.note_cause(cause)
        if parent is not None:
            parent.add(Counter.FETCHED)
            if action is not None:
                parent.add(ACTION_COUNTER[action])
            if action is EntityAction.FAIL:
                parent.add_error()
        if self._node is not None:
            self._node.write_totals()
        if action is EntityAction.FAIL and span.is_recording():
            span.set_status(Status(StatusCode.ERROR, attrs.get(ENTITY_REASON, "entity failed")))
        span.end()

    def __del__(self) -> None:
        try:
            if not self._done:
                self._finish_plain()
        except Exception:
            pass


# ---------------------------------------------------------------------- helpers
VIEWER_RUN_PATH = "/runs/{run_id}"  # a run's page under the viewer's root


def _cause_value(cause: FailureCause | str | None) -> str | None:
    if cause is None:
        return None
    try:
        return FailureCause(cause).value
    except ValueError:
        return FailureCause.ERROR.value


def schedule_text(schedule: str | timedelta | float | None) -> str | None:
    """`connector.run.schedule`: cron text as given, an interval as `every <n>s`."""
    if schedule is None:
        return None
    if isinstance(schedule, timedelta):
        schedule = schedule.total_seconds()
    if isinstance(schedule, int | float):
        return schedule_every(schedule)
    return str(schedule)


def _add_counts(node: Node | None, counts: dict[str, int], handle: Handle | None) -> None:
    if node is None:
        return
    for name, n in counts.items():
        try:
            node.add(Counter(name), int(n))
        except Exception:
            _swallow(handle, f"count {name!r}")


def count(**counts: int) -> None:
    """Add to the counters of the innermost run/step/page, e.g. `cl.count(skipped=3)`."""
    _add_counts(nearest_aggregating(current_node.get()), counts, active_handle())


def current_span() -> Span:
    """The innermost connlog span (or the current OpenTelemetry span outside connlog scopes)."""
    node = current_node.get()
    return node.span if node is not None else trace.get_current_span()


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """Carry the caller's connlog context into another thread.

    `executor.submit(cl.wrap(work), item)`: the call runs in a copy of the context that
    was current when `wrap` was called, so its HTTP calls and entities nest under the
    caller's page and count into it. (Threads do not inherit context variables; asyncio
    tasks do, so `asyncio.create_task` / `gather` need nothing.)
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return wrapper
