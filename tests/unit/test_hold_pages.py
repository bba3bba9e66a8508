"""Hold event pages: which journalled events a drain stores, and how a page looks."""

from __future__ import annotations

from dataclasses import replace

import orjson

from dropline.domain.live.holds import Hold, HoldItem, HoldStatus, ItemKind
from dropline.services.live.hold_journal import page, read_stored, subscribed_types, unseen
from dropline.services.ports import EngineEvent
from dropline.services.serialize import hold_dict, hold_version
from dropline.store.db import json_text


def hold(n: int, status: HoldStatus = HoldStatus.ACTIVE) -> Hold:
    return Hold(
        id=f"hld_{n}",
        drop_id="drp_1",
        buyer_id=f"b{n}",
        items=(HoldItem(ItemKind.SKU, "sku_1", 1),),
        units={"sku_1": 1},
        status=status,
        created_at=1_800_000_000.5,
        expires_at=1_800_000_090.5,
    )


def event(n: int, journal: str = "j1", type_: str = "hold.placed") -> EngineEvent:
    return EngineEvent(f"evt_{n}", type_, 1_800_000_000.0 + n, hold(n), journal, (n, 0))


def test_unseen_keeps_only_events_after_the_cursor_of_the_same_journal() -> None:
    events = [event(n) for n in range(1, 6)]
    assert unseen(events, None) == events
    assert [e.id for e in unseen(events, ("j1", (3, 0)))] == ["evt_4", "evt_5"]
    assert unseen(events, ("j1", (5, 0))) == []
    # (major, minor) order: a Redis stream id 5-1 comes after 5-0
    later = EngineEvent("evt_x", "hold.placed", 0.0, hold(9), "j1", (5, 1))
    assert unseen([later], ("j1", (5, 0))) == [later]


def test_a_new_journal_is_never_taken_for_a_replay() -> None:
    # the in-process engine starts a new journal (and counts from 1) in every process
    events = [event(n, journal="j2") for n in range(1, 3)]
    assert unseen(events, ("j1", (1_000, 0))) == events


def test_a_page_holds_the_events_in_order_with_a_tally() -> None:
    events = [event(1), event(2), event(3, type_="hold.expired")]
    p = page("drp_1", events)
    assert p["drop_id"] == "drp_1" and p["n"] == 3
    assert p["tally"] == {"hold.placed": 2, "hold.expired": 1}
    assert [e[0] for e in p["events"]] == ["evt_1", "evt_2", "evt_3"]


def test_a_stored_event_reads_back_as_the_holds_json_view() -> None:
    h = replace(
        hold(1, HoldStatus.PAYING),
        items=(HoldItem(ItemKind.BUNDLE, "bnd_1", 2),),
        attribution={"channel": "live"},
    )
    e = EngineEvent("evt_1", "hold.paying", 1_800_000_001.25, h, "j1", (1, 0))
    # through JSON, as the database stores it
    raw = orjson.loads(json_text(page("drp_1", [e])["events"]))[0]
    row = read_stored(7, "drp_1", raw)
    assert (row.seq, row.id, row.type, row.aggregate_id) == (7, "evt_1", "hold.paying", "hld_1")
    assert row.occurred_at == "2027-01-15T08:00:01.250000Z"
    assert row.payload == hold_dict(h)
    assert row.payload["version"] == hold_version(h) == 2


def test_subscribed_types_follow_the_fan_out_matching() -> None:
    def eps(*patterns: list[str]) -> list[dict[str, object]]:
        return [{"event_types": p} for p in patterns]

    assert subscribed_types(eps(["order.*"], ["drop.live"])) == set()
    assert subscribed_types(eps(["order.*"], ["hold.expired"])) == {"hold.expired"}
    assert len(subscribed_types(eps(["*"]))) == 5
    assert subscribed_types(eps(["hold.*"])) == subscribed_types(eps(["*"]))
