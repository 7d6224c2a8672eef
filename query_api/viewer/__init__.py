"""The browser viewer: server-rendered pages at the root of the query API's address.

It calls the same query functions as the JSON routes under `/api/v1`; it never has SQL of its own.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the viewer's pages and static files on `app` (the query API)."""
