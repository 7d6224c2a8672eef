"""A setting the server cannot use stops it with its message (exit 2), not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connlog.cli import app


@pytest.mark.parametrize(
    ("command", "env", "said"),
    [
        (
            ["collector"],
            {"CONNLOG_INGEST_KEYS": '[{"key": "short", "connectors": ["a"]}]'},
            "CONNLOG_INGEST_KEYS",
        ),
        (["api"], {"CONNLOG_API_KEYS": '[{"key": "k" , "role": "admin", "connectors": []}]'}, "entry 0"),
        (["serve"], {"CONNLOG_EXPORT_MAX_ROWS": "lots"}, "CONNLOG_EXPORT_MAX_ROWS"),
    ],
)
def test_bad_configuration_is_a_clear_exit_2(
    command: list[str], env: dict[str, str], said: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, [*command, "--data-dir", str(tmp_path)], env={"COLUMNS": "200", **env})
    assert result.exit_code == 2, result.output
    assert "configuration error:" in result.output and said in result.output
    assert "Traceback" not in result.output
