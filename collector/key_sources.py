"""API key lists as operators give them: JSON inline in one variable, or in a file named by another.

Both key stores read their keys this way (the collector's ingest keys,
`CONNLOG_INGEST_KEYS[_FILE]`, and the query API's keys, `CONNLOG_API_KEYS[_FILE]`); both
variables may be set and both lists count. What each entry must hold is the store's own
business; reading and parsing, with an error that names the variable or file at fault, is
written once here. The caller passes its own configuration error type, so a bad key list
stops startup with that store's message and nothing is half-loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def json_sources(
    env: Mapping[str, str], inline_var: str, file_var: str, error: type[Exception]
) -> list[tuple[str, Any]]:
    """(source, parsed JSON) for the inline variable, then the file, skipping the empty ones.

    `source` is the variable's name or the file's path, for messages. An unreadable file or
    text that is not JSON raises `error` naming it.
    """
    sources = [(inline_var, env.get(inline_var, ""))]
    path = env.get(file_var, "").strip()
    if path:
        try:
            sources.append((path, Path(path).read_text()))
        except OSError as exc:
            raise error(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
    parsed: list[tuple[str, Any]] = []
    for source, text in sources:
        if not text.strip():
            continue
        try:
            parsed.append((source, json.loads(text)))
        except json.JSONDecodeError as exc:
            raise error(f"{source} is not valid JSON: {exc.msg}") from exc
    return parsed
