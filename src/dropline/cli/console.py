"""What every command group shares: the console, one-line errors with a hint, the async
runner, tables that never cut an id, ``--json`` output and small parsers. Command
modules import this, never the root (``cli/app.py``).

Help that teaches: ``TextArgs`` (the root group) tidies every command once — help text
reflowed into paragraphs (indented lines, such as examples, kept as written) and no type
tags (``<str>``, ``<bool>``): an option shows only a placeholder it names itself
(``metavar``) or its choices."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from typer.core import TyperArgument, TyperGroup, TyperOption

from dropline.api.plain import plain
from dropline.config import Settings, load_settings
from dropline.domain.errors import DroplineError
from dropline.domain.inputs import text_problem

if TYPE_CHECKING:
    from dropline.bootstrap import Container

console = Console(soft_wrap=True)
T = TypeVar("T")

#: ``--json`` on every listing and showing command: the same data for scripts and jq.
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts and jq) instead of a table.")
]

#: What to try next, per error code: the second half of every one-line error.
HINTS: dict[str, str] = {
    "not_found": "check the id (the list commands show every id in full)",
    "archived": "restore it first (the restore command of its group), or pick another",
    "validation_error": "see the command's --help for what each option takes",
    "invalid_transition": "a drop goes draft → scheduled → live ⇄ paused → ended",
    "conflict": "reload what you changed (its show command) and try again",
    "unauthenticated": "give an ops or admin key: --api-key or OPS_KEY (source .dropline/demo.env)",
    "forbidden": "this needs an ops or admin key",
    "drop_not_live": "the drop must be live: dropline drops live DROP",
    "not_ready": "see what blocks: dropline drops ready DROP; fix it, or go live anyway "
    "with --override-reason TEXT (kept in the drop's history)",
}


class _PlainOption(TyperOption):
    """An option without a type tag: its own placeholder, its choices, or nothing."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        desc = self.type_descriptor
        if desc.is_choice and desc.choices:
            return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
        return None


class _PlainArgument(TyperArgument):
    """An argument without a type tag: its name (``DROP``) says what it is."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _reflow(text: str | None) -> str | None:
    """Paragraphs joined into one line each (the terminal wraps them evenly); a paragraph
    whose lines are indented (examples, lists) keeps its line breaks."""
    if not text:
        return text
    out = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines = para.splitlines()
        if any(ln.startswith((" ", "\t")) for ln in lines[1:]) or para.startswith(" "):
            out.append(para)
        else:
            out.append(" ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


def tidy(cmd: Any) -> None:
    """Reflow ``cmd``'s help and its parameters' help, drop their type tags, and do the
    same for every subcommand."""
    cmd.help = _reflow(cmd.help)
    if cmd.short_help:
        cmd.short_help = _reflow(cmd.short_help)
    # --help is made on first use and cached: make it now, so it is tidied too.
    help_option = cmd.get_help_option(cmd.context_class(cmd))
    for param in [*cmd.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperOption) and not isinstance(param, _PlainOption):
            param.__class__ = _PlainOption
        elif isinstance(param, TyperArgument) and not isinstance(param, _PlainArgument):
            param.__class__ = _PlainArgument
        if isinstance(param, TyperOption):
            param.help = _reflow(param.help)
    for sub in getattr(cmd, "commands", {}).values():
        tidy(sub)


class TextArgs(TyperGroup):
    """The root group: every argument of every command must be text the database can
    store (``domain/inputs.py``). Bytes that are not UTF-8 reach Python as lone
    surrogates (``surrogateescape``) and failed deep in a transaction with a traceback;
    here they are a usage error (exit code 2) naming the argument. A file name counts
    too: one that is not UTF-8 is refused, renaming it is the fix."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy(self)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for p in params:  # the shell-completion options are added after __init__
            if isinstance(p, TyperOption) and not isinstance(p, _PlainOption):
                p.__class__ = _PlainOption
        return params

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        for n, arg in enumerate(args, start=1):
            problem = text_problem(arg)
            if problem:
                raise typer.BadParameter(problem, param_hint=f"argument {n}")
        return super().parse_args(ctx, args)


def utc_time(text: str) -> str:
    """``2026-12-12T20:00Z`` or ``2026-12-12 20:00`` (UTC when no zone is given) as the
    API's RFC 3339 UTC time; anything else is a usage error that names the text."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time like 2026-12-12T20:00Z") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def fail(exc: DroplineError, hints: Mapping[str, str] | None = None) -> str:
    """A domain error as one console line, ``error [code] detail — hint``: what went
    wrong and what to try (``hints`` by code, else ``HINTS``).

    The text is escaped: Rich would otherwise read ``[code]`` as markup and drop it."""
    return error_line(exc.code, exc.detail, (hints or {}).get(exc.code) or HINTS.get(exc.code))


def error_line(code: str, detail: str, hint: str | None = None) -> str:
    """One console line for an error: ``error [code] detail — hint``."""
    line = f"[red]error[/red] {escape(f'[{code}] {detail}')}"
    return f"{line} [dim]— {escape(hint)}[/dim]" if hint else line


def run(
    fn: Callable[[Container], Awaitable[T]],
    settings: Settings | None = None,
    hints: Mapping[str, str] | None = None,
) -> T:
    """Build the container, run ``fn``, close it, and turn a domain error into one
    printed line with a hint and exit code 1 (no traceback: the user gets the code and
    the fix). A database without the schema says to run ``dropline db upgrade``.

    The services (and SQLAlchemy under them) are imported here, not with the command
    modules: ``--help`` and the commands that talk to the server never load them."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from dropline.bootstrap import build

    async def main() -> T:
        c = await build(settings or load_settings(background_tasks=False))
        try:
            return await fn(c)
        finally:
            await c.close()

    try:
        return asyncio.run(main())
    except DroplineError as exc:
        console.print(fail(exc, hints))
        raise typer.Exit(1) from None
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig)
        if "no such table" not in text and "does not exist" not in text:
            raise
        console.print(
            error_line(
                "no_schema",
                "the database has no dropline tables yet",
                "run: .venv/bin/dropline db upgrade",
            )
        )
        raise typer.Exit(1) from None


def print_table(table: Table) -> None:
    """Print ``table`` without cutting what the next command needs: to a terminal at
    least as wide as its unbreakable columns (ids, codes, money; the rest wraps), to a
    pipe or file at its full natural width (nothing wraps)."""
    for col in table.columns:  # a cell may never end in "…"
        col.overflow = "fold" if col.overflow == "ellipsis" else col.overflow
    size = Measurement.get(console, console.options.update(width=10_000), table)
    width = max(console.width, size.minimum) if console.is_terminal else size.maximum
    if width <= console.width:
        console.print(table)
    else:  # Console.print never goes wider than its console: print on a wider one
        wide = Console(width=width, file=console.file, no_color=console.no_color)
        wide.print(table)


def id_column(table: Table, header: str = "id") -> None:
    """Add a column of ids: never wrapped, never cut short."""
    table.add_column(header, no_wrap=True, overflow="ignore", style="cyan")


def add_columns(table: Table, *headers: str, wrap: tuple[str, ...] = ()) -> None:
    """Add columns that stay on one line (codes, money, counts: numbers right-aligned
    when the header says so with a leading ``>``), except those named in ``wrap``."""
    for h in headers:
        right = h.startswith(">")
        name = h.lstrip(">")
        table.add_column(name, justify="right" if right else "left", no_wrap=name not in wrap)


def show(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """``--json``: print ``data`` as JSON; otherwise call ``render`` (a table)."""
    if as_json:
        console.print_json(json.dumps(plain(data), default=str))
    else:
        render()


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
