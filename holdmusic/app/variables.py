"""The environment variables holdmusic reads, and what for: a module with no imports, so
that a command's ``--help`` epilog costs nothing (``holdmusic validate`` names one)."""

from __future__ import annotations

ALLOW_PRIVATE_ENV = "HOLDMUSIC_ALLOW_PRIVATE_URLS"

# Every variable holdmusic reads, and what for (the CLI's help and the README list them).
VARIABLES = {
    "DAILY_API_KEY": "Daily REST API key (never printed)",
    "DAILY_API_URL": "Daily's API base URL (default https://api.daily.co/v1)",
    ALLOW_PRIVATE_ENV: "exactly 1: allow hold-music URLs on loopback/private addresses "
    "(local testing only)",
    "HOLDMUSIC_BUCKET": "bucket",
    "HOLDMUSIC_PREFIX": "key prefix",
    "HOLDMUSIC_PUBLIC_BASE_URL": "public URL of the bucket root",
    "HOLDMUSIC_ENDPOINT_URL": "S3-compatible endpoint",
    "HOLDMUSIC_REGION": "storage region",
    "HOLDMUSIC_ACL": "none or public-read",
    "HOLDMUSIC_CACHE_CONTROL": "Cache-Control of uploaded objects",
}
