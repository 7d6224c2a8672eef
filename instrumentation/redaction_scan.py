"""Which of a fixed set of literal needles occur in a text, in one pass when it pays.

Why: the redaction passes are gated on literal hints (a key hint such as `token` or
`pass`, a token-format prefix such as `ghp_`, `://`, `-----BEGIN`). Checked one by one
with `in`, a body costs one C scan per needle: ~45 scans, ~30 ns per byte of body in
all, which made server-side redaction most of the collector's ingest CPU (a Python
regular expression alternation is no faster: it tries the alternatives at every
position). RE2 (`google-re2`, Google's automaton-based engine) runs the whole set as
one DFA over the text at ~2 ns per byte. An `RE2::Set` is used rather than a search: it
reports which needles matched without building a match object (the Python wrapper
converts byte offsets to character offsets for that, several µs per hit).

The answer is exactly the one of `needle in text` for each needle: every needle is an
ASCII literal, and an ASCII byte sequence occurs in the UTF-8 encoding of a text iff it
occurs in the text (UTF-8 never uses ASCII bytes inside a multi-byte character). So a
scanner is a drop-in replacement for the `in` loops it replaces, not a new rule.

RE2 is optional (for the collector's `server` extra; a connector's SDK may lack it):
without it, for short texts where its fixed call cost (~2 µs) exceeds the `in` loop, or
for a text UTF-8 cannot encode (lone surrogates), the `in` loop runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

try:  # exercised with and without RE2 by tests/redaction/test_redaction_scan.py
    import re2 as _re2_module  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - the collector image installs it
    _re2_module = None

re2: Any = _re2_module

# From this length on a text is scanned by RE2 (below it the `in` loop is cheaper; both
# give the same answer). Measured: one RE2 set match ~2 µs, the `in` loop over ~45
# needles ~2 µs at 40 characters and ~9 µs at 140.
RE2_MIN_LENGTH: Final = 32
_NONE: Final[frozenset[str]] = frozenset()


class NeedleScan:
    """Answers `any(n in text for n in needles)` and `[n for n in needles if n in text]`.

    `use_re2`: None = when `google-re2` is importable; False forces the `in` loop (the
    reference the tests compare RE2 against).
    """

    def __init__(self, needles: Sequence[str], use_re2: bool | None = None) -> None:
        if not all(n and n.isascii() for n in needles):
            raise ValueError("needles must be non-empty ASCII literals")
        self.needles: tuple[str, ...] = tuple(needles)
        enabled = re2 is not None if use_re2 is None else use_re2
        if enabled and re2 is None:
            raise ValueError("use_re2=True but google-re2 is not installed")
        self._set: Any = None
        self._folded: Any = None
        if enabled:
            # RE2 and Python agree on `re.escape`'s output for ASCII literals.
            self._set = _compile_set(re.escape(n) for n in self.needles)
            self._folded = _compile_set("(?i)" + re.escape(n) for n in self.needles)

    @property
    def uses_re2(self) -> bool:
        return self._set is not None

    def any_in(self, text: str) -> bool:
        """Whether some needle occurs in `text`."""
        hits = self._match(self._set, text)
        if hits is not None:
            return bool(hits)
        return any(n in text for n in self.needles)

    def which_in(self, text: str) -> tuple[str, ...]:
        """The needles that occur in `text`, in the order they were given."""
        hits = self._match(self._set, text)
        if hits is not None:
            return tuple(self.needles[i] for i in sorted(hits)) if hits else ()
        return tuple(n for n in self.needles if n in text)

    def found_in_lowered(self, text: str, low: str | None = None) -> frozenset[str]:
        """`set(self.which_in(text.lower()))` for lower-case needles (`low`: `text.lower()`
        if the caller has it), without lower-casing a text that holds no needle.

        The RE2 pass is case-insensitive over `text`: it finds a lower-case needle
        wherever `text.lower()` has it. The only non-ASCII characters whose lower case is
        ASCII are U+212A KELVIN SIGN (`k`, which RE2 folds to `k` too) and U+0130 (`i`
        then U+0307, which ends any needle match: no needle ends with `i`); both are
        checked by tests/redaction/test_redaction_scan.py. It may also hit where the
        lower-cased text has no needle (other Unicode folds, upper case in `text`): each
        hit is then confirmed with `in` on the lower-cased text.
        """
        hits = self._match(self._folded, text)
        if hits is None:
            return frozenset(self.which_in(text.lower() if low is None else low))
        if not hits:
            return _NONE
        low = text.lower() if low is None else low
        return frozenset(n for n in (self.needles[i] for i in hits) if n in low)

    @staticmethod
    def _match(rset: Any, text: str) -> list[int] | None:
        """The indices of the needles `rset` finds in `text`; None: use the `in` loop."""
        if rset is None or len(text) < RE2_MIN_LENGTH:
            return None
        try:
            hits = rset.Match(text)
        except UnicodeEncodeError:
            return None
        return hits or []


def _compile_set(patterns: Any) -> Any:
    rset = re2.Set.SearchSet()
    for p in patterns:
        rset.Add(p)
    rset.Compile()
    return rset
