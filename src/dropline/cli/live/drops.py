"""``dropline drops``: create a drop, offer SKUs and bundles, schedule it, go live,
pause, resume and end — through the running server (``cli/remote.py`` says why)."""

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
from dropline.domain.money import format_money
from dropline.web.render import human_time

drops_app = typer.Typer(
    help="""Drops: create one, offer SKUs and bundles, schedule it, go live, pause,
    resume and end it.

    These commands talk to the running server (it holds the live drop's stock), with
    an ops key: run `source .dropline/demo.env` first, or pass --url and --api-key.""",
    no_args_is_help=True,
)

Drop = Annotated[str, typer.Argument(metavar="DROP", help="Drop id (drp_...).")]


def _when(text: str | None) -> str | None:
    return utc_time(text) if text else None


def _print_drop(d: dict[str, Any]) -> None:
    start = f", starts {human_time(d['starts_at'])}" if d.get("starts_at") else ""
    console.print(f"[bold]{d['name']}[/bold] {d['id']} — {d['status']}{start}")
    if d.get("offers"):
        t = Table()
        id_column(t, "sku")
        add_columns(t, "product — variant", "code", ">price", ">offered", ">sold", ">limit", "",
                    wrap=("product — variant",))  # fmt: skip
        for o in d["offers"]:
            price = o.get("price")
            t.add_row(
                o["sku_id"],
                o.get("label", ""),
                o.get("code", ""),
                format_money(price["amount"], price["currency"]) if price else "",
                f"{o['offered']:,}",
                f"{o['sold']:,}",
                str(o["per_buyer_limit"] or "—"),
                "paused" if o["paused"] else "",
            )
        print_table(t)
    if d.get("bundle_ids"):
        console.print("bundles: " + ", ".join(d["bundle_ids"]))


def _done(server: Server, drop_id: str, as_json: bool) -> None:
    d = server.get(f"/v1/drops/{drop_id}")
    show(d, as_json, lambda: _print_drop(d))


def _move(server: Server, drop_id: str, to: str) -> None:
    server.call("POST", f"/v1/drops/{drop_id}/transitions", {"to": to})


@drops_app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    currency: Annotated[str, typer.Option(metavar="CODE")] = "USD",
    hold_ttl: Annotated[
        int, typer.Option(metavar="SECONDS", help="How long a buyer's hold lasts, 10–3600.")
    ] = 90,
    starts_at: Annotated[
        str | None, typer.Option(metavar="TIME", help="When it starts, e.g. 2026-12-12T20:00Z.")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a drop (a draft: offer SKUs, then schedule it).

    Example:

      dropline drops create "Friday live drop" --starts-at 2026-12-12T20:00Z
      DROP=$(dropline drops create "Tee drop" --json | jq -r .id)
    """
    body = {"name": name, "currency": currency, "hold_ttl_s": hold_ttl}
    if starts_at:
        body["starts_at"] = _when(starts_at) or ""

    def go(server: Server) -> None:
        d = server.call("POST", "/v1/drops", body)
        show(d, as_json, lambda: _print_drop(d))

    remote(url, api_key, go)


@drops_app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help="draft, scheduled, live, paused, ended")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Every drop, newest first, with units sold, sell-through and revenue."""

    def go(server: Server) -> None:
        drops = server.get("/v1/drops" + (f"?status={status}" if status else ""))

        def table() -> None:
            t = Table()
            id_column(t)
            add_columns(t, "name", "status", "starts", ">sold / offered", ">sell-through",
                        ">revenue", wrap=("name", "starts"))  # fmt: skip
            for d in drops:
                s = d["summary"]
                pct = "—" if s["sell_through_pct"] is None else f"{s['sell_through_pct']:.1f} %"
                t.add_row(
                    d["id"],
                    d["name"],
                    d["status"],
                    human_time(d["starts_at"]) if d["starts_at"] else "—",
                    f"{s['sold']:,} / {s['offered']:,}",
                    pct,
                    format_money(s["revenue"]["amount"], s["revenue"]["currency"]),
                )
            print_table(t)

        show(drops, as_json, table)

    remote(url, api_key, go)


@drops_app.command("show")
def show_(
    drop: Drop, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonFlag = False
) -> None:
    """One drop: status, start, and every offer with its product, variant and price."""
    remote(url, api_key, lambda s: _done(s, drop, as_json))


@drops_app.command("edit")
def edit(
    drop: Drop,
    name: Annotated[str | None, typer.Option(metavar="NAME")] = None,
    starts_at: Annotated[str | None, typer.Option(metavar="TIME")] = None,
    hold_ttl: Annotated[int | None, typer.Option(metavar="SECONDS")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a drop; before it goes live, change its start or hold time."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if starts_at is not None:
        body["starts_at"] = _when(starts_at)
    if hold_ttl is not None:
        body["hold_ttl_s"] = hold_ttl

    def go(server: Server) -> None:
        server.call("PATCH", f"/v1/drops/{drop}", body)
        _done(server, drop, as_json)

    remote(url, api_key, go)


def _skus(server: Server, refs: list[str]) -> list[str]:
    """SKU ids for ``refs``: a SKU id or code, or a product id or name (its active
    variants)."""
    products = server.get("/v1/products")
    by_code = {s["code"]: s["id"] for p in products for s in p["skus"]}
    out: list[str] = []
    for ref in refs:
        if ref.startswith("sku_"):
            out.append(ref)
        elif ref in by_code:
            out.append(by_code[ref])
        else:
            match = [p for p in products if ref in (p["id"], p["name"])]
            if len(match) != 1:
                raise Problem(
                    "not_found",
                    f"no active SKU code, product id or product name is {ref!r}",
                    "dropline products list, or dropline skus list",
                )
            out.extend(s["id"] for s in match[0]["skus"])
    return out


@drops_app.command("offer")
def offer(
    drop: Drop,
    items: Annotated[
        list[str],
        typer.Argument(
            metavar="ITEM",
            help="SKU ids or codes, or a product (id or name) for all its variants.",
        ),
    ],
    quantity: Annotated[int, typer.Option(metavar="N", help="Units of each item to offer.")],
    limit: Annotated[
        int | None, typer.Option(metavar="N", help="Most units one buyer may buy of each.")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Offer units in a drop (they move from available to reserved, so they are never
    sold twice). Before going live an offer may change freely (0 removes it); once
    live it can only grow.

    Examples:

      dropline drops offer $DROP "Logo Hoodie" --quantity 50 --limit 2
      dropline drops offer $DROP TOTE-BAG --quantity 100
    """

    def go(server: Server) -> None:
        body: dict[str, Any] = {"quantity": quantity}
        if limit is not None:
            body["per_buyer_limit"] = limit
        for sku_id in _skus(server, items):
            server.call("PUT", f"/v1/drops/{drop}/offers/{sku_id}", body)
        _done(server, drop, as_json)

    remote(url, api_key, go)


@drops_app.command("bundle")
def bundle(
    drop: Drop,
    ref: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle id or code.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Sell a bundle in the drop (offer each of its SKUs first)."""

    def go(server: Server) -> None:
        bundle_id = ref
        if not ref.startswith("bdl_"):
            found = [b["id"] for b in server.get("/v1/bundles") if b["code"] == ref]
            if not found:
                raise Problem("not_found", f"no active bundle has the code {ref!r}",
                              "dropline bundles list")  # fmt: skip
            bundle_id = found[0]
        server.call("POST", f"/v1/drops/{drop}/bundles", {"bundle_id": bundle_id})
        _done(server, drop, as_json)

    remote(url, api_key, go)


@drops_app.command("schedule")
def schedule(
    drop: Drop,
    at: Annotated[
        str | None, typer.Option(metavar="TIME", help="Start time, e.g. 2026-12-12T20:00Z.")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Schedule a draft drop (optionally setting when it starts); go live with
    `dropline drops live DROP`.

    Example:

      dropline drops schedule $DROP --at 2026-12-12T20:00Z
    """

    def go(server: Server) -> None:
        if at:
            server.call("PATCH", f"/v1/drops/{drop}", {"starts_at": _when(at)})
        _move(server, drop, "scheduled")
        _done(server, drop, as_json)

    remote(url, api_key, go)


@drops_app.command("live")
def live(
    drop: Drop,
    override_reason: Annotated[
        str,
        typer.Option(
            metavar="TEXT",
            help="Go live although the readiness gate blocks, and say why (kept in the "
            "drop's history with who and what it overrode).",
        ),
    ] = "",
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Go live now: buyers can place holds (a draft is scheduled first).

    The readiness gate (DROPLINE_READINESS_GATE=enforce, the default) refuses while an
    item blocks (`dropline drops ready DROP` lists them): fix them, or give
    --override-reason.

    Example:

      dropline drops live $DROP --override-reason "counted on paper at 09:00"
    """

    def go(server: Server) -> None:
        if server.get(f"/v1/drops/{drop}")["status"] == "draft":
            _move(server, drop, "scheduled")
        body = {"to": "live"} | ({"override_reason": override_reason} if override_reason else {})
        server.call("POST", f"/v1/drops/{drop}/transitions", body)
        _done(server, drop, as_json)

    remote(url, api_key, go)


SkuOpt = Annotated[
    str | None, typer.Option("--sku", metavar="SKU", help="Only this SKU (id or code).")
]


@drops_app.command("pause")
def pause(
    drop: Drop,
    sku: SkuOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Stop new holds for the whole drop, or for one SKU with --sku (holds already
    placed can still be paid).

    Example:

      dropline drops pause $DROP --sku LOGO-HOODIE-BLACK-M
    """

    def go(server: Server) -> None:
        if sku:
            server.call("POST", f"/v1/drops/{drop}/skus/{_skus(server, [sku])[0]}/pause")
        else:
            _move(server, drop, "paused")
        _done(server, drop, as_json)

    remote(url, api_key, go)


@drops_app.command("resume")
def resume(
    drop: Drop,
    sku: SkuOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Take new holds again, for the whole drop or one SKU."""

    def go(server: Server) -> None:
        if sku:
            server.call("POST", f"/v1/drops/{drop}/skus/{_skus(server, [sku])[0]}/resume")
        else:
            _move(server, drop, "live")
        _done(server, drop, as_json)

    remote(url, api_key, go)


@drops_app.command("end")
def end(
    drop: Drop,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """End the drop: open holds are released and every unsold unit goes back to
    available. Only a restock wave planned on the ended drop reopens it (dropline drops
    restock). Then: dropline report DROP."""
    if not yes and not typer.confirm(f"End {drop}? Unsold units go back to stock.", default=False):
        raise typer.Exit(1)

    def go(server: Server) -> None:
        _move(server, drop, "ended")
        _done(server, drop, as_json)

    remote(url, api_key, go)
