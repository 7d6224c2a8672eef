"""The viewer's paths, defined once: routes register them and templates/tests link with them.

A run's page is the SDK's `VIEWER_RUN_PATH`, so a run's `viewer_url` opens this page.
"""

from __future__ import annotations

from typing import Final

from connlog.instrumentation.model import VIEWER_RUN_PATH

HOME: Final = "/"
SIGNIN: Final = "/signin"
SIGNOUT: Final = "/signout"
RUNS_FRAGMENT: Final = "/fragments/runs"
RUN: Final = VIEWER_RUN_PATH
STEP: Final = "/runs/{run_id}/steps/{step_id}"
PAGE: Final = "/runs/{run_id}/steps/{step_id}/pages/{page_id}"
ENTITY: Final = "/runs/{run_id}/entities/{entity_id}"
TRACE: Final = "/runs/{run_id}/trace"
CALLS: Final = "/calls"
CALL: Final = "/calls/{call_id}"
FAULTS: Final = "/faults"
LOGS: Final = "/logs"
SEARCH: Final = "/search"
CONNECTORS: Final = "/connectors"
JOBS: Final = "/jobs"
OPERATIONS: Final = "/operations"  # runs of another kind: build, deploy, sync to an environment
EXPORT: Final = "/export/{kind}.{fmt}"
SETTINGS: Final = "/settings"  # admins: retention, caps and stored volume in force
