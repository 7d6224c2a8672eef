"""FastAPI routers: thin adapters from query parameters to `query_api.queries` calls."""
