"""Platform: access keys and tokens, background jobs, the outbox, health."""
