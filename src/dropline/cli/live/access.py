"""``dropline drops windows`` and ``dropline drops limits``: who may buy from when, and
how often — a drop's access windows and rate limits, through the running server."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer
from rich.table import Table

from dropline.cli.console import JsonFlag, add_columns, console, print_table, show, utc_time
from dropline.cli.remote import KeyOpt, Server, UrlOpt, remote
from dropline.web.render import human_time

windows_app = typer.Typer(
    help="""Access windows: members first, then everyone.

    A window opens at its time for the tiers it names (from the buyer token's `tiers`
    claim; `*` is any member; no tiers is the public), optionally with its own units
    per SKU; what a window leaves unsold flows to the next. The engine checks them in
    every hold, so a direct API call cannot skip one. See docs/audience.md.""",
    no_args_is_help=True,
)

Drop = Annotated[str, typer.Argument(metavar="DROP", help="Drop id (drp_...).")]


def _print_access(a: dict[str, Any]) -> None:
    if not a["windows"]:
        console.print("No access windows: everyone may buy while the drop is live.")
    else:
        t = Table()
        add_columns(t, "#", "name", "opens", "tiers", "allocation", "", wrap=("allocation",))
        for i, w in enumerate(a["windows"], 1):
            alloc = w["allocation"]
            t.add_row(
                str(i),
                w["name"] or "—",
                human_time(w["starts_at"]),
                ", ".join(w["tiers"]) or "everyone",
                "the rest"
                if alloc is None
                else ", ".join(f"{s}: {n:,}" for s, n in alloc.items()) or "none",
                "open" if w["open"] else "",
            )
        print_table(t)
        if a["next_window_at"]:
            console.print(f"next window opens {human_time(a['next_window_at'])}")
    lim = {k: v for k, v in a["limits"].items() if v is not None}
    console.print(
        "limits: " + (", ".join(f"{k.replace('_', ' ')} {v}" for k, v in lim.items()) or "none")
    )
    if a["refusals"]:
        console.print(
            "refused: " + ", ".join(f"{k} {n:,}" for k, n in sorted(a["refusals"].items()))
        )


def _parse(spec: str, codes: dict[str, str]) -> dict[str, Any]:
    """``TIME [tiers=a,b] [alloc=SKU:N,...] [name=TEXT]`` as the API's window."""
    try:
        parts = shlex.split(spec)
    except ValueError as exc:
        raise typer.BadParameter(f"{spec!r}: {exc}") from None
    if not parts:
        raise typer.BadParameter("a window needs at least its time")
    window: dict[str, Any] = {"starts_at": utc_time(parts[0])}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq or key not in ("tiers", "alloc", "name"):
            raise typer.BadParameter(f"{part!r}: expected tiers=..., alloc=... or name=...")
        if key == "tiers":
            window["tiers"] = [t for t in value.split(",") if t]
        elif key == "name":
            window["name"] = value
        else:
            alloc: dict[str, int] = {}
            for item in (x for x in value.split(",") if x):
                sku, colon, n = item.rpartition(":")
                if not colon or not n.isdigit():
                    raise typer.BadParameter(f"{item!r}: expected SKU:UNITS, e.g. TEE-M:50")
                alloc[codes.get(sku, sku)] = int(n)
            window["allocation"] = alloc
    return window


@windows_app.command("show")
def show_windows(
    drop: Drop, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonFlag = False
) -> None:
    """The drop's windows, which have opened, when the next opens, its rate limits and
    what the engine refused so far."""

    def go(server: Server) -> None:
        a = server.get(f"/v1/drops/{drop}/access")
        show(a, as_json, lambda: _print_access(a))

    remote(url, api_key, go)


@windows_app.command("set")
def set_windows(
    drop: Drop,
    window: Annotated[
        list[str],
        typer.Option(
            "--window",
            "-w",
            metavar="SPEC",
            help="One window, in opening order: 'TIME tiers=gold,vip alloc=SKU:N,... "
            "name=TEXT', each part after TIME optional. SKU is a SKU id or code; tiers=* "
            "is any member; no tiers is the public; no alloc gives the window every unit "
            "left.",
        ),
    ],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace the drop's access windows (on a live drop, from the next hold on).

    Example:

      dropline drops windows set $DROP \\
        -w '2026-12-12T20:00Z tiers=gold alloc=TEE-M:20,TEE-L:20 name=Gold' \\
        -w '2026-12-12T20:15Z tiers=* name=Members' \\
        -w '2026-12-12T20:30Z name=Everyone'
    """

    def go(server: Server) -> None:
        offers = server.get(f"/v1/drops/{drop}").get("offers", [])
        codes = {o["code"]: o["sku_id"] for o in offers if o.get("code")}
        body = {"windows": [_parse(w, codes) for w in window]}
        a = server.call("PUT", f"/v1/drops/{drop}/access/windows", body)
        show(a, as_json, lambda: _print_access(a))

    remote(url, api_key, go)


@windows_app.command("clear")
def clear_windows(
    drop: Drop, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonFlag = False
) -> None:
    """Remove every window: everyone may buy while the drop is live."""

    def go(server: Server) -> None:
        a = server.call("PUT", f"/v1/drops/{drop}/access/windows", {"windows": []})
        show(a, as_json, lambda: _print_access(a))

    remote(url, api_key, go)


PerMinute = Annotated[int | None, typer.Option(metavar="N", help="Per minute; unset: no limit.")]


def limits(
    drop: Drop,
    holds_per_buyer: PerMinute = None,
    holds_per_address: PerMinute = None,
    checkouts_per_buyer: PerMinute = None,
    checkouts_per_address: PerMinute = None,
    token_max_age: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            help="Refuse buyer tokens issued (iat) longer ago, 10–86400; unset: any age.",
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the drop's rate limits and buyer-token max age (all of them: a limit left
    out is removed). Refusals are 429 rate_limited with Retry-After, and 401
    token_too_old; the monitor counts them.

    Example:

      dropline drops limits $DROP --holds-per-buyer 10 --holds-per-address 60 \\
        --checkouts-per-buyer 5 --token-max-age 900
    """
    body = {
        "holds_per_buyer": holds_per_buyer,
        "holds_per_address": holds_per_address,
        "checkouts_per_buyer": checkouts_per_buyer,
        "checkouts_per_address": checkouts_per_address,
        "token_max_age_s": token_max_age,
    }

    def go(server: Server) -> None:
        a = server.call("PUT", f"/v1/drops/{drop}/access/limits", body)
        show(a, as_json, lambda: _print_access(a))

    remote(url, api_key, go)
