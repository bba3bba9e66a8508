"""``dropline keys`` and ``dropline buyer-token``: credentials for the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dropline.bootstrap import Container
from dropline.cli.console import console, run
from dropline.config import DEV_BUYER_SECRET, load_settings
from dropline.services.platform.access import SCOPES, mint_buyer_token

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help=f"one of {', '.join(SCOPES)}")],
    name: Annotated[str, typer.Option(help="who or what uses it")] = "cli",
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""

    async def go(c: Container) -> None:
        raw, rec = await c.access.create_key(name, scope)
        console.print(f"{rec.id} ({scope}): [bold]{raw}[/bold]")

    run(go)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""

    async def go(c: Container) -> None:
        table = Table("id", "name", "prefix", "scope", "created", "revoked")
        for k in await c.access.list_keys():
            table.add_row(
                k.id,
                k.name,
                k.prefix + "…",
                ",".join(sorted(k.scopes)),
                str(k.created_at)[:19],
                str(k.revoked_at or "")[:19],
            )
        console.print(table)

    run(go)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once (other processes notice within 30 s)."""

    async def go(c: Container) -> None:
        await c.access.revoke_key(key_id)
        console.print(f"revoked {key_id}")

    run(go)


def buyer_token(
    buyer_id: str,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
) -> None:
    """Mint a signed buyer token, as the creator's site would, for testing."""
    settings = load_settings()
    if settings.buyer_token_secret == DEV_BUYER_SECRET:
        Console(stderr=True).print(
            "[yellow]using the development secret; set "
            "DROPLINE_BUYER_TOKEN_SECRET in production[/yellow]",
            highlight=False,
        )
    typer.echo(mint_buyer_token(settings.buyer_token_secret, buyer_id, ttl))
