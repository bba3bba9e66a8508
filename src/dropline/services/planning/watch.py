"""The launch watch: a background pass that keeps every launch's plan in step with
reality. It re-plans each launch whose stream is ahead (an actual date recorded on the
run itself moves the chain here), writes the projected dates back to the linked run,
and alerts the owner of each newly overdue milestone once per due date: an event
(``launch.milestone_overdue``), a message in the mailer's outbox, and an alert on the
launch view."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.services.fulfilment.messages import message_values
from dropline.services.planning.launches import LaunchService
from dropline.services.planning.timeline import get_launch, load
from dropline.services.ports import Clock
from dropline.store.uow import UnitOfWork, UowFactory

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


class LaunchWatch:
    def __init__(self, uow: UowFactory, clock: Clock, launches: LaunchService) -> None:
        self.uow = uow
        self.clock = clock
        self.launches = launches

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def today(self) -> date:
        return self._now().date()

    async def watch(self) -> int:
        """The background pass: re-plan every launch whose stream is ahead, keep the
        linked runs' projected dates in step (an actual date recorded on the run itself
        re-plans the chain here), and alert the owner of each newly overdue milestone
        once per due date. Returns how many alerts were raised."""
        today = self.today()
        async with self.uow(readonly=True) as uow:
            ids = [
                launch["id"]
                for launch in await uow.launches.find()
                if launch["stream_date"] >= today
            ]
        alerts = 0
        for launch_id in ids:
            await self.launches.sync_run(launch_id, "dropline", "re-planned from the run's dates")
            alerts += await self._alert_overdue(launch_id)
        return alerts

    async def _alert_overdue(self, launch_id: str) -> int:
        today = self.today()
        raised = 0
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            loaded = await load(uow, launch, today)
            if loaded.plan is None:
                return 0
            for r in loaded.rows:
                m = loaded.plan.get(r["key"])
                if not m.overdue or r["alerted_due"] == m.due:
                    continue
                event_id = new_id("evt")
                payload = {
                    "launch_id": launch_id,
                    "launch": launch["name"],
                    "milestone": m.key,
                    "name": r["name"],
                    "owner": r["owner"],
                    "due": m.due.isoformat(),
                    "stream_date": launch["stream_date"].isoformat(),
                    "slack_days": m.slack_days,
                }
                uow.record(
                    DomainEvent(
                        "launch.milestone_overdue",
                        "launch",
                        launch_id,
                        int(launch["version"]),
                        payload,
                        id=event_id,
                    )
                )
                await self._message_owner(uow, event_id, payload)
                await uow.launches.update_milestone(launch_id, m.key, alerted_due=m.due)
                raised += 1
            await uow.commit()
        return raised

    async def _message_owner(self, uow: UnitOfWork, event_id: str, p: Mapping[str, Any]) -> None:
        """A message to the owner (the mailer's outbox; skipped, and shown as such,
        when the owner has no e-mail address)."""
        found = EMAIL.search(p["owner"] or "")
        to = found.group(0) if found else ""
        subject = f"Overdue: {p['name']} for the launch {p['launch']}"
        text = (
            f"{p['name']} for the launch {p['launch']} was due on {p['due']} and is not "
            f"recorded as done. The stream is on {p['stream_date']}; the milestone has "
            f"{p['slack_days']} days of slack left.\n\nRecord the date it is reached with "
            f"`dropline launches milestone {p['launch_id']} {p['milestone']} --actual DATE`."
        )
        html = (
            "<p>"
            + text.replace("&", "&amp;").replace("<", "&lt;").replace("\n\n", "</p><p>")
            + "</p>"
        )
        now = self._now()
        await uow.messages.add(
            message_values(
                event_id=event_id,
                kind="milestone_overdue",
                to=to,
                subject=subject[:300],
                text=text,
                html=html,
                now=now,
                no_address="the milestone's owner has no e-mail address",
            )
        )
