"""The HTTP API: the app, one error mapping, auth, idempotency, the hot path, routers."""
