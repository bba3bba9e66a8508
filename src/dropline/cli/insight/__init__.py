"""Insight commands: the post-stream report."""
