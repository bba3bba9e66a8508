"""Every setting is in docs/deploy.md's table under its environment variable, so an
operator reading the deploy guide sees every knob the service reads."""

from __future__ import annotations

import re
from pathlib import Path

from dropline.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def documented() -> set[str]:
    """Variables named in the guide, grouped rows included (``DROPLINE_SMTP_HOST`` /
    ``_PORT`` names ``DROPLINE_SMTP_PORT``)."""
    names: set[str] = set()
    for line in DEPLOY.read_text().splitlines():
        for group in re.findall(r"`(DROPLINE_[A-Z0-9_]+)`((?:\s*/\s*`_[A-Z0-9_]+`)*)", line):
            first, rest = group
            names.add(first)
            stem = first.rsplit("_", 1)[0]
            names.update(stem + suffix for suffix in re.findall(r"`(_[A-Z0-9_]+)`", rest))
    return names


def test_every_setting_is_in_the_deploy_guide() -> None:
    wanted = {f"DROPLINE_{name.upper()}" for name in Settings.model_fields}
    assert sorted(wanted - documented()) == []
