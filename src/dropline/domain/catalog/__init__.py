"""Catalog: products, variants (SKUs), bundles."""
