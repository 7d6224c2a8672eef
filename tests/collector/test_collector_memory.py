"""Memory: the embedded engine's caps take effect, and the breakdown `/stats` reports is true.

The caps are server-level settings fixed by the connection that starts chDB's engine, and
this pytest process already runs one engine; so the cap tests start fresh interpreters
(`engines`, two at once) that open their own directories through `collector.store.connect`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Final

import pytest
from clickhouse_connect.driver.client import Client

from connlog.collector.config import ENV_ENGINE_MEMORY, ConfigError, EngineMemory, Settings
from connlog.collector.stats import ENGINE_MEMORY_METRICS, MemoryProbe, malloc_memory, process_memory

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024

_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from clickhouse_connect.driver.exceptions import DatabaseError
    from connlog.collector.config import Settings
    from connlog.collector.store import connect

    client = connect(Settings.from_env().with_overrides(data_dir=Path(sys.argv[1])))
    names = json.loads(sys.argv[2])
    rows = client.query(
        "SELECT name, value FROM system.server_settings WHERE name IN {n:Array(String)}",
        parameters={"n": names},
    ).result_rows
    try:  # ~330 MiB of aggregation state
        client.query("SELECT length(groupArray(repeat('x', 1000))) FROM numbers(1000000)")
        refused = None
    except DatabaseError as exc:
        refused = str(exc)
    print(json.dumps({"settings": {n: int(v) for n, v in rows}, "refused": refused}))
    """
)


def _start(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PROBE, str(data_dir), json.dumps(list(ENV_ENGINE_MEMORY))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in ENV_ENGINE_MEMORY.values()}, **env},
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


# Set: the total cap (256 MiB) and the mark cache; the other caps keep connlog's defaults.
SET_ENV: Final = {
    ENV_ENGINE_MEMORY["max_server_memory_usage"]: str(256 * MIB),
    ENV_ENGINE_MEMORY["mark_cache_size"]: str(96 * MIB),
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Two fresh interpreters started together (start-up dominates): some caps set, all 0."""
    procs = {
        "set": _start(tmp_path_factory.mktemp("caps-set"), SET_ENV),
        "zero": _start(tmp_path_factory.mktemp("caps-zero"), dict.fromkeys(ENV_ENGINE_MEMORY.values(), "0")),
    }
    return {name: _result(proc) for name, proc in procs.items()}


def test_caps_from_the_environment_and_defaults_are_the_engines_settings(
    engines: dict[str, dict[str, Any]],
) -> None:
    """A variable reaches chDB as the server setting of the same name; one not set gets
    connlog's default (not chDB's 5 GiB)."""
    expected = dict(EngineMemory().server_settings())
    expected.update({name: int(SET_ENV[var]) for name, var in ENV_ENGINE_MEMORY.items() if var in SET_ENV})
    assert engines["set"]["settings"] == expected


def test_total_cap_refuses_instead_of_growing(engines: dict[str, dict[str, Any]]) -> None:
    """~330 MiB of aggregation state: MEMORY_LIMIT_EXCEEDED under a 256 MiB cap; chDB's own
    default (90 % of RAM) lets the same query through."""
    assert "MEMORY_LIMIT_EXCEEDED" in str(engines["set"]["refused"])
    assert engines["zero"]["refused"] is None


def test_zero_leaves_the_engine_default(engines: dict[str, dict[str, Any]]) -> None:
    """0 passes nothing: chDB keeps its own default (5 GiB mark cache, not 0 = no cache)."""
    settings = engines["zero"]["settings"]
    assert settings["mark_cache_size"] == 5 * 1024 * MIB
    assert settings["max_server_memory_usage"] > EngineMemory().max_server_memory_usage


@pytest.mark.parametrize("raw", ["1.5G", "lots", "-1"])
def test_bad_cap_is_a_config_error_naming_the_variable(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    var = ENV_ENGINE_MEMORY["mark_cache_size"]
    monkeypatch.setenv(var, raw)
    with pytest.raises(ConfigError, match=var):
        Settings.from_env()


def test_process_memory_splits_rss() -> None:
    before = process_memory()
    # VmRSS is the sum of the three (kB rounding aside)
    assert abs(before["rss"] - (before["rss_anon"] + before["rss_file"] + before["rss_shmem"])) <= 16 * 1024
    block = bytearray(64 * MIB)
    block[::4096] = b"x" * (64 * MIB // 4096)  # touch every page: now resident, anonymous
    after = process_memory()
    del block
    assert after["rss_anon"] - before["rss_anon"] >= 60 * MIB
    assert abs(after["rss_file"] - before["rss_file"]) < 16 * MIB


def test_malloc_memory_sees_a_large_allocation() -> None:
    before = malloc_memory()["malloc_in_use"]
    block = bytearray(64 * MIB)
    during = malloc_memory()["malloc_in_use"]
    del block
    assert during - before >= 60 * MIB


def test_probe_reports_engine_backlog_and_wal(ch_client: Client) -> None:
    probe = MemoryProbe(lambda: ch_client)
    out = probe.breakdown({"rows": 3, "bytes": 1234, "batches": 1}, {"bytes": 5678, "segments": 1})
    assert {f"engine.{m}" for m in ENGINE_MEMORY_METRICS} <= out.keys()
    assert out["engine.MemoryTracking"] > 0
    assert out["backlog_bytes"] == 1234 and out["wal_bytes"] == 5678
    assert out["rss"] > out["engine.MarkCacheBytes"]


def test_probe_without_an_engine_still_reports_the_process() -> None:
    """A ClickHouse server (or an engine that fails to answer) leaves the engine keys out;
    the breakdown never fails `/stats`."""

    def broken() -> Client:
        raise ConnectionError("no engine")

    for probe in (MemoryProbe(), MemoryProbe(broken)):
        out = probe.breakdown(None, None)
        assert out["rss"] > 0
        assert not any(k.startswith("engine.") for k in out)
