"""Local fakes of vendor APIs (Notion, Stripe, Slack) for connectors written against the
vendors' own client libraries; see tests/fakes/apis.py."""
