"""`NeedleScan` (RE2) answers exactly what the `in` loops it replaced answer.

The redactor's gates are `needle in text` checks; `NeedleScan` runs them in one RE2 pass.
These tests pin the equivalence on the texts the redactor sees (the secrets corpus, the
bench bodies, generated texts) and the two Unicode facts the case-insensitive pass relies
on (see `NeedleScan.found_in_lowered`).
"""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import redaction as bench_redaction
from connlog.instrumentation import redaction as rd
from connlog.instrumentation import redaction_scan
from connlog.instrumentation.redaction_scan import RE2_MIN_LENGTH, NeedleScan
from tests.secrets_corpus import ALL_CASES

NEEDLE_SETS = {
    "gate": rd._GATE.needles,
    "keys": rd._KEY_SCAN.needles,
    "tokens": rd._TOKEN_SCAN.needles,
}
PAD = " lorem ipsum dolor sit amet" * 4


@pytest.fixture(scope="module", params=sorted(NEEDLE_SETS))
def scans(request: pytest.FixtureRequest) -> tuple[NeedleScan, NeedleScan]:
    """(RE2, `in` loop) over one of the redactor's needle sets."""
    if redaction_scan.re2 is None:
        pytest.fail("google-re2 is not installed: the RE2 path cannot be checked")
    needles = NEEDLE_SETS[request.param]
    fast, slow = NeedleScan(needles), NeedleScan(needles, use_re2=False)
    assert fast.uses_re2 and not slow.uses_re2
    return fast, slow


def _texts() -> list[str]:
    out = [bench_redaction.BODY_2K, bench_redaction.BODY_SECRET, bench_redaction.INGEST_BODY]
    for case in ALL_CASES:
        out += [case.value, case.value + PAD, PAD + case.value.upper() + PAD]
    return out


def _agree(fast: NeedleScan, slow: NeedleScan, text: str) -> None:
    assert fast.any_in(text) == slow.any_in(text), text
    assert fast.which_in(text) == slow.which_in(text), text
    if all(n == n.lower() for n in fast.needles):
        assert fast.found_in_lowered(text) == frozenset(slow.which_in(text.lower())), text


def test_re2_and_the_in_loop_agree_on_the_corpus(scans: tuple[NeedleScan, NeedleScan]) -> None:
    fast, slow = scans
    for text in _texts():
        _agree(fast, slow, text)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(
            [*rd._GATE.needles, *rd._TOKEN_HINTS, "K", "\u212a", "\u0130", "I", " ", "x", "é", "\ud800"]
        ),
        max_size=60,
    )
)
def test_re2_and_the_in_loop_agree_on_generated_texts(parts: list[str]) -> None:
    text = "".join(parts) + PAD
    for needles in NEEDLE_SETS.values():
        _agree(NeedleScan(needles), NeedleScan(needles, use_re2=False), text)


def test_the_unicode_facts_the_case_insensitive_pass_relies_on() -> None:
    """Only U+0130 and U+212A lower-case to something with ASCII in it; RE2 folds the
    Kelvin sign to `k`; U+0130 gives `i` + U+0307, and no needle ends with `i`."""
    chars = (chr(i) for i in range(128, sys.maxunicode + 1))
    mixed = [c for c in chars if any(ch.isascii() for ch in c.lower())]
    assert mixed == ["\u0130", "\u212a"]
    assert "\u0130".lower() == "i\u0307"
    assert not any(n.endswith("i") for n in rd._GATE.needles)
    gate = NeedleScan(rd._GATE.needles)
    assert "key" in gate.found_in_lowered("\u212aEY=" + PAD)


def test_text_utf8_cannot_encode_falls_back_to_the_in_loop() -> None:
    gate = NeedleScan(rd._GATE.needles)
    text = "\ud800 password=x " + PAD
    assert gate.which_in(text) == NeedleScan(rd._GATE.needles, use_re2=False).which_in(text)
    assert "pass" in gate.found_in_lowered(text)


def test_needles_must_be_ascii_literals() -> None:
    with pytest.raises(ValueError):
        NeedleScan(["clé"])
    with pytest.raises(ValueError):
        NeedleScan([""])


def test_short_texts_skip_re2() -> None:
    """Below `RE2_MIN_LENGTH` the `in` loop is used (cheaper); the answer is the same."""
    gate = NeedleScan(rd._GATE.needles)
    short = "token"[: RE2_MIN_LENGTH - 1]
    assert gate.any_in(short) and gate.which_in(short) == ("token",)
    assert gate.found_in_lowered("TOKEN") == frozenset({"token"})


def test_json_body_without_any_needle_is_returned_unchanged_and_untouched() -> None:
    """The fast path: a long API body with no needle skips every pass (same object back)."""
    body = json.dumps({"id": "con-1", "notes": [PAD] * 20})
    assert rd._GATE.found_in_lowered(body) == frozenset()
    assert rd.Redactor().body(body, "application/json", True) is body
