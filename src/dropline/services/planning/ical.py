"""A launch's timeline as an iCalendar file (RFC 5545, with the ``icalendar``
package): one all-day event per milestone from its earliest start to its earliest
finish, the owner and slack in the summary and description, and the stream itself; so
every owner sees their dates in their own calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event


def _day(value: str) -> date:
    return date.fromisoformat(value)


def launch_calendar(launch: dict[str, Any], timeline: dict[str, Any], now: datetime) -> bytes:
    """The ``.ics`` bytes of a launch's planned timeline. Event UIDs are stable per
    launch and milestone, so re-importing the file updates the events in place."""
    cal = Calendar()
    cal.add("prodid", "-//dropline//launch timeline//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{launch['name']} launch")
    stamp = now.astimezone(UTC)
    for m in timeline["milestones"]:
        ev = Event()
        ev.add("uid", f"{launch['id']}-{m['key']}@dropline")
        ev.add("dtstamp", stamp)
        start = _day(m["earliest_start"])
        finish = _day(m["actual_finish"] or m["earliest_finish"])
        ev.add("dtstart", min(start, finish))
        ev.add("dtend", max(start, finish) + timedelta(days=1))  # all-day: end is exclusive
        flags = [f for f, on in (("CRITICAL", m["critical"]), ("DONE", m["done"])) if on]
        owner = f" ({m['owner']})" if m["owner"] else ""
        ev.add("summary", f"{m['name']}{owner}" + (f" [{', '.join(flags)}]" if flags else ""))
        ev.add(
            "description",
            f"Launch: {launch['name']}\n"
            f"Owner: {m['owner'] or '-'}\n"
            f"Earliest finish: {m['earliest_finish']}; latest finish: {m['latest_finish']}\n"
            f"Slack: {m['slack_days']} {timeline['day_unit']} days"
            + (f"\nDone on {m['actual_finish']}" if m["done"] else ""),
        )
        if m["critical"]:
            ev.add("categories", ["critical"])
        cal.add_component(ev)
    stream = Event()
    stream.add("uid", f"{launch['id']}-stream@dropline")
    stream.add("dtstamp", stamp)
    day = _day(timeline["stream_date"])
    stream.add("dtstart", day)
    stream.add("dtend", day + timedelta(days=1))
    stream.add("summary", f"Stream: {launch['name']}")
    cal.add_component(stream)
    data: bytes = cal.to_ical()
    return data
