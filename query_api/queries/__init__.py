"""ClickHouse queries, one module per resource, each a plain function returning typed rows.

They take a clickhouse-connect client, a filters object and a `Scope`, so the HTTP routes,
the exports and the CLI share them. Every user value is a bound parameter.
"""
