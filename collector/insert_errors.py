"""Permanent versus transient insert failures.

Why it matters: with a write-ahead log a transient failure (ClickHouse down, timeout, too
many parts) is retried until it succeeds — giving up would lose acknowledged data — but
retrying a batch ClickHouse can never accept (a type error, a value out of range) would
block every batch behind it forever. Those go to the dead-letter directory instead.
"""

from __future__ import annotations

import struct
from typing import Final

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, ProgrammingError


class PermanentInsertError(Exception):
    """Raised by a sink (or a test's fault-injecting sink) for a batch that can never be inserted."""


# ClickHouse error codes meaning "this data is wrong", not "the server is unwell".
PERMANENT_CODES: Final = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        16,  # NO_SUCH_COLUMN_IN_TABLE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    }
)

# Raised by clickhouse-connect while serializing rows client-side: the rows themselves are bad.
_SERIALIZATION_ERRORS: Final = (
    DataError,
    ProgrammingError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    struct.error,
)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same rows cannot succeed."""
    if isinstance(exc, PermanentInsertError):
        return True
    if isinstance(exc, OSError):  # connection refused / reset, timeouts: the server side
        return False
    if isinstance(exc, _SERIALIZATION_ERRORS):
        return True
    return isinstance(exc, DatabaseError) and getattr(exc, "code", None) in PERMANENT_CODES
