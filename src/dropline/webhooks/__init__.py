"""Webhook adapter: Standard Webhooks signing (``standardwebhooks``) over ``httpx``."""
