"""Insight: the live monitor and the post-stream report."""
