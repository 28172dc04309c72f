"""Unit tests of holdmusic/storage.py: keys, slugs, URLs, prefixes and the policy document.

Nothing here talks to a server: these are the pure functions that decide *where* a file
goes and *which URL* Daily gets.  The upload itself is tested against SeaweedFS in
tests/test_cli_upload.py.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from holdmusic import app, storage
from holdmusic.errors import UsageError
from holdmusic.storage import StorageSettings, check_prefix, object_key, public_url, slug

SHA = hashlib.sha256(b"hold music").hexdigest()
SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's endpoint variables change the URLs: each test starts without them."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


# --- slug ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("welcome-mono.mp3", "welcome-mono"),
        ("Welcome Mono.MP3", "welcome-mono"),
        # a path: only the last component counts, its '..' and '/' never reach the key
        ("Ça va ../Été 2024.MP3", "ete-2024"),
        ("Ça va... Été 2024.MP3", "ca-va-ete-2024"),
        ("../../etc/passwd.mp3", "passwd"),
        ("C:\\Users\\me\\Hold Music (final).mp3", "hold-music-final"),
        ("song.v2.final.mp3", "song-v2-final"),
        ("UPPER_case__name.mp3", "upper-case-name"),
        ("--x--.mp3", "x"),
        ("track.wav", "track-wav"),  # only .mp3 is dropped
        ("Ñandú über straße.mp3", "nandu-uber-strae"),
        # nothing ASCII left: still a usable key
        ("日本語.mp3", "audio"),
        (".mp3", "audio"),
        ("...mp3", "audio"),
        ("", "audio"),
    ],
)
def test_slug(filename: str, expected: str) -> None:
    assert slug(filename) == expected


def test_slug_is_at_most_60_chars_and_does_not_end_in_a_dash() -> None:
    name = "a" * 59 + " b" + "c" * 50 + ".mp3"
    s = slug(name)
    assert s == "a" * 59  # cut at 60 ("a"*59 + "-"), then the dash dropped
    assert len(slug("x" * 200 + ".mp3")) == 60


@given(st.text())
def test_slug_is_always_a_safe_key_part(filename: str) -> None:
    s = slug(filename)
    assert SLUG_RE.match(s), s
    assert 1 <= len(s) <= 60


@given(st.text(), st.sampled_from(["", "hold-music/", "a/b/", "music"]))
def test_object_key_never_escapes_the_prefix(filename: str, prefix: str) -> None:
    key = object_key(prefix, filename, SHA)
    assert key.startswith(prefix)
    rest = key[len(prefix) :]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{16}\.mp3", rest), key
    assert "/" not in rest and ".." not in rest


# --- object_key ---------------------------------------------------------------------


def test_object_key_is_prefix_slug_and_16_hex_of_the_sha256() -> None:
    assert object_key("hold-music/", "Welcome Mono.mp3", SHA) == (
        f"hold-music/welcome-mono-{SHA[:16]}.mp3"
    )
    assert object_key("", "a.mp3", SHA) == f"a-{SHA[:16]}.mp3"


def test_same_bytes_same_key_other_bytes_other_key() -> None:
    other = hashlib.sha256(b"other music").hexdigest()
    assert object_key("p/", "x.mp3", SHA) == object_key("p/", "x.mp3", SHA)
    assert object_key("p/", "x.mp3", SHA) != object_key("p/", "x.mp3", other)


# --- prefixes -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "hold-music/", "a/b/", "a/b", "my music/", "a..b/"])
def test_valid_prefixes(prefix: str) -> None:
    check_prefix(prefix)
    # A prefix is a folder: a missing trailing slash is added.
    expected = prefix if prefix in ("",) or prefix.endswith("/") else prefix + "/"
    assert StorageSettings(bucket="b", prefix=prefix).prefix == expected


@pytest.mark.parametrize(
    "prefix", ["/", "/hold-music/", "../", "..", "a/../b/", "./", "a/./", "a//b/", "//"]
)
def test_invalid_prefixes_are_usage_errors(prefix: str) -> None:
    with pytest.raises(UsageError, match="prefix") as info:
        StorageSettings(bucket="b", prefix=prefix)
    assert app.is_usage(info.value)  # exit 2 in the CLI
    with pytest.raises(UsageError):
        storage.bucket_policy("b", prefix)


def test_settings_need_a_bucket_and_a_known_acl() -> None:
    with pytest.raises(UsageError, match="bucket is required"):
        StorageSettings(bucket="")
    with pytest.raises(UsageError, match="--acl"):
        StorageSettings(bucket="b", acl="authenticated-read")
    assert StorageSettings(bucket="b", acl="public-read").acl == "public-read"


# --- public_url -----------------------------------------------------------------------

KEY = f"hold-music/welcome-mono-{SHA[:16]}.mp3"


def test_aws_url_is_virtual_hosted_with_the_region() -> None:
    s = StorageSettings(bucket="my-music", region="eu-west-1")
    assert public_url(s, KEY) == f"https://my-music.s3.eu-west-1.amazonaws.com/{KEY}"


def test_aws_url_uses_the_clients_region_over_the_setting() -> None:
    s = StorageSettings(bucket="my-music", region="eu-west-1")
    assert public_url(s, KEY, "ap-south-1") == (
        f"https://my-music.s3.ap-south-1.amazonaws.com/{KEY}"
    )


def test_aws_url_without_a_region_is_us_east_1() -> None:
    s = StorageSettings(bucket="my-music")
    assert public_url(s, KEY) == f"https://my-music.s3.us-east-1.amazonaws.com/{KEY}"


def test_dotted_bucket_gets_a_path_style_url() -> None:
    # a.b.s3.amazonaws.com does not match the *.s3.amazonaws.com certificate
    s = StorageSettings(bucket="music.example.com", region="us-west-2")
    assert public_url(s, KEY) == f"https://s3.us-west-2.amazonaws.com/music.example.com/{KEY}"


def test_an_amazonaws_endpoint_is_still_aws() -> None:
    s = StorageSettings(
        bucket="my-music", endpoint_url="https://s3.eu-west-1.amazonaws.com", region="eu-west-1"
    )
    assert public_url(s, KEY) == f"https://my-music.s3.eu-west-1.amazonaws.com/{KEY}"


@pytest.mark.parametrize("endpoint", ["http://minio.local:9000", "http://minio.local:9000/"])
def test_custom_endpoint_url_is_path_style(endpoint: str) -> None:
    s = StorageSettings(bucket="music", endpoint_url=endpoint, region="eu-west-1")
    assert public_url(s, KEY) == f"http://minio.local:9000/music/{KEY}"


def test_custom_endpoint_from_boto3_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interface reads the environment (app.Environment); nothing below it does.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://generic.example")
    assert public_url(StorageSettings(bucket="music"), KEY).startswith("https://music.s3.")
    env = {"AWS_ENDPOINT_URL": "https://generic.example"}
    s = app.Environment.from_env(env).storage_settings(bucket="music")
    assert public_url(s, KEY) == f"https://generic.example/music/{KEY}"
    # the S3-specific variable wins over the generic one, as in boto3
    env["AWS_ENDPOINT_URL_S3"] = "https://s3.example"
    s = app.Environment.from_env(env).storage_settings(bucket="music")
    assert public_url(s, KEY) == f"https://s3.example/music/{KEY}"
    # and the flag wins over both
    flagged = app.Environment.from_env(env).storage_settings(
        bucket="music", endpoint_url="https://flag.example"
    )
    assert public_url(flagged, KEY) == f"https://flag.example/music/{KEY}"


@pytest.mark.parametrize(
    "base", ["https://cdn.example.com/audio", "https://cdn.example.com/audio/"]
)
def test_public_base_url(base: str) -> None:
    s = StorageSettings(bucket="music", public_base_url=base, endpoint_url="http://minio:9000")
    assert public_url(s, KEY) == f"https://cdn.example.com/audio/{KEY}"
    # the storage URL is unaffected
    assert storage.direct_url(s, KEY) == f"http://minio:9000/music/{KEY}"


def test_keys_are_url_quoted() -> None:
    key = "my music/été #1?.mp3"
    quoted = "my%20music/%C3%A9t%C3%A9%20%231%3F.mp3"
    cdn = StorageSettings(bucket="music", public_base_url="https://cdn.example.com/")
    assert public_url(cdn, key) == f"https://cdn.example.com/{quoted}"
    aws = StorageSettings(bucket="music", region="eu-west-1")
    assert public_url(aws, key) == f"https://music.s3.eu-west-1.amazonaws.com/{quoted}"
    custom = StorageSettings(bucket="music", endpoint_url="http://minio:9000")
    assert public_url(custom, key) == f"http://minio:9000/music/{quoted}"


def test_dry_run_upload_names_key_and_url_without_a_server() -> None:
    data = b"not uploaded"
    sha = hashlib.sha256(data).hexdigest()
    s = StorageSettings(bucket="music", endpoint_url="http://127.0.0.1:9", prefix="p/")
    stored = storage.upload(s, data, sha, "Été 2024.mp3", dry_run=True)
    assert stored.key == f"p/ete-2024-{sha[:16]}.mp3"
    assert stored.url == f"http://127.0.0.1:9/music/p/ete-2024-{sha[:16]}.mp3"
    assert (stored.bucket, stored.sha256, stored.size_bytes, stored.uploaded) == (
        "music",
        sha,
        len(data),
        False,
    )


# --- bucket policy document -----------------------------------------------------------


def test_bucket_policy_is_minimal() -> None:
    assert storage.bucket_policy("my-music", "hold-music/") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": storage.policy_sid("hold-music/"),
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::my-music/hold-music/*",
            }
        ],
    }


def test_policy_sid_is_per_prefix_and_policy_safe() -> None:
    # One statement per prefix: making a second prefix public must keep the first.
    a, b = storage.policy_sid("line-a/"), storage.policy_sid("line-b/")
    assert a != b
    assert a.startswith("HoldmusicPublicRead") and a.isalnum()
    assert storage.policy_sid("line-a/") == a  # stable across runs
