"""connlog: the command line, the all-in-one server and the demo.

The importable packages `instrumentation`, `collector`, `query_api` and `dashboards` hold
the product; this package wires them into the `connlog` command.
"""
