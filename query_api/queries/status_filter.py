"""HTTP status filters: exact (`404`), range (`400-499`), or comparison (`>=400`, `<300`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from connlog.query_api.errors import invalid
from connlog.query_api.sqlbuild import Conditions

_EXACT = re.compile(r"^\d{1,3}$")
_RANGE = re.compile(r"^(\d{1,3})\s*-\s*(\d{1,3})$")
_CMP = re.compile(r"^(>=|<=|>|<)\s*(\d{1,3})$")


@dataclass(frozen=True)
class StatusFilter:
    low: int
    high: int  # inclusive

    @classmethod
    def parse(cls, raw: str, field: str = "status") -> StatusFilter:
        text = raw.strip()
        if m := _EXACT.match(text):
            v = int(m.group(0))
            return cls(v, v)
        if m := _RANGE.match(text):
            low, high = int(m.group(1)), int(m.group(2))
            if low > high:
                raise invalid(field, "range start must not exceed its end")
            return cls(low, high)
        if m := _CMP.match(text):
            op, v = m.group(1), int(m.group(2))
            return {
                ">=": cls(v, 999),
                ">": cls(v + 1, 999),
                "<=": cls(0, v),
                "<": cls(0, v - 1) if v > 0 else cls(1, 0),
            }[op]
        raise invalid(field, "expected a status like 404, a range like 400-499, or >=400")

    def apply(self, where: Conditions, column: str) -> None:
        where.add(
            f"{column} BETWEEN {where.params.bind(self.low, 'UInt16')} AND {where.params.bind(self.high, 'UInt16')}"
        )
