"""``dropline db``: create and migrate the schema."""

from __future__ import annotations

import typer

from dropline.cli.console import console
from dropline.config import load_settings

db_app = typer.Typer(help="Database schema: create and migrate.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create the schema or migrate it to the newest revision (safe to repeat)."""
    from dropline.store.db import upgrade

    settings = load_settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at [bold]{revision}[/bold]: {settings.database_url}")
