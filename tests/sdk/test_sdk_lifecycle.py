"""Shutting the SDK down gives the process back as it was; the next init() patches again."""

from __future__ import annotations

import logging
import sys

import httpx
import urllib3.connectionpool

import connlog as cl


def test_shutdown_restores_libraries_streams_and_logging_and_init_repatches() -> None:
    originals = (
        httpx.HTTPTransport.handle_request,
        urllib3.connectionpool.HTTPConnectionPool._make_request,
        sys.stdout,
        list(logging.getLogger().handlers),
    )
    handle = cl.init(connector="lifecycle", endpoint="http://127.0.0.1:9", capture_stdio=True)
    assert httpx.HTTPTransport.handle_request is not originals[0]
    assert sys.stdout is not originals[2]
    handle.shutdown()
    assert httpx.HTTPTransport.handle_request is originals[0]
    assert urllib3.connectionpool.HTTPConnectionPool._make_request is originals[1]
    assert sys.stdout is originals[2]
    assert logging.getLogger().handlers == originals[3]
    again = cl.init(connector="lifecycle", endpoint="http://127.0.0.1:9")
    try:
        assert httpx.HTTPTransport.handle_request is not originals[0]
    finally:
        again.shutdown()
    assert httpx.HTTPTransport.handle_request is originals[0]
