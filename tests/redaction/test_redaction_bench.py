"""`python -m bench.redaction --smoke` runs and compares the old and the new redactor.

Only that it runs and what it reports are checked: timings on a shared machine are noise
(the figures are in docs/reliability.md and bench/results/redaction.json).
"""

from __future__ import annotations

from bench import redaction
from connlog.instrumentation.redaction import Redactor


def test_bench_compares_old_and_new_on_the_same_inputs() -> None:
    res = redaction.bench(smoke=True)
    assert set(res["inputs"]) == set(redaction.cases(Redactor()))
    for row in res["inputs"].values():
        assert row["old_us"] > 0 and row["new_us"] > 0 and row["new_over_old"] is not None
    assert res["one_http_call"]["new_over_old"] is not None
    server = res["server"]
    assert server["n_spans"] > 0 and server["n_logs"] > 0
    for signal in ("spans", "logs"):
        assert server[signal]["old_us_per_item"]["p50"] > 0 and server[signal]["new_us_per_item"]["p50"] > 0


def test_old_redactor_is_loaded_from_git_not_from_the_tree() -> None:
    old = redaction.load_old(redaction.OLD_REV)
    # the old redactor is the one issue 10 describes: `prefix: key=value` passes unchanged
    assert old.Redactor().text("Error: password=hunter2hunter") == "Error: password=hunter2hunter"
    assert "hunter2hunter" not in Redactor().text("Error: password=hunter2hunter")
