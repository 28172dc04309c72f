"""``holdmusic configs list|show``: what the dial-in configs hold now."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient


def daily_client(**kwargs: Any) -> DailyClient:
    """The client every Daily command uses: DAILY_API_KEY and DAILY_API_URL from the env."""
    from holdmusic.daily import DailyClient

    return DailyClient.from_env(**kwargs)


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=True).print(table)


@click.group("configs")
def configs() -> None:
    """List and inspect Daily dial-in configs (needs DAILY_API_KEY)."""


@configs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option(
    "--type",
    "type_",
    type=click.Choice(["pinless_dialin", "pin_dialin"]),
    help="Only configs of this type.",
)
@click.option("--name-prefix", help="Only configs whose name_prefix starts with this.")
def list_(as_json: bool, type_: str | None, name_prefix: str | None) -> None:
    """Every dial-in config: id, type, phone number, name prefix.

    Daily's list trims each config; use 'configs show ID' for hold_music_url.
    """
    with daily_client() as client:
        found = client.list_configs(**({"type": type_} if type_ else {}))
    if name_prefix is not None:
        found = [c for c in found if (c.name_prefix or "").startswith(name_prefix)]
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in found], indent=2))
        return
    rows = [[c.id, c.type, c.phone_number or "", c.name_prefix or ""] for c in found]
    print_table(["id", "type", "phone number", "name prefix"], rows)
    click.echo(f"{len(found)} dial-in config{'s' if len(found) != 1 else ''}", err=True)


@configs.command("show")
@click.argument("config_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole object as JSON.")
def show(config_id: str, as_json: bool) -> None:
    """One config, whole, including hold_music_url."""
    with daily_client() as client:
        config = client.get_config(config_id)
    if as_json:
        click.echo(json.dumps(config.to_dict(), indent=2))
        return
    rows = [["id", config.id], ["type", config.type]]
    rows += [[k, _show(v)] for k, v in sorted(config.config.items())]
    if "hold_music_url" not in config.config:
        rows.append(["hold_music_url", "(not set)"])
    print_table(["field", "value"], rows)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
