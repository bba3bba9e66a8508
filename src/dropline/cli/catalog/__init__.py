"""Catalog commands: products (with their size × colour variants), SKUs, bundles."""
