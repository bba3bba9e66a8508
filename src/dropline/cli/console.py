"""What every command group shares: the console, one-line errors, the async runner and
small parsers. Command modules import this, never the root (``cli/app.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from dropline.api.plain import plain
from dropline.bootstrap import Container, build
from dropline.config import Settings, load_settings
from dropline.domain.errors import DroplineError
from dropline.domain.inputs import text_problem

console = Console(soft_wrap=True)
T = TypeVar("T")


class TextArgs(TyperGroup):
    """The root group: every argument of every command must be text the database can
    store (``domain/inputs.py``). Bytes that are not UTF-8 reach Python as lone
    surrogates (``surrogateescape``) and failed deep in a transaction with a traceback;
    here they are a usage error (exit code 2) naming the argument. A file name counts
    too: one that is not UTF-8 is refused, renaming it is the fix."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        for n, arg in enumerate(args, start=1):
            problem = text_problem(arg)
            if problem:
                raise typer.BadParameter(problem, param_hint=f"argument {n}")
        return super().parse_args(ctx, args)


def fail(exc: DroplineError) -> str:
    """A domain error as one console line, ``error [code] detail``.

    The code is escaped: Rich would otherwise read ``[code]`` as markup and drop it."""
    return f"[red]error[/red] {escape(f'[{exc.code}] {exc.detail}')}"


def run(fn: Callable[[Container], Awaitable[T]], settings: Settings | None = None) -> T:
    """Build the container, run ``fn``, close it, and turn a domain error into one
    printed line and exit code 1 (no traceback: the user gets the code and the fix)."""

    async def main() -> T:
        c = await build(settings or load_settings(background_tasks=False))
        try:
            return await fn(c)
        finally:
            await c.close()

    try:
        return asyncio.run(main())
    except DroplineError as exc:
        console.print(fail(exc))
        raise typer.Exit(1) from None


def emit_json(fn: Callable[[Container], Awaitable[Any]]) -> None:
    """Run ``fn`` and print its result as JSON (datetimes as RFC 3339), for ``jq``."""

    async def wrapped(c: Container) -> None:
        console.print_json(json.dumps(plain(await fn(c)), default=str))

    run(wrapped)


def pairs(values: list[str], what: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` as ``{"a": "1", "b": "2"}``; a value without ``=`` is a usage error."""
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} must look like name=value, got {v!r}")
        out[key.strip()] = val.strip()
    return out


def json_file(path: Path) -> dict[str, Any]:
    """A JSON object read from ``path``."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` (or plain seconds) as a ``timedelta``;
    anything else is a usage error."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        amount = float(number)
    except ValueError:
        raise typer.BadParameter(
            f"a duration looks like 90s, 15m, 24h or 7d, got {text!r}"
        ) from None
    if amount < 0:
        raise typer.BadParameter(f"a duration cannot be negative, got {text!r}")
    return timedelta(seconds=amount * (unit or 1))
