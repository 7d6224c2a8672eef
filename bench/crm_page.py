"""The page of CRM contact records the SDK benches send through a captured call.

`bench.sdk_overhead` serves one as its test server's body and `bench.redaction` redacts
them; both model the same HubSpot-like list response, so it is built in one place. The
redaction bench reads records with two more properties (company, lifecycle stage), as
its bodies are sized to 2 and 4 KB.
"""

from __future__ import annotations

from typing import Any


def crm_page(n: int, *, detailed: bool = False) -> dict[str, Any]:
    """`n` contact records and the cursor to the next page, in this key order."""

    def properties(i: int) -> dict[str, str]:
        props = {"email": f"user{i}@example.com", "firstname": f"First{i}", "lastname": f"Last{i}"}
        if detailed:
            props["company"] = "Example Corp"
        props["createdate"] = "2024-05-01T10:00:00Z"
        if detailed:
            props["lifecyclestage"] = "customer"
        return props

    results = [{"id": str(100000 + i), "properties": properties(i), "archived": False} for i in range(n)]
    return {"results": results, "paging": {"next": {"after": str(n), "link": f"https://api/x?after={n}"}}}
