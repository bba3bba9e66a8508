"""Commands that act on a live drop talk to the running server, over its API.

A live drop's units, holds and pauses are in the reservation engine of the process that
sells it; with the embedded engine that is the server's memory, which another process
(this command) cannot reach. So ``dropline drops`` sends every change through the API
the pages and the storefront use, with an ops key, and the server's engine hears it at
once. Problems come back as one line with the problem's code and a hint, never JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer

from dropline.cli.console import HINTS, console, error_line
from dropline.config import load_settings

T = TypeVar("T")

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=["DROPLINE_URL", "DL"],
        show_envvar=False,
        metavar="URL",
        help="The server's address (env DROPLINE_URL or DL; default: the settings' "
        "DROPLINE_PORT on 127.0.0.1).",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=["DROPLINE_OPS_KEY", "OPS_KEY"],
        show_envvar=False,
        metavar="KEY",
        help="An ops or admin key (env DROPLINE_OPS_KEY or OPS_KEY, as "
        "`source .dropline/demo.env` sets it).",
    ),
]


class Problem(Exception):
    """A problem the server answered, or no answer at all."""

    def __init__(self, code: str, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.hint = code, detail, hint


class Server:
    """The running server's API, as an ops key sees it."""

    def __init__(self, url: str | None, key: str | None) -> None:
        self.url = (url or load_settings().base_url).rstrip("/")
        if not key:
            raise Problem(
                "no_key",
                "an ops or admin key is needed",
                "--api-key KEY, or OPS_KEY (source .dropline/demo.env; "
                "or .venv/bin/dropline keys create --scope ops)",
            )
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON the API answered; a problem raises ``Problem``."""
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.TransportError:
            raise Problem(
                "no_server",
                f"nothing answers at {self.url}",
                "start the server (make run, or .venv/bin/dropline serve), or pass --url",
            ) from None
        if resp.status_code >= 400:
            try:
                problem = resp.json()
                code, detail = str(problem["code"]), str(problem["detail"])
            except (ValueError, KeyError, TypeError):
                code, detail = f"http_{resp.status_code}", resp.text[:200]
            raise Problem(code, detail, HINTS.get(code))
        return resp.json()

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def close(self) -> None:
        self._http.close()


def remote(url: str | None, key: str | None, fn: Callable[[Server], T]) -> T:
    """Run ``fn`` against the server; a problem is one printed line and exit code 1."""
    try:
        server = Server(url, key)
    except Problem as exc:
        _exit(exc)
    try:
        return fn(server)
    except Problem as exc:
        _exit(exc)
    finally:
        server.close()


def _exit(exc: Problem) -> NoReturn:
    console.print(error_line(exc.code, exc.detail, exc.hint))
    raise typer.Exit(1)
