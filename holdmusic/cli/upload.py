"""``holdmusic upload FILE`` and ``holdmusic bucket-policy``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from holdmusic import rules
from holdmusic.cli.validate import limit_options, print_verdict

if TYPE_CHECKING:
    from holdmusic.pipeline import Prepared, Published
    from holdmusic.storage import StorageSettings


def storage_option_set(
    bucket_required: bool,
) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """The options of every command that uploads; each also reads an environment variable."""
    options = [
        click.option(
            "--bucket",
            envvar="HOLDMUSIC_BUCKET",
            show_envvar=True,
            required=bucket_required,
            help="Bucket to upload to.",
        ),
        click.option(
            "--prefix",
            envvar="HOLDMUSIC_PREFIX",
            show_envvar=True,
            default="hold-music/",
            show_default=True,
            help="Key prefix (folder) for uploads.",
        ),
        click.option(
            "--public-base-url",
            envvar="HOLDMUSIC_PUBLIC_BASE_URL",
            show_envvar=True,
            help="Public URL of the bucket root (a CDN, or https://BUCKET.s3.REGION.amazonaws.com);"
            " the file's URL is this + '/' + key.",
        ),
        click.option(
            "--endpoint-url",
            envvar="HOLDMUSIC_ENDPOINT_URL",
            show_envvar=True,
            help="S3-compatible endpoint (R2, MinIO, Spaces, SeaweedFS). boto3's own "
            "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL work too.",
        ),
        click.option(
            "--region",
            envvar="HOLDMUSIC_REGION",
            show_envvar=True,
            help="Storage region (default: boto3's, e.g. AWS_REGION).",
        ),
        click.option(
            "--acl",
            envvar="HOLDMUSIC_ACL",
            show_envvar=True,
            type=click.Choice(["none", "public-read"]),
            default="none",
            show_default=True,
            help="Object ACL: public-read only for buckets that still use ACLs.",
        ),
        click.option(
            "--cache-control",
            envvar="HOLDMUSIC_CACHE_CONTROL",
            show_envvar=True,
            default="public, max-age=31536000, immutable",
            show_default=True,
            help="Cache-Control of uploaded objects (keys are content-addressed, so immutable is "
            "safe).",
        ),
    ]

    def decorate(f: click.decorators.FC) -> click.decorators.FC:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


storage_options = storage_option_set(bucket_required=True)


STORAGE_KEYS = (
    "bucket",
    "prefix",
    "public_base_url",
    "endpoint_url",
    "region",
    "acl",
    "cache_control",
)


def storage_settings(params: dict[str, Any]) -> StorageSettings:
    """Build the settings from a command's parameters, popping the storage ones."""
    from holdmusic.storage import StorageSettings

    return StorageSettings(**{k: params.pop(k) for k in STORAGE_KEYS})


def plural(n: int, noun: str) -> str:
    """``1 config``, ``2 configs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def status_counts(counts: dict[str, int]) -> str:
    """``2 updated, 1 not attempted``: item statuses as a person reads them."""
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))


def say(message: str) -> None:
    """Progress goes to stderr, so stdout stays clean for the URL or JSON."""
    click.echo(message, err=True)


def report_verdict(prepared: Prepared) -> None:
    print_verdict(prepared.verdict, strict=False, err=True)


def report_published(published: Published) -> None:
    stored, check = published.stored, published.public
    action = "uploaded" if stored.uploaded else "already there with the same sha256, not uploaded"
    say(f"Uploading to s3://{stored.bucket}/{stored.key}: {action}")
    if check.ok:
        say(
            f"Checking {check.url} anonymously: PASSED "
            f"({check.status}, {check.content_type}, {check.size_bytes:,} bytes, sha256 matches)"
        )
    else:
        say(f"Checking {check.url} anonymously: FAILED")
        for p in check.problems:
            say(f"  error: {p}")
        where = f"s3://{stored.bucket}/{stored.key}"
        say(f"  (the object stays at {where}, unused; run again after the fix)")
    for w in check.warnings:
        say(f"  warning: {w}")


def published_dict(prepared: Prepared, published: Published | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "path": prepared.path,
        "sha256": prepared.sha256,
        "size_bytes": prepared.verdict.size_bytes,
        "duration_seconds": prepared.verdict.duration_seconds,
        "validation": prepared.verdict.to_dict(),
    }
    if published is not None:
        s, c = published.stored, published.public
        d.update(
            url=s.url,
            bucket=s.bucket,
            key=s.key,
            uploaded=s.uploaded,
            public=c.ok,
            public_check={
                "status": c.status,
                "content_type": c.content_type,
                "sha256": c.sha256,
                "problems": list(c.problems),
                "warnings": list(c.warnings),
                "codes": list(c.codes),
            },
        )
    else:
        d.update(url=None, bucket=None, key=None, uploaded=False, public=False)
    return d


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
    prepared = pipeline.prepare(file, rules.Limits(max_bytes, max_seconds))
    report_verdict(prepared)
    if not prepared.ok:
        if as_json:
            click.echo(json.dumps(published_dict(prepared, None), indent=2))
        raise click.exceptions.Exit(1)
    published = pipeline.store_and_verify(prepared, settings)
    report_published(published)
    if as_json:
        click.echo(json.dumps(published_dict(prepared, published), indent=2))
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
@click.option(
    "--prefix",
    envvar="HOLDMUSIC_PREFIX",
    show_envvar=True,
    default="hold-music/",
    show_default=True,
    help="Key prefix (folder) to make publicly readable.",
)
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
    """Print the minimal bucket policy that makes PREFIX* publicly readable.

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
        click.echo(json.dumps(storage.bucket_policy(bucket, settings.prefix), indent=2))
        say(f"Would allow anonymous s3:GetObject on {resource} (--apply puts it)")
        return
    policy = storage.apply_bucket_policy(settings)
    click.echo(json.dumps(policy, indent=2))
    say(f"Applied: anonymous s3:GetObject on {resource}")
