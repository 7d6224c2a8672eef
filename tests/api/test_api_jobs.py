"""`GET /api/v1/jobs` (issue 12.9): a job's ticks, each with the runs it started, and the ticks
an `every <n>s` schedule expected that did not fire.

Jobs are made with `datagen.job_runs` at known tick times and sent through the real
collector; what each tick must show is known by construction:

- hubspot `every-15min` (every 900s): ticks T0..T7, T3 never fired, T5 failed, T6 ran twice
  (a retry of the same recorded tick);
- hubspot `cron-job` ("*/5 * * * *", no tick recorded): ran at T0, T0+5 and T0+10 min, then
  stopped: the cron's later due times are missed;
- hubspot `drifting` (every 60s, no tick recorded): each run 65 s after the one before;
  the schedule drifts but nothing is missed;
- chargebee `stopped` (every 600s, tenant globex): ran twice before the range and never again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connlog import datagen
from connlog.collector.config import Settings
from connlog.query_api.app import create_app
from connlog.query_api.timeutil import NS, iso, now_ns
from tests.api_env import ADMIN, SCOPED, _auth, bearer
from tests.collector_env import fresh_database, store

MIN = 60 * NS
STEP = 15 * MIN


@dataclass
class JobsEnv:
    client: TestClient
    t: list[int]  # T0..T9 of the 15-minute job
    ds: datagen.Dataset


@pytest.fixture(scope="module")
def jobs_env(base_settings: Settings) -> Iterator[JobsEnv]:
    base = (now_ns() - 4 * 3600 * NS) // STEP * STEP
    t = [base + k * STEP for k in range(10)]
    ds = datagen.job_runs([t[k] for k in range(8) if k != 3], job_id="every-15min", failed=frozenset({4}))
    datagen.job_runs([t[6]], job_id="every-15min", delay_ns=MIN, seed=9, ds=ds)  # T6 retried
    datagen.job_runs(
        [t[0] + k * 5 * MIN for k in range(3)], job_id="cron-job", schedule="*/5 * * * *",
        record_tick=False, seed=10, ds=ds,
    )  # fmt: skip
    datagen.job_runs(
        [t[1] + k * 65 * NS for k in range(6)], job_id="drifting", schedule="every 60s",
        record_tick=False, seed=11, ds=ds,
    )  # fmt: skip
    datagen.job_runs(
        [t[0] - 20 * MIN, t[0] - 10 * MIN], connector="chargebee", tenant="globex", job_id="stopped",
        schedule="every 600s", seed=12, ds=ds,
    )  # fmt: skip
    with fresh_database(base_settings, "jobs") as (settings, _):
        store(settings, ds)
        with TestClient(create_app(settings, auth=_auth()), raise_server_exceptions=False) as tc:
            yield JobsEnv(tc, t, ds)


def _jobs(env: JobsEnv, key: str = ADMIN, **params: Any) -> dict[str, dict[str, Any]]:
    params.setdefault("from", iso(env.t[0] - MIN))
    resp = env.client.get("/api/v1/jobs", params=params, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return {j["job_id"]: j for j in resp.json()}


def _run_ids(env: JobsEnv, job_id: str) -> list[str]:
    return [r.run_id for r in env.ds.runs if r.job_id == job_id]


def test_interval_job_shows_each_tick_with_its_runs_and_the_missed_one(jobs_env: JobsEnv) -> None:
    env, t = jobs_env, jobs_env.t
    job = _jobs(env, to=iso(t[7] + 20 * MIN))["every-15min"]
    assert (job["connector"], job["tenant"], job["schedule"]) == ("hubspot", "acme", "every 900s")
    assert (job["interval_s"], job["tolerance_s"]) == (900, 450)
    ticks = job["ticks"]
    assert [tk["expected_at_ns"] for tk in ticks] == t[:8]  # oldest first, T3 included
    assert [tk["missed"] for tk in ticks] == [k == 3 for k in range(8)]
    assert job["missed_count"] == 1
    missed = ticks[3]
    assert [missed[k] for k in ("run_id", "run_ids", "started_at", "status")] == [None, [], None, None]
    runs = _run_ids(env, "every-15min")  # in sending order: T0, T1, T2, T4, T5, T6, T7, then T6's retry
    fired = [tk for tk in ticks if not tk["missed"]]
    assert [tk["run_ids"] for tk in fired] == [[r] for r in runs[:5]] + [[runs[5], runs[7]], [runs[6]]]
    assert [tk["status"] for tk in fired] == ["ok", "ok", "ok", "ok", "error", "ok", "ok"]  # T5 failed
    assert fired[5]["run_id"] == runs[7]  # the retry is the tick's outcome
    assert fired[0]["started_at_ns"] == t[0] + 2 * NS
    assert job["run_count"] == 8
    assert job["next_expected_at_ns"] == t[8]  # due, but still within its tolerance at the range end
    assert job["last_run_at_ns"] == t[7] + 2 * NS and job["last_status"] == "ok"


def test_ticks_due_after_the_last_run_are_missed_once_past_the_tolerance(jobs_env: JobsEnv) -> None:
    env, t = jobs_env, jobs_env.t
    job = _jobs(env, to=iso(t[9] + 8 * MIN))["every-15min"]
    assert [tk["expected_at_ns"] for tk in job["ticks"] if tk["missed"]] == [t[3], t[8], t[9]]
    assert job["missed_count"] == 3
    assert job["next_expected_at_ns"] == t[9] + STEP
    # The range start cuts the older ticks; missed ones in the range are still counted.
    later = _jobs(env, **{"from": iso(t[5] - MIN), "to": iso(t[9] + 8 * MIN)})["every-15min"]
    assert [tk["expected_at_ns"] for tk in later["ticks"]] == [t[5], t[6], t[7], t[8], t[9]]
    assert later["missed_count"] == 2


def test_a_job_that_stopped_firing_is_listed_with_its_missed_ticks(jobs_env: JobsEnv) -> None:
    env, t = jobs_env, jobs_env.t
    job = _jobs(env, to=iso(t[1]))["stopped"]
    assert (job["connector"], job["tenant"], job["run_count"]) == ("chargebee", "globex", 0)
    last_tick = t[0] - 10 * MIN
    assert [tk["expected_at_ns"] for tk in job["ticks"]] == [last_tick + k * 10 * MIN for k in (1, 2)]
    assert all(tk["missed"] for tk in job["ticks"]) and job["missed_count"] == 2
    assert job["last_run_at_ns"] == last_tick + 2 * NS


def test_cron_schedule_is_evaluated_and_drifting_interval_misses_nothing(jobs_env: JobsEnv) -> None:
    env, t = jobs_env, jobs_env.t
    jobs = _jobs(env, to=iso(t[2]))  # T0 + 30 min
    cron = jobs["cron-job"]
    assert (cron["schedule"], cron["interval_s"], cron["tolerance_s"]) == ("*/5 * * * *", None, 150)
    fired = [tk for tk in cron["ticks"] if not tk["missed"]]
    assert [tk["run_id"] for tk in fired] == _run_ids(env, "cron-job")
    assert [tk["expected_at_ns"] for tk in fired] == [t[0] + k * 5 * MIN for k in range(3)]
    # due at +15, +20, +25 (each past its 150 s tolerance by +30): missed; +30 is the next one
    assert [tk["expected_at_ns"] for tk in cron["ticks"] if tk["missed"]] == [
        t[0] + k * 5 * MIN for k in (3, 4, 5)
    ]
    assert cron["missed_count"] == 3 and cron["next_expected_at_ns"] == t[0] + 30 * MIN
    drifting = _jobs(env, to=iso(t[1] + 6 * 65 * NS + 10 * NS))["drifting"]
    assert [tk["run_id"] for tk in drifting["ticks"]] == _run_ids(env, "drifting")
    assert drifting["missed_count"] == 0


def test_text_that_is_no_schedule_is_shown_not_evaluated() -> None:
    from connlog.query_api.queries.jobs import _cron

    assert _cron("*/5 * * * *") == "*/5 * * * *" and _cron(" 0 9 * * 1-5 ") == "0 9 * * 1-5"
    assert _cron("nightly") is None and _cron("61 * * * *") is None and _cron("* * * *") is None


def test_filters_and_scopes(jobs_env: JobsEnv) -> None:
    env, t = jobs_env, jobs_env.t
    to = iso(t[7] + 20 * MIN)
    assert set(_jobs(env, to=to)) == {"every-15min", "cron-job", "drifting", "stopped"}
    assert set(_jobs(env, to=to, connector="chargebee")) == {"stopped"}
    assert set(_jobs(env, to=to, tenant="acme")) == {"every-15min", "cron-job", "drifting"}
    assert set(_jobs(env, to=to, job_id="drifting")) == {"drifting"}
    assert set(_jobs(env, to=to, job_id="' OR 1=1 --")) == set()
    assert set(_jobs(env, SCOPED, to=to)) == {"every-15min", "cron-job", "drifting"}  # hubspot only
    # Before any run of any job, nothing to show.
    assert _jobs(env, **{"from": iso(t[0] - 5 * 3600 * NS), "to": iso(t[0] - 4 * 3600 * NS)}) == {}
    assert env.client.get("/api/v1/jobs").status_code == 401  # a key is needed, as on every route
    for params in ({"job_id": "x" * 501}, {"limit": "5"}, {"from": "yesterday-ish"}):
        resp = env.client.get("/api/v1/jobs", params=params, headers=bearer(ADMIN))
        assert resp.status_code == 422, resp.text
        assert next(iter(params)) in resp.text
