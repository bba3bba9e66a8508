"""Fixtures for the end-to-end suite: a real server process per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.server import DroplineServer, Template, make_template

# Background work runs fast so a test can wait for recovery instead of sleeping: the
# recovery pass runs every 0.5 s and finishes checkouts left processing for 1 s.
FAST_BACKGROUND = {
    "DROPLINE_EXPIRY_INTERVAL_S": "0.1",
    "DROPLINE_RECONCILE_INTERVAL_S": "0.5",
    "DROPLINE_RECOVER_AFTER_S": "1",
}


@pytest.fixture(scope="session")
def server_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """``dropline db upgrade`` and ``dropline keys create --scope admin``, run once."""
    return make_template(tmp_path_factory.mktemp("e2e-template"))


@pytest.fixture
def server(tmp_path: Path, server_template: Template) -> Iterator[DroplineServer]:
    """A started ``dropline serve`` on its own copy of the template database; always
    stopped afterwards, whatever the test did to it."""
    srv = DroplineServer(tmp_path / "server", env=FAST_BACKGROUND, template=server_template)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
