"""Map failures to a `FailureCause` an operator can act on.

A dashboard that says "error" tells nobody what to do; "auth" means rotate the
credential, "rate_limited" means slow down, "shape_mismatch" means the API changed.
The mapping is deliberately small and total: anything unknown is `error`.

Connectors mostly call APIs through vendor client libraries (stripe, notion-client,
slack_sdk...), which raise their own exception types. So the cause of an exception that
escapes a scope is read from the *evidence*, most specific first (docs/semconv.md,
"Failures and faults"):

1. the exception's own HTTP status: any library's `status_code`, `http_status`,
   `status` or `code` attribute, or the same on its `response`, when it is an int in
   100-599 (`evidence_of`);
2. the last failed HTTP call recorded inside the scope, when no later call succeeded
   (the caller passes it from `counters.Node.last_outcome`);
3. the exception type, looking through `__cause__` / `__context__` so a vendor's
   wrapper around a `requests.Timeout` is still a timeout (`cause_for_exception`).

HTTP libraries are looked up in `sys.modules` rather than imported: a library the
connector never imported cannot have raised.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

from connlog.instrumentation.semconv import FailureCause

# Exceptions that mean "the data did not have the shape we expected". They only count as
# shape_mismatch when raised after a successful response inside a page or entity (see
# `model`); elsewhere a KeyError is just a bug.
SHAPE_EXCEPTIONS: tuple[type[BaseException], ...] = (ValueError, KeyError, IndexError, TypeError)

# Attributes under which HTTP client libraries expose the status of a failed call, on the
# exception itself or on its `response`: httpx/requests (`response.status_code`), stripe
# (`http_status`), notion-client / aiohttp (`status`), slack_sdk (`response.status_code`).
STATUS_ATTRIBUTES: tuple[str, ...] = ("status_code", "http_status", "status", "code")

# (module, class name) of timeout and connection-failure exceptions per library.
_TIMEOUT_TYPES: tuple[tuple[str, str], ...] = (
    ("httpx", "TimeoutException"),
    ("requests.exceptions", "Timeout"),
    ("urllib3.exceptions", "TimeoutError"),
    ("aiohttp", "ServerTimeoutError"),
    ("aiohttp", "ConnectionTimeoutError"),
)
_NETWORK_TYPES: tuple[tuple[str, str], ...] = (
    ("httpx", "NetworkError"),
    ("httpx", "ProtocolError"),
    ("httpx", "ProxyError"),
    ("httpx", "UnsupportedProtocol"),
    ("requests.exceptions", "ConnectionError"),
    ("urllib3.exceptions", "NewConnectionError"),
    ("urllib3.exceptions", "ProtocolError"),
    ("urllib3.exceptions", "ProxyError"),
    ("aiohttp", "ClientConnectionError"),
)
# Refused / unreachable: urllib3's NewConnectionError subclasses its ConnectTimeoutError for
# backwards compatibility, so it is tested before the timeouts.
_REFUSED_TYPES: tuple[tuple[str, str], ...] = (("urllib3.exceptions", "NewConnectionError"),)
_CHAIN_DEPTH = 6


def cause_for_status(status_code: int) -> FailureCause | None:
    """The cause of an HTTP status, or None for a success (< 400)."""
    if status_code < 400:
        return None
    if status_code in (401, 403):
        return FailureCause.AUTH
    if status_code == 404:
        return FailureCause.NOT_FOUND
    if status_code == 429:
        return FailureCause.RATE_LIMITED
    if status_code >= 500:
        return FailureCause.SERVER_ERROR
    return FailureCause.CLIENT_ERROR


def _http_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def _status_on(obj: object) -> int | None:
    for name in STATUS_ATTRIBUTES:
        try:
            status = _http_status(getattr(obj, name, None))
        except Exception:  # noqa: BLE001 - a property of a foreign object may raise anything
            status = None
        if status is not None:
            return status
    return None


def _url_on(obj: object) -> str | None:
    """The URL of the call an exception or response object describes, if it says."""
    for path in (("request", "url"), ("response", "url"), ("request_info", "url"), ("url",)):
        value: Any = obj
        try:
            for name in path:
                value = getattr(value, name, None)
                if value is None:
                    break
        except Exception:  # noqa: BLE001 - httpx raises RuntimeError for an unset request
            value = None
        if value is not None and not isinstance(value, bytes | int):
            text = str(value)
            if "://" in text:
                return text
    return None


def evidence_of(exc: BaseException) -> tuple[int | None, str | None]:
    """(HTTP status, raw URL) the exception itself carries, from any client library."""
    status = _status_on(exc)
    response = getattr(exc, "response", None)
    if status is None and response is not None:
        status = _status_on(response)
    return status, _url_on(exc)


def _types(spec: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module_name, name in spec:
        module = sys.modules.get(module_name)
        cls = getattr(module, name, None) if module is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < _CHAIN_DEPTH and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic is optional; match by name rather than import it on the hot path.
    cls = type(exc)
    return cls.__name__ == "ValidationError" and cls.__module__.startswith("pydantic")


def type_cause(exc: BaseException) -> FailureCause | None:
    """The cause the exception's type (or a type in its chain) names, or None."""
    refused = _types(_REFUSED_TYPES)
    timeouts = (*_types(_TIMEOUT_TYPES), TimeoutError, asyncio.TimeoutError, socket.timeout)
    network = (*_types(_NETWORK_TYPES), ConnectionError)
    for item in _chain(exc):
        reason = getattr(item, "reason", None)
        if isinstance(item, refused) or (isinstance(reason, BaseException) and isinstance(reason, refused)):
            return FailureCause.NETWORK
        if isinstance(item, timeouts):
            return FailureCause.TIMEOUT
        if isinstance(item, network):
            # urllib3 wraps a read timeout of a retried call in MaxRetryError.reason
            if isinstance(reason, BaseException) and isinstance(reason, timeouts):
                return FailureCause.TIMEOUT
            return FailureCause.NETWORK
        if isinstance(reason, BaseException) and reason is not item:
            if isinstance(reason, timeouts):
                return FailureCause.TIMEOUT
            if isinstance(reason, network):
                return FailureCause.NETWORK
    return None


def cause_for_exception(exc: BaseException, *, after_success: bool = False) -> FailureCause:
    """The cause of an exception from its own evidence and type (rules 1 and 3).

    `after_success` says the exception escaped a page or entity that had already received
    a successful HTTP response, which turns parsing errors into `shape_mismatch`.
    """
    status, _url = evidence_of(exc)
    if status is not None:
        by_status = cause_for_status(status)
        if by_status is not None:
            return by_status
    by_type = type_cause(exc)
    if by_type is not None:
        return by_type
    if isinstance(exc, json.JSONDecodeError) or _is_validation_error(exc):
        return FailureCause.SHAPE_MISMATCH
    if after_success and isinstance(exc, SHAPE_EXCEPTIONS):
        return FailureCause.SHAPE_MISMATCH
    return FailureCause.ERROR
