"""connlog: observability for data connectors, on OpenTelemetry and ClickHouse.

A connector needs one import and one call:

    import connlog

    connlog.init(connector="hubspot", version="1.4.0", tenant="acme", secrets=[api_key])
    with connlog.run(sync_type="incremental", trigger="schedule", job_id="hubspot-hourly"):
        with connlog.step("contacts"), connlog.page(number=1):
            ...

The parts live under this one namespace: `connlog.instrumentation` (the SDK, re-exported
here), `connlog.collector` (OTLP in, ClickHouse out, the schema), `connlog.query_api` (the
JSON API and the browser viewer) and `connlog.dashboards` (Grafana); the command line, the
all-in-one server and the demo are this package's own modules. In the repository the parts
are the top-level folders of the same names, mapped into this package (see pyproject.toml).
"""

from connlog.instrumentation import *  # noqa: F403  (the SDK is the package's public face)
from connlog.instrumentation import __all__ as _sdk_all

__all__ = list(_sdk_all)
