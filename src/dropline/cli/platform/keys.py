"""``dropline keys`` and ``dropline buyer-token``: credentials for the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dropline.cli.console import console, duration, run
from dropline.config import DEV_BUYER_SECRET, load_settings
from dropline.domain.errors import DroplineError
from dropline.domain.platform.api_keys import SCOPES

if TYPE_CHECKING:
    from dropline.bootstrap import Container

keys_app = typer.Typer(help="API keys: create, list, rotate, revoke.", no_args_is_help=True)

ExpiresIn = Annotated[
    str | None,
    typer.Option("--expires-in", help="the key stops working after this long: 90d, 24h, ..."),
]


def _expiry(expires_in: str | None) -> datetime | None:
    return None if expires_in is None else datetime.now(UTC) + duration(expires_in)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help=f"one of {', '.join(SCOPES)}")],
    name: Annotated[str, typer.Option(help="who or what uses it")] = "cli",
    expires_in: ExpiresIn = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""

    async def go(c: Container) -> None:
        raw, rec = await c.access.create_key(name, scope, _expiry(expires_in))
        until = f", expires {_when(rec.expires_at)} UTC" if rec.expires_at else ""
        console.print(f"{rec.id} ({scope}{until}): [bold]{raw}[/bold]")

    run(go)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets), with expiry, last use and successor."""

    async def go(c: Container) -> None:
        table = Table(
            "id",
            "name",
            "prefix",
            "scope",
            "created",
            "expires",
            "last used",
            "revoked",
            "replaced by",
        )
        for k in await c.access.list_keys():
            table.add_row(
                k.id,
                k.name,
                k.prefix + "…",
                ",".join(sorted(k.scopes)),
                _when(k.created_at),
                _when(k.expires_at),
                _when(k.last_used_at),
                _when(k.revoked_at),
                k.replaced_by or "",
            )
        console.print(table)

    run(go)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once, in every API process."""

    async def go(c: Container) -> None:
        await c.access.revoke_key(key_id)
        console.print(f"revoked {key_id}")

    run(go)


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace: Annotated[
        str, typer.Option(help="how long the old key keeps working: 24h, 7d, 0 for none")
    ] = "24h",
    expires_in: ExpiresIn = None,
) -> None:
    """Issue a successor (same name and scope, printed once) and retire the old key
    after the grace period."""

    async def go(c: Container) -> None:
        raw, rec = await c.access.rotate_key(key_id, duration(grace), _expiry(expires_in))
        old = await c.access.get_key(key_id)
        console.print(f"{rec.id} ({sorted(rec.scopes)[0]}): [bold]{raw}[/bold]")
        console.print(f"{key_id} stops working at {_when(old.expires_at)} UTC")

    run(go)


def buyer_token(
    buyer_id: str,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
    v1: Annotated[
        bool, typer.Option("--v1", help="the deprecated v1 format instead of a JWT")
    ] = False,
    tier: Annotated[
        list[str] | None,
        typer.Option(
            "--tier",
            metavar="TIER",
            help="a membership tier for the tiers claim (repeat for several); access "
            "windows admit buyers by it (docs/audience.md)",
        ),
    ] = None,
) -> None:
    """Mint a buyer token as the creator's site would (an HS256 JWT with the configured
    key and kid), for testing.

    Example:

      dropline buyer-token fan-42 --tier gold
    """
    from dropline.bootstrap import make_buyer_tokens
    from dropline.services.platform.access import mint_buyer_token

    settings = load_settings()
    dev_key = not (settings.buyer_token_keys or settings.buyer_token_jwks_url)
    if settings.buyer_token_secret == DEV_BUYER_SECRET and (dev_key or v1):
        Console(stderr=True).print(
            "[yellow]using the development secret; set "
            "DROPLINE_BUYER_TOKEN_KEYS or DROPLINE_BUYER_TOKEN_SECRET in production[/yellow]",
            highlight=False,
        )
    if v1:
        if tier:
            raise typer.BadParameter(
                "v1 tokens carry no tiers; leave out --v1", param_hint="--tier"
            )
        typer.echo(mint_buyer_token(settings.buyer_token_secret, buyer_id, ttl))
        return
    try:
        typer.echo(make_buyer_tokens(settings).mint(buyer_id, ttl, tier or None))
    except DroplineError as exc:
        Console(stderr=True).print(f"[red]error[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None
