"""Readiness: the readiness gate before a drop goes live, and the dress rehearsal."""
