"""The HTTP API: the app, one error mapping, auth, idempotency, the hold hot path, routers."""
