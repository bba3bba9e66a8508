"""How ``dropline serve`` and ``dropline worker`` log: plain text lines (the default, for
``make run``) or one JSON object per line (``DROPLINE_LOG_FORMAT=json``, through
``python-json-logger``), each with the request id of the request it belongs to.

``log_config`` is a ``logging.config.dictConfig`` dict: uvicorn applies it in each server
process (``--workers N`` included), the worker applies it itself. Its access log stays
off; the request id comes from ``services/context.request_id`` (``api/request_ids.py``
sets it per request), ``-`` outside a request.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from dropline.services.context import request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the current request's id, ``-`` outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


def log_config(fmt: str, level: str) -> dict[str, Any]:
    """The logging configuration for ``fmt`` (``text`` or ``json``) at ``level``, for the
    root logger and uvicorn's own loggers alike."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": lvl},
        "loggers": {
            name: {"handlers": [], "level": lvl, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(fmt: str, level: str) -> None:
    """Apply ``log_config`` to this process (the worker; uvicorn does it for serve)."""
    logging.config.dictConfig(log_config(fmt, level))
