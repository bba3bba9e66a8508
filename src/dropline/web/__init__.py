"""Server-rendered web pages under ``/ui``: login, drops, the live monitor, the report."""
