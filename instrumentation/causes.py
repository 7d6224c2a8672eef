"""Map failures to a `FailureCause` an operator can act on.

A dashboard that says "error" tells nobody what to do; "auth" means rotate the
credential, "rate_limited" means slow down, "shape_mismatch" means the API changed.
The mapping is deliberately small and total: anything unknown is `error`.
"""

from __future__ import annotations

import json

import httpx

from instrumentation.semconv import FailureCause

# Exceptions that mean "the data did not have the shape we expected". They only count as
# shape_mismatch when raised after a successful response inside a page or entity (see
# `model`); elsewhere a KeyError is just a bug.
SHAPE_EXCEPTIONS: tuple[type[BaseException], ...] = (ValueError, KeyError, IndexError, TypeError)


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


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic is optional; match by name rather than import it on the hot path.
    cls = type(exc)
    return cls.__name__ == "ValidationError" and cls.__module__.startswith("pydantic")


def cause_for_exception(exc: BaseException, *, after_success: bool = False) -> FailureCause:
    """The cause of an exception.

    `after_success` says the exception escaped a page or entity that had already received
    a successful HTTP response, which turns parsing errors into `shape_mismatch`.
    """
    if isinstance(exc, httpx.HTTPStatusError):
        return cause_for_status(exc.response.status_code) or FailureCause.ERROR
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return FailureCause.TIMEOUT
    if isinstance(
        exc, httpx.NetworkError | httpx.ProtocolError | httpx.ProxyError | httpx.UnsupportedProtocol
    ):
        return FailureCause.NETWORK
    if isinstance(exc, ConnectionError):
        return FailureCause.NETWORK
    if isinstance(exc, json.JSONDecodeError) or _is_validation_error(exc):
        return FailureCause.SHAPE_MISMATCH
    if after_success and isinstance(exc, SHAPE_EXCEPTIONS):
        return FailureCause.SHAPE_MISMATCH
    return FailureCause.ERROR


def fault_of(exc: BaseException) -> tuple[str | None, int | None]:
    """The (raw) URL and status code of the HTTP call an exception carries, if any."""
    url: str | None = None
    status: int | None = None
    if isinstance(exc, httpx.HTTPStatusError):
        return str(exc.request.url), exc.response.status_code
    if isinstance(exc, httpx.RequestError):
        try:
            url = str(exc.request.url)
        except RuntimeError:  # request not attached
            url = None
    return url, status
