"""``holdmusic configs list|show``: what the dial-in configs hold now."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from holdmusic import rules
from holdmusic.cli.validate import (
    limit_options,
    listen_option,
    listener,
    print_verdict,
    verdict_options,
)

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient
    from holdmusic.pipeline import Audited


def daily_client(**kwargs: Any) -> DailyClient:
    """The client every Daily command uses: DAILY_API_KEY and DAILY_API_URL from the env."""
    from holdmusic.daily import DailyClient

    return DailyClient.from_env(**kwargs)


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; tab-separated lines, never cut, when piped."""
    if not sys.stdout.isatty():
        for row in [columns, *rows]:
            click.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for column in table.columns:
        column.overflow = "fold"  # a URL cut with "…" is a broken URL
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


SECRET_FIELDS = ("hmac",)


@configs.command("show")
@click.argument("config_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole object as JSON.")
@click.option("--show-secrets", is_flag=True, help="Print the hmac secret instead of masking it.")
def show(config_id: str, as_json: bool, show_secrets: bool) -> None:
    """One config, whole, including hold_music_url (the hmac secret masked)."""
    from holdmusic import configid
    from holdmusic.daily import DialinConfig

    configid.check(config_id)
    with daily_client() as client:
        config = client.get_config(config_id)
    if not show_secrets:
        masked = {
            k: "********" if k in SECRET_FIELDS and v else v for k, v in config.config.items()
        }
        config = DialinConfig(config.id, config.type, masked)
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


@configs.command("check")
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
    from holdmusic import configid, pipeline

    for cid in config_ids:
        configid.check(cid)  # before any request
    inspect = listener("configs check --listen") if listen else None
    with daily_client() as client:
        audited = pipeline.audit(
            client,
            list(config_ids) or None,
            limits=rules.Limits(max_bytes, max_seconds),
            inspect=inspect,
        )
    if not audited:
        click.echo("no pinless_dialin configs on this domain", err=True)
        raise click.exceptions.Exit(0)
    verdicts = [_as_verdict(a) for a in audited]
    urls = [a.config.hold_music_url if a.config else None for a in audited]
    failed = sum(not v.passed(strict) for v in verdicts)
    if as_json:
        results = [
            {"config_id": a.config_id, "hold_music_url": url, **v.to_dict(strict)}
            for a, v, url in zip(audited, verdicts, urls, strict=True)
        ]
        click.echo(json.dumps(results, indent=2))
    else:
        for v, url in zip(verdicts, urls, strict=True):
            print_verdict(v, strict, note=f"url: {url}" if url else None)
        passed = len(verdicts) - failed
        noun = "config" if len(verdicts) == 1 else "configs"
        click.echo(f"{len(verdicts)} {noun} checked: {passed} passed, {failed} failed")
    if junit_path:
        from holdmusic import junit

        with open(junit_path, "w", encoding="utf-8") as fh:
            fh.write(junit.render(verdicts, strict=strict, suite="holdmusic configs check"))
    raise click.exceptions.Exit(1 if failed else 0)


def _as_verdict(a: Audited) -> rules.Verdict:
    """A config's audit as a verdict named after the config, so output reads like validate."""
    name = a.config_id
    if a.config is not None and a.config.phone_number:
        name += f" ({a.config.phone_number})"
    if a.verdict is not None:
        return replace(a.verdict, path=name)
    code = "no_hold_music" if a.config is not None else "config_error"
    return rules.Verdict(name, None, None, (rules.Problem(code, "error", a.error or "unknown"),))
