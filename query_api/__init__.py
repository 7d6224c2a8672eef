"""The connlog query API: runs, steps, pages, entities, calls, faults, logs, search, SQL.

`query_api.queries` holds the ClickHouse queries as plain functions returning typed rows
(the CLI calls them directly on a chDB directory); `query_api.app.create_app` wraps them in
a FastAPI application with API-key auth, cursor pagination and one JSON error shape.
"""
