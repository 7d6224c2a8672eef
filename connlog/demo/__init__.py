"""The `connlog demo`: the all-in-one on chDB, a fake third-party API, sample connectors."""
