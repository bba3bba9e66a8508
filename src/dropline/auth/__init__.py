"""Credential adapters: the creator's JWKS over HTTP, and key-change notices between processes."""
