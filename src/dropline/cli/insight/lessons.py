"""``dropline lessons``: next-drop insight across drops, as JSON or CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.console import emit_json, run

if TYPE_CHECKING:
    from dropline.bootstrap import Container


def lessons(
    drop_ids: Annotated[list[str], typer.Argument(help="the drops to learn from")],
    csv: Annotated[bool, typer.Option("--csv", help="section,name,metric,value rows")] = False,
) -> None:
    """Per-variant sell-through, sell-out and unserved demand, conversion by
    channel/UTM/promo code, the 90-day repeat cohorts, each drop's funnel (views → held →
    paid) and its host cues with the lift after each, across DROP_IDS."""
    from dropline.services.insight.lessons import lessons_csv

    if not csv:
        emit_json(lambda c: c.lessons.across(drop_ids))
        return

    async def go(c: Container) -> None:
        typer.echo(lessons_csv(await c.lessons.across(drop_ids)), nl=False)

    run(go)
