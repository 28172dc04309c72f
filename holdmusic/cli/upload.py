"""``holdmusic upload FILE`` and ``holdmusic bucket-policy``."""

from __future__ import annotations

from typing import Any

import click

from holdmusic.cli._common import (
    limit_options,
    limits_from,
    prefix_option,
    print_json,
    published_dict,
    report_published,
    report_verdict,
    storage_options,
    storage_settings,
    to_stderr,
)


@click.command("upload")
@click.argument("file", type=click.Path(dir_okay=False))
@storage_options
@limit_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def upload(file: str, as_json: bool, max_bytes: int, max_seconds: float, **params: Any) -> None:
    """Validate FILE, upload it under a content-addressed key, and prove the URL is public.

    Prints the public URL on stdout (or JSON with --json); steps go to stderr. Exit 0
    only when the object is in place and anonymously serves the file's exact bytes.
    """
    from holdmusic import pipeline

    settings = storage_settings(params)
    prepared = pipeline.prepare(file, limits_from(max_bytes, max_seconds))
    report_verdict(prepared)
    if not prepared.ok:
        if as_json:
            print_json(published_dict(prepared, None))
        raise click.exceptions.Exit(1)
    published = pipeline.store_and_verify(prepared, settings)
    report_published(published)
    if as_json:
        print_json(published_dict(prepared, published))
    elif published.ok:
        click.echo(published.stored.url)
    raise click.exceptions.Exit(0 if published.ok else 1)


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
    from holdmusic import storage

    # Checked before anything else, and shown exactly as it will be written.
    resource = storage.policy_resource(bucket, prefix)
    settings = storage.StorageSettings(
        bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region
    )
    if not apply:
        print_json(storage.bucket_policy(bucket, settings.prefix))
        to_stderr(f"Would allow anonymous s3:GetObject on {resource} (--apply puts it)")
        return
    policy = storage.apply_bucket_policy(settings)
    print_json(policy)
    to_stderr(f"Applied: anonymous s3:GetObject on {resource}")
