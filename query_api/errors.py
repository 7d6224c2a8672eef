"""One error shape for every failure: `{"error": {"code", "message", "field"}}`.

Clients (the UI, scripts, the CLI) branch on `code` and show `message`; `field` names the
query parameter at fault so a form can highlight it. Internal errors never carry a stack
trace or SQL text to the client: they are logged server-side with an id the client gets.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status, a stable machine code and a human message."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.reason = reason if reason is not None else message  # the message without the field name

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def field_message(field: str | None, reason: str) -> str:
    """`field: reason`, naming the field once even when `reason` already starts with it."""
    if not field or reason.startswith(f"{field}: "):
        return reason
    return f"{field}: {reason}"


def invalid(field: str, message: str) -> ApiError:
    """A bad query parameter value (422); the message names the parameter once."""
    return ApiError(422, "invalid_parameter", field_message(field, message), field, reason=message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bad_request(code: str, message: str, field: str | None = None) -> ApiError:
    return ApiError(400, code, message, field)
