"""``holdmusic doctor``: one command that says what is set up and what is not."""

from __future__ import annotations

from typing import Any

import click

from holdmusic import app
from holdmusic.cli._common import (
    DAILY_ENV,
    PRIVATE_ENV,
    STORAGE_KEYS,
    env_help,
    environment,
    finish,
    storage_option_set,
)
from holdmusic.cli._render import show


@click.command("doctor", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
@storage_option_set(bucket_required=False)  # a missing bucket is one of the checks
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON array.")
def doctor(as_json: bool, **params: Any) -> None:
    """Check, line by line: storage credentials, the bucket, that the prefix is publicly
    readable (a probe object is uploaded, read anonymously, deleted), that the public
    base URL maps to the bucket, and that Daily accepts the API key.

    Each failing line says how to fix it. Exit 1 if any line fails.
    """
    settings = {k: params[k] for k in STORAGE_KEYS if k != "cache_control"}
    checks = []
    for check in app.doctor(env=environment(), **settings):
        checks.append(check)
        if not as_json:
            if check.skipped:
                mark = click.style("skip", fg="yellow")
            else:
                mark = (
                    click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
                )
            click.echo(f"{mark} {check.name}: {show(check.detail)}")
            if not check.ok and check.fix:
                click.echo(f"     fix: {show(check.fix)}")
    finish(app.doctor_result(checks), as_json=as_json)
