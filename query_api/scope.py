"""What the caller may see: which connectors, and whether payloads (headers, bodies).

Every query function takes a `Scope` and applies it itself, so a connector-scoped key sees
nothing else in any route, export, search or CLI call, and a viewer never receives payload
bytes (they are not even read: the payload table is only queried when `payloads` is true).
"""

from __future__ import annotations

from dataclasses import dataclass

from connlog.collector.schema import names as n
from connlog.query_api.sqlbuild import Conditions


@dataclass(frozen=True)
class Scope:
    connectors: tuple[str, ...] | None = None  # None: every connector
    payloads: bool = False

    def allows(self, connector: str) -> bool:
        return self.connectors is None or connector in self.connectors

    def apply(self, where: Conditions, column: str = n.C_SERVICE_NAME) -> None:
        """Restrict `where` to the allowed connectors (a bound array parameter)."""
        if self.connectors is not None:
            where.in_(column, self.connectors)


FULL = Scope(connectors=None, payloads=True)  # the CLI on a local directory, auth off
