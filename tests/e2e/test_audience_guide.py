"""``docs/audience.md``'s bash blocks run as pasted against a fresh ``make run``
(``tests/e2e/guides.py``): windows set on the demo drop refuse a buyer without a tier
with the time their window opens and let a gold member hold; the limits are set; the
waitlist (a refused join, a unit that comes back going to the line, the claim link
refused to another buyer and paid by its own; saved cards charged when a unit comes
back, a declined one passing the unit on) and restock waves from the CLI and the API,
the last one reopening the ended drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.guides import run_guide

pytestmark = pytest.mark.e2e


def test_audience_guide_runs_as_pasted(tmp_path: Path) -> None:
    done = run_guide(tmp_path, "audience.md")
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    out = done.stdout
    assert '"code": "window_closed"' in out and '"status": "active"' in out
    assert "refused: window_closed 1" in out
    assert '{"current_window":"Gold","next":"Members"}' in out
    assert '"token_max_age_s": 900' in out
    assert '"code": "not_sold_out"' in out and '"hold_url": "/v1/holds"' in out
    assert '"position": 1' in out and '"status": "offered"' in out
    assert "\nsold_out\n" in out
    assert '"code": "claim_not_yours"' in out
    # saved cards: the first in line is declined, the unit passes on and is paid
    assert '{"status":"waiting","position":1,"card_saved":true}' in out
    assert '{"status":"lost","auto_charge":"failed","card_saved":false}' in out
    assert '{"status":"claimed","auto_charge":"succeeded","card_saved":false}' in out
    assert "Traceback" not in done.stderr + out
    assert "done" in out and "scheduled" in out and "cancelled" in out
    # the second wave of the ended drop reopened it, with its end; a bad end is a 422
    assert '{"status":"live","ends_at":true}' in out and "until" in out
    assert '{"status":422,"code":"validation_error","field":"ends_at"}' in out
