"""What every command module shares: the consoles, the Hub of the running command, JSON
output, messages, and the common options. The command modules import it; it imports none
of them."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:  # --help imports no Hub (no SQLAlchemy) and no settings (no Pydantic)
    from customer_flow.core.config import Settings
    from customer_flow.hub import Hub

out = Console(soft_wrap=False)
err = Console(stderr=True, soft_wrap=True)


class State:
    """Options of the root command; the Hub is opened on first use, so --help needs no DB."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        self.settings = settings
        self.create = create  # only init and --create make a database that is not there
        self._hub: Hub | None = None

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            from customer_flow.hub import Hub

            self._hub = Hub(self.settings, create=self.create)
        return self._hub

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()


def get_hub(ctx: typer.Context) -> Hub:
    state: State = ctx.find_root().obj
    return state.hub


def print_json(value: Any) -> None:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def say(message: str) -> None:
    """A message for the person at the terminal: on stderr, so stdout stays data."""
    err.print(message, markup=False, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    say(f"error: {message}")
    raise typer.Exit(code)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
IdArg = Annotated[int, typer.Argument(help="The customer's ID.", min=1)]


def ask_password(given: str | None, env: str = "CUSTOMER_FLOW_PASSWORD") -> str:
    import os

    if given is not None:
        return given
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise typer.BadParameter(f"give --password or set ${env} (no terminal to ask on)")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def short(value: Any) -> str:
    text = "—" if value in (None, "", {}) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
