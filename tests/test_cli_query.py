"""`connlog runs | run | calls | search | sql` against a running API, with keys, as a user types them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_api_support import ADMIN, SCOPED, SCOPED_CONNECTOR, VIEWER, ApiEnv, _auth, api  # noqa: F401 - session fixture
from typer.testing import CliRunner

from collector.http_thread import ThreadedServer
from connlog.cli import app
from connlog.cli_query import since_epoch
from query_api.app import create_app

ENV = {"COLUMNS": "250"}


@pytest.fixture(scope="module")
def api_url(api: ApiEnv) -> Iterator[str]:  # noqa: F811
    server = ThreadedServer(create_app(api.settings, auth=_auth()), name="api-under-test")
    server.start()
    yield server.url
    server.stop()


def _cli(api_url: str, key: str | None, *args: str) -> tuple[int, str]:
    base = ["--api-url", api_url] + (["--token", key] if key else [])
    result = CliRunner().invoke(app, [*args, *base], env=ENV)
    return result.exit_code, result.output


def test_runs_lists_what_was_sent(api: ApiEnv, api_url: str) -> None:  # noqa: F811
    code, out = _cli(api_url, VIEWER, "runs", "--since", "3d", "--limit", "500")
    assert code == 0, out
    for truth in api.truth:
        assert truth.run_id in out
    code, out = _cli(api_url, VIEWER, "runs", "--since", "3d", "--status", "running", "--limit", "500")
    running = [t.run_id for t in api.truth if t.status == "running"]
    assert running and all(r in out for r in running)
    assert not [t.run_id for t in api.truth if t.status != "running" and t.run_id in out]


def test_run_tree_shows_steps_and_faults(api: ApiEnv, api_url: str) -> None:  # noqa: F811
    failed = next(t for t in api.truth if t.status == "error")
    code, out = _cli(api_url, ADMIN, "run", failed.run_id)
    assert code == 0, out
    for step in failed.steps:
        assert f"step {step}" in out
    assert f"fault [{failed.failure_cause}]" in out


def test_scoped_key_sees_only_its_connector(api: ApiEnv, api_url: str) -> None:  # noqa: F811
    code, out = _cli(api_url, SCOPED, "runs", "--since", "3d", "--limit", "500")
    assert code == 0, out
    for truth in api.truth:
        assert (truth.run_id in out) == (truth.connector == SCOPED_CONNECTOR)
    other = next(t for t in api.truth if t.connector != SCOPED_CONNECTOR)
    code, out = _cli(api_url, SCOPED, "run", other.run_id)
    assert code == 1 and "404" in out


def test_search_finds_the_run_of_a_record(api: ApiEnv, api_url: str) -> None:  # noqa: F811
    truth = next(t for t in api.truth if t.external_ids)
    code, out = _cli(api_url, VIEWER, "search", truth.external_ids[0])
    assert code == 0, out
    assert truth.run_id in out


def test_sql_needs_admin_and_refuses_writes(api_url: str) -> None:
    code, out = _cli(api_url, ADMIN, "sql", "SELECT count() AS spans FROM otel_traces")
    assert code == 0 and "spans" in out, out
    code, out = _cli(api_url, VIEWER, "sql", "SELECT 1")
    assert code == 1 and "403" in out
    code, out = _cli(api_url, ADMIN, "sql", "DROP TABLE otel_traces")
    assert code == 1 and "400" in out
    code, out = _cli(api_url, None, "runs")
    assert code == 1 and "401" in out


def test_bad_since_is_a_usage_error() -> None:
    assert since_epoch("2h", now=10_000) == 10_000 - 7200
    result = CliRunner().invoke(app, ["runs", "--since", "yesterday"], env=ENV)
    assert result.exit_code == 2
    assert "--since" in result.output
