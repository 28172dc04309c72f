"""``holdmusic upload FILE`` and ``holdmusic bucket-policy``."""

from __future__ import annotations

from typing import Any

import click

from holdmusic import app
from holdmusic.cli._common import (
    PRIVATE_ENV,
    env_help,
    environment,
    finish,
    limit_options,
    limits_from,
    prefix_option,
    print_json,
    storage_options,
    storage_settings,
    to_stderr,
)
from holdmusic.cli._render import Steps, show


@click.command("upload", epilog=env_help(*PRIVATE_ENV))
@click.argument("file", type=click.Path(dir_okay=False))
@storage_options
@limit_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def upload(file: str, as_json: bool, max_bytes: int, max_seconds: float, **params: Any) -> None:
    """Validate FILE, upload it under a content-addressed key, and prove the URL is public.

    Prints the public URL on stdout (or JSON with --json); steps go to stderr. Exit 0
    only when the object is in place and anonymously serves the file's exact bytes.
    """
    env = environment()
    settings = storage_settings(params)
    result = app.upload(
        file, settings, env=env, limits=limits_from(max_bytes, max_seconds), observer=Steps()
    )
    if not as_json and result.ok and result.url:
        click.echo(result.url)
    finish(result, as_json=as_json)


@click.command("bucket-policy")
@click.option(
    "--bucket",
    envvar="HOLDMUSIC_BUCKET",
    show_envvar=True,
    required=True,
    help="Bucket whose policy to print or change.",
)
@prefix_option("Key prefix (folder) to make publicly readable.")
@click.option(
    "--apply", is_flag=True, help="Put the policy on the bucket (keeps other statements)."
)
@click.option(
    "--endpoint-url",
    envvar="HOLDMUSIC_ENDPOINT_URL",
    show_envvar=True,
    help="S3-compatible endpoint (R2, MinIO, Spaces, SeaweedFS).",
)
@click.option(
    "--region",
    envvar="HOLDMUSIC_REGION",
    show_envvar=True,
    help="Storage region (default: boto3's).",
)
def bucket_policy(
    bucket: str, prefix: str, apply: bool, endpoint_url: str | None, region: str | None
) -> None:
    """Print the minimal bucket policy that makes the folder PREFIX/ publicly readable.

    Modern AWS buckets refuse object ACLs; a policy granting anonymous s3:GetObject on
    the prefix (and nothing else) is how a prefix becomes public. With --apply, put it.
    """
    plan = app.bucket_policy(
        bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region, env=environment()
    )
    if not apply:
        print_json(plan.policy)
        to_stderr(f"Would allow anonymous s3:GetObject on {show(plan.resource)} (--apply puts it)")
        return
    print_json(app.apply_bucket_policy(plan))
    to_stderr(f"Applied: anonymous s3:GetObject on {show(plan.resource)}")
