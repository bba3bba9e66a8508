"""``dropline waitlist``: a drop's waitlist order, claim window and demand; and
``dropline drops restock`` / ``restocks``: restock waves. Through the running server
(``cli/remote.py`` says why); ``cli/app.py`` puts the two restock commands on the
``drops`` group."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from dropline.cli.console import (
    JsonFlag,
    add_columns,
    console,
    id_column,
    print_table,
    show,
    utc_time,
)
from dropline.cli.remote import KeyOpt, Problem, Server, UrlOpt, remote
from dropline.web.render import human_time

waitlist_app = typer.Typer(
    help="""Waitlists: when a SKU sells out buyers join its line (through the
    storefront); every unit that comes back is held for the next in line for the claim
    window. Show and set a drop's line order and claim window, and see the demand.

    These commands talk to the running server with an ops key: run
    `source .dropline/demo.env` first, or pass --url and --api-key.""",
    no_args_is_help=True,
)

Drop = Annotated[str, typer.Argument(metavar="DROP", help="Drop id (drp_...).")]


def _sku(server: Server, drop_id: str, ref: str) -> str:
    """The id of the drop's SKU named by id or code."""
    offers = server.get(f"/v1/drops/{drop_id}").get("offers", [])
    for o in offers:
        if ref in (o["sku_id"], o.get("code")):
            return str(o["sku_id"])
    raise Problem(
        "not_found",
        f"the drop offers no SKU with id or code {ref!r}",
        f"dropline drops show {drop_id}",
    )


def _print_settings(s: dict[str, Any]) -> None:
    console.print(
        f"waitlist of {s['drop_id']}: order [bold]{s['order']}[/bold], "
        f"claim window {s['claim_window_s']} s"
    )


def _print_demand(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("nobody has joined a waitlist of this drop")
        return
    t = Table()
    id_column(t, "sku")
    add_columns(t, ">joined", ">entries", ">offered", ">claimed", ">lost", ">waiting", ">left")
    add_columns(t, ">unserved", ">card charged", ">card failed")
    keys = ("joined", "entries", "offered", "claimed", "lost", "waiting", "left")
    for r in rows:
        t.add_row(
            r["sku_id"],
            *(str(r[k]) for k in keys),
            str(r["unserved"]),
            *(str(r.get(k, 0)) for k in ("autocharge_succeeded", "autocharge_failed")),
        )
    print_table(t)


@waitlist_app.command("show")
def show_waitlist(
    drop: Drop, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonFlag = False
) -> None:
    """The drop's line order and claim window, and per SKU: buyers who joined (each
    once) and entries (every join, so a buyer who left and came back counts twice),
    claims offered, claimed (paid) and lost, buyers still waiting, left, unserved
    (buyers who joined and got no unit through the line: the demand the next run can
    plan for), and the cards saved on joining that
    were charged on allocation (card charged) or failed, the unit passing on (card
    failed).

    Example:

      dropline waitlist show $DROP
    """

    def go(server: Server) -> None:
        settings = server.get(f"/v1/drops/{drop}/waitlist/settings")
        demand = server.get(f"/v1/drops/{drop}/waitlist/demand")

        def render() -> None:
            _print_settings(settings)
            _print_demand(demand)

        show({"settings": settings, "demand": demand}, as_json, render)

    remote(url, api_key, go)


@waitlist_app.command("set")
def set_waitlist(
    drop: Drop,
    order: Annotated[
        str,
        typer.Option(
            metavar="fifo|draw",
            help="fifo: join order. draw: everyone who joined before the drop opened is "
            "shuffled once by a recorded seed, then later joiners in join order.",
        ),
    ] = "fifo",
    claim_window: Annotated[
        int,
        typer.Option(metavar="SECONDS", help="How long a claim holds its unit, 30–86400."),
    ] = 600,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Set how the drop's lines are served and how long a claim lasts.

    Example:

      dropline waitlist set $DROP --order draw --claim-window 600
    """

    def go(server: Server) -> None:
        s = server.call(
            "PUT",
            f"/v1/drops/{drop}/waitlist/settings",
            {"order": order, "claim_window_s": claim_window},
        )
        show(s, as_json, lambda: _print_settings(s))

    remote(url, api_key, go)


# ---------------------------------------------------------------- restock waves


def _when(text: str | None) -> str | None:
    return utc_time(text) if text else None


def _dash(value: int | None) -> str:
    return "—" if value is None else str(value)


def _print_waves(waves: list[dict[str, Any]]) -> None:
    if not waves:
        console.print("no restock waves")
        return
    t = Table()
    id_column(t)
    id_column(t, "sku")
    add_columns(t, ">units", "at", "status", "reopens", ">to waitlist", ">for waitlist")
    add_columns(t, ">on sale", ">back in stock", "source", "error", wrap=("error",))
    for w in waves:
        source = f"{w['source_kind']} {w['source_id']}" if w["source_kind"] else "—"
        reopens = "—"
        if w.get("reopens"):
            reopens = f"until {human_time(w['ends_at'])}" if w.get("ends_at") else "yes"
        t.add_row(
            w["id"],
            w["sku_id"],
            f"{w['quantity']:,}",
            human_time(w["at"]),
            w["status"],
            reopens,
            str(w["waitlisted"]),
            *(_dash(w.get(k)) for k in ("for_waitlist", "on_sale", "back_in_stock")),
            source,
            w["error"] or "",
        )
    print_table(t)


def restock(
    drop: Drop,
    sku: Annotated[str, typer.Argument(metavar="SKU", help="SKU id or code.")],
    quantity: Annotated[int, typer.Argument(metavar="UNITS", help="Units to add, 1 or more.")],
    at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME", help="When (2026-12-12T20:30Z; UTC without a zone). Now when left out."
        ),
    ] = None,
    lot: Annotated[
        str | None, typer.Option(metavar="LOT", help="The received lot the units come from.")
    ] = None,
    run: Annotated[
        str | None, typer.Option(metavar="RUN", help="The production run they come from.")
    ] = None,
    ends_at: Annotated[
        str | None,
        typer.Option(
            "--ends-at",
            metavar="TIME",
            help="Ended drop only: when the reopened sale ends again (after --at). "
            "Left out: the drop stays live until ended by hand.",
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Add UNITS of a SKU to a live, paused or ended drop as a restock wave, now or at
    --at. At the wave's time the SKU's waitlist is served first (one claim per buyer in
    line), and the rest goes on sale. The units come from available stock.

    An ended drop reopens at the wave's time (its second wave): only the wave's units go
    on sale, until --ends-at when given. Several SKUs: one wave each, same --ends-at.

    Examples:

      dropline drops restock $DROP LOGO-HOODIE-BLACK-M 20 --at 2026-12-12T21:00Z

      dropline drops restock $ENDED_DROP LOGO-HOODIE-BLACK-M 50 --ends-at 2026-12-19T22:00Z
    """
    if lot and run:
        raise typer.BadParameter("give --lot or --run, not both")
    body: dict[str, Any] = {"quantity": quantity}
    if when := _when(at):
        body["at"] = when
    if end := _when(ends_at):
        body["ends_at"] = end
    if lot:
        body |= {"source_kind": "lot", "source_id": lot}
    elif run:
        body |= {"source_kind": "run", "source_id": run}

    def go(server: Server) -> None:
        wave = server.call(
            "POST", f"/v1/drops/{drop}/restocks", body | {"sku_id": _sku(server, drop, sku)}
        )
        show(wave, as_json, lambda: _print_waves([wave]))

    remote(url, api_key, go)


def restocks(
    drop: Drop, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonFlag = False
) -> None:
    """The drop's restock waves in time order: units, time, status (scheduled,
    applying, done, failed, cancelled) and, once done, what its units did: claims of the
    waitlist took them (to waitlist), they wait behind the gate for buyers in line whose
    access window has not opened (for waitlist: not on sale), they went on sale, or they
    went back to stock when the drop ended while still kept for the line.

    Example:

      dropline drops restocks $DROP
    """

    def go(server: Server) -> None:
        waves = server.get(f"/v1/drops/{drop}/restocks")
        show(waves, as_json, lambda: _print_waves(waves))

    remote(url, api_key, go)


def restock_cancel(
    wave: Annotated[str, typer.Argument(metavar="WAVE", help="Wave id (rsw_...).")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel a restock wave that has not run yet (a wave that ran, failed or was
    cancelled already is refused with a conflict). A cancelled wave that would have
    reopened an ended drop leaves it ended.

    Example:

      dropline drops restock-cancel rsw_...
    """

    def go(server: Server) -> None:
        done = server.call("POST", f"/v1/restocks/{wave}/cancel", None)
        show(done, as_json, lambda: _print_waves([done]))

    remote(url, api_key, go)
