"""``holdmusic configs list|show|check``: what the dial-in configs hold now."""

from __future__ import annotations

import json
from typing import Any

import click

from holdmusic import app
from holdmusic.cli import Group
from holdmusic.cli._common import (
    DAILY_ENV,
    PRIVATE_ENV,
    env_help,
    environment,
    finish,
    limit_options,
    limits_from,
    listen_option,
    print_json,
    verdict_options,
    write_junit,
)
from holdmusic.cli._render import print_table, print_verdict


@click.group("configs", cls=Group, epilog=env_help(*DAILY_ENV))
def configs() -> None:
    """List and inspect Daily dial-in configs (needs DAILY_API_KEY)."""


@configs.command("list", epilog=env_help(*DAILY_ENV))
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
    found = app.list_configs(env=environment(), type=type_, name_prefix=name_prefix)
    if as_json:
        print_json(found.to_dict())
        return
    rows = [[c.id, c.type, c.phone_number or "", c.name_prefix or ""] for c in found.configs]
    print_table(["id", "type", "phone number", "name prefix"], rows)
    n = len(found.configs)
    click.echo(f"{n} dial-in config{'s' if n != 1 else ''}", err=True)


@configs.command("show", epilog=env_help(*DAILY_ENV))
@click.argument("config_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole object as JSON.")
@click.option("--show-secrets", is_flag=True, help="Print the hmac secret instead of masking it.")
def show(config_id: str, as_json: bool, show_secrets: bool) -> None:
    """One config, whole, including hold_music_url (the hmac secret masked)."""
    view = app.show_config(config_id, env=environment(), show_secrets=show_secrets)
    if as_json:
        print_json(view.to_dict())
        return
    config = view.config
    rows = [["id", config.id], ["type", config.type]]
    rows += [[k, _shown(v)] for k, v in sorted(config.config.items())]
    if "hold_music_url" not in config.config:
        rows.append(["hold_music_url", "(not set)"])
    print_table(["field", "value"], rows)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@configs.command("check", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
@click.argument("config_ids", nargs=-1, metavar="[ID]...")
@limit_options
@verdict_options("config")
@listen_option
def check(
    config_ids: tuple[str, ...],
    max_bytes: int,
    max_seconds: float,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
    listen: bool,
) -> None:
    """Audit what live numbers play: fetch each pinless config's hold_music_url
    (or the named configs') anonymously and validate it as Daily will fetch it.

    Exit 1 when any config has no URL, or a URL that fails.
    """
    result = app.check_configs(
        list(config_ids) or None,
        env=environment(),
        limits=limits_from(max_bytes, max_seconds),
        strict=strict,
        listen=listen,
    )
    if not result.audited:
        if as_json:
            print_json(result.to_dict())
        click.echo("no pinless_dialin configs on this domain", err=True)
        raise click.exceptions.Exit(0)
    if not as_json:
        for a in result.audited:
            url = a.hold_music_url
            print_verdict(a.verdict, strict, note=f"url: {url}" if url else None)
        n, failed = len(result.audited), result.failed
        noun = "config" if n == 1 else "configs"
        click.echo(f"{n} {noun} checked: {n - failed} passed, {failed} failed")
    if junit_path:
        write_junit(junit_path, result.verdicts, strict, "holdmusic configs check")
    finish(result, as_json=as_json)
