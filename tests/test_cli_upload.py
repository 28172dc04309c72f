"""``holdmusic upload`` and ``holdmusic bucket-policy`` against a real S3 server (SeaweedFS).

Every upload is checked the way Daily will use it: an anonymous GET of the printed URL must
return the file's exact bytes with the right headers.  Failures must be one clear line, an
exit code, and never a traceback or a secret.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from holdmusic.storage import policy_sid
from testkit.s3 import SeaweedS3, dead_endpoint_url

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WELCOME = SAMPLES / "welcome-mono.mp3"
CALM = SAMPLES / "calm-vbr.mp3"
CACHE_CONTROL = "public, max-age=31536000, immutable"
TRACEBACK = "Traceback (most recent call last)"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"

Run = Callable[..., Any]  # the `cli` / `run_cli` fixtures: (*args) -> Result


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def key_of(path: Path, slug: str, prefix: str = "hold-music/") -> str:
    return f"{prefix}{slug}-{sha256_of(path)[:16]}.mp3"


def keys(s3: SeaweedS3, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_clean_failure(result: Any, code: int = 1) -> str:
    """Exit ``code``, no traceback anywhere, nothing on stdout, exactly one error line."""
    assert result.exit_code == code, result.output
    assert TRACEBACK not in result.output
    assert result.stdout == ""
    (line,) = error_lines(result)
    return line


@pytest.fixture
def public_bucket(s3_env: SeaweedS3) -> str:
    return s3_env.make_bucket(public_prefix="hold-music/")


@pytest.fixture
def private_bucket(s3_env: SeaweedS3) -> str:
    return s3_env.make_bucket()


@pytest.fixture
def anon() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


# --- the happy path ------------------------------------------------------------------------


def test_first_upload_prints_a_url_that_serves_the_exact_file(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, anon: httpx.Client
) -> None:
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    assert r.exit_code == 0, r.output
    key = key_of(WELCOME, "welcome-mono")
    url = f"{s3_env.endpoint_url}/{public_bucket}/{key}"
    assert r.stdout == url + "\n"  # only the URL: scripts do URL=$(holdmusic upload f)
    assert f"s3://{public_bucket}/{key}: uploaded" in r.stderr
    assert "anonymously: PASSED" in r.stderr

    got = anon.get(url)
    assert got.status_code == 200
    assert got.content == WELCOME.read_bytes()
    assert got.headers["content-type"] == "audio/mpeg"
    assert got.headers["cache-control"] == CACHE_CONTROL

    head = s3_env.client().head_object(Bucket=public_bucket, Key=key)
    assert head["Metadata"] == {
        "sha256": sha256_of(WELCOME),
        "original-filename": "welcome-mono.mp3",
    }
    assert head["ContentLength"] == WELCOME.stat().st_size
    assert keys(s3_env, public_bucket) == [key]


def test_reupload_of_the_same_bytes_puts_nothing(
    cli: Run, s3_env: SeaweedS3, public_bucket: str
) -> None:
    assert cli("upload", str(WELCOME), "--bucket", public_bucket).exit_code == 0
    key = key_of(WELCOME, "welcome-mono")
    s3 = s3_env.client()
    # Mark the stored object (same headers, plus one metadata field): a second PUT would
    # replace the object and lose the mark, even within the same second.
    head = s3.head_object(Bucket=public_bucket, Key=key)
    s3.copy_object(
        Bucket=public_bucket,
        Key=key,
        CopySource={"Bucket": public_bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={**head["Metadata"], "marker": "first-upload"},
        ContentType=head["ContentType"],
        CacheControl=head["CacheControl"],
    )
    before = s3.head_object(Bucket=public_bucket, Key=key)
    assert before["Metadata"]["marker"] == "first-upload"

    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["uploaded"] is False and out["public"] is True
    assert out["key"] == key
    assert "already there with the same sha256, not uploaded" in r.stderr

    after = s3.head_object(Bucket=public_bucket, Key=key)
    assert after["Metadata"]["marker"] == "first-upload"
    assert after["ETag"] == before["ETag"]
    assert after["LastModified"] == before["LastModified"]
    assert keys(s3_env, public_bucket) == [key]


def test_a_different_file_gets_a_different_key(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, anon: httpx.Client
) -> None:
    first = cli("upload", str(WELCOME), "--bucket", public_bucket)
    second = cli("upload", str(CALM), "--bucket", public_bucket)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout != second.stdout
    assert keys(s3_env, public_bucket) == sorted(
        [key_of(WELCOME, "welcome-mono"), key_of(CALM, "calm-vbr")]
    )
    # the first URL still serves the first file: nothing was overwritten
    assert anon.get(first.stdout.strip()).content == WELCOME.read_bytes()
    assert anon.get(second.stdout.strip()).content == CALM.read_bytes()


def test_json_output(cli: Run, s3_env: SeaweedS3, public_bucket: str) -> None:
    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # stdout holds the JSON object and nothing else
    key = key_of(WELCOME, "welcome-mono")
    expected = {
        "url": f"{s3_env.endpoint_url}/{public_bucket}/{key}",
        "bucket": public_bucket,
        "key": key,
        "sha256": sha256_of(WELCOME),
        "size_bytes": WELCOME.stat().st_size,
        "uploaded": True,
        "public": True,
    }
    assert {k: out[k] for k in expected} == expected
    assert out["public_check"]["status"] == 200
    assert out["public_check"]["sha256"] == sha256_of(WELCOME)
    assert out["public_check"]["problems"] == []


def test_unicode_spaces_and_dots_give_a_safe_key(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, anon: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "Ça va .."
    folder.mkdir()
    nasty = folder / "Été 2024.MP3"
    shutil.copyfile(WELCOME, nasty)
    dotted = tmp_path / "Ça va... Été 2024.MP3"
    shutil.copyfile(CALM, dotted)

    r = cli("upload", str(nasty), "--bucket", public_bucket)
    assert r.exit_code == 0, r.output
    key = key_of(WELCOME, "ete-2024")
    assert r.stdout.strip() == f"{s3_env.endpoint_url}/{public_bucket}/{key}"
    head = s3_env.client().head_object(Bucket=public_bucket, Key=key)
    # S3 metadata is ASCII: the original name is kept percent-encoded
    assert head["Metadata"]["original-filename"] == quote("Été 2024.MP3")
    assert anon.get(r.stdout.strip()).content == WELCOME.read_bytes()

    r = cli("upload", str(dotted), "--bucket", public_bucket)
    assert r.exit_code == 0, r.output
    assert keys(s3_env, public_bucket) == sorted([key, key_of(CALM, "ca-va-ete-2024")])


# --- not public --------------------------------------------------------------------------


def test_private_bucket_fails_and_names_the_fix(
    cli: Run, s3_env: SeaweedS3, private_bucket: str
) -> None:
    r = cli("upload", str(WELCOME), "--bucket", private_bucket)
    assert r.exit_code == 1, r.output
    assert TRACEBACK not in r.output
    assert r.stdout == ""  # no URL for a script to pass on
    assert "anonymously: FAILED" in r.stderr
    assert "403: the object is not public" in r.stderr
    assert (
        f"'holdmusic bucket-policy --bucket {private_bucket} --prefix hold-music/ --apply'"
        in r.stderr
    )
    # the object is stored (a re-run after the fix will not upload again) ...
    key = key_of(WELCOME, "welcome-mono")
    assert keys(s3_env, private_bucket) == [key]

    r = cli("upload", str(WELCOME), "--bucket", private_bucket, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert (out["key"], out["uploaded"], out["public"]) == (key, False, False)
    assert out["public_check"]["status"] == 403


def test_the_suggested_bucket_policy_command_fixes_it(
    cli: Run, s3_env: SeaweedS3, private_bucket: str, anon: httpx.Client
) -> None:
    r = cli("upload", str(WELCOME), "--bucket", private_bucket)
    assert r.exit_code == 1
    (suggested,) = re.findall(r"'holdmusic (bucket-policy [^']*)'", r.stderr)
    fixed = cli(*shlex.split(suggested))
    assert fixed.exit_code == 0, fixed.output

    r = cli("upload", str(WELCOME), "--bucket", private_bucket)
    assert r.exit_code == 0, r.output
    assert "not uploaded" in r.stderr  # the object from the failed run was kept
    assert anon.get(r.stdout.strip()).content == WELCOME.read_bytes()


def test_public_base_url_that_does_not_reach_the_object(
    cli: Run, s3_env: SeaweedS3, public_bucket: str
) -> None:
    other = s3_env.make_bucket(public_prefix="")  # public, but not where the file went
    base = f"{s3_env.endpoint_url}/{other}"
    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--public-base-url", base)
    assert r.exit_code == 1, r.output
    assert TRACEBACK not in r.output
    key = key_of(WELCOME, "welcome-mono")
    assert f"Checking {base}/{key} anonymously: FAILED" in r.stderr
    assert "404" in r.stderr and "public base URL" in r.stderr
    assert keys(s3_env, public_bucket) == [key]


# --- invalid files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "code"),
    [("not-really.mp3", "not_mp3"), ("too-long.mp3", "too_long"), ("error-page.mp3", "not_mp3")],
)
def test_invalid_file_is_not_uploaded(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, sample: str, code: str
) -> None:
    r = cli("upload", str(SAMPLES / sample), "--bucket", public_bucket)
    assert r.exit_code == 1, r.output
    assert TRACEBACK not in r.output
    assert r.stdout == ""
    assert f"Checking {SAMPLES / sample}: FAILED" in r.stderr
    assert f"error [{code}]:" in r.stderr
    assert "Uploading" not in r.stderr
    assert keys(s3_env, public_bucket) == []


def test_invalid_file_json(cli: Run, s3_env: SeaweedS3, public_bucket: str) -> None:
    r = cli("upload", str(SAMPLES / "too-long.mp3"), "--bucket", public_bucket, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert (out["url"], out["key"], out["uploaded"], out["public"]) == (None, None, False, False)
    assert out["validation"]["ok"] is False
    assert [p["code"] for p in out["validation"]["problems"]] == ["too_long"]
    assert out["duration_seconds"] == 75.096
    assert keys(s3_env, public_bucket) == []


# --- storage failures: one clear line --------------------------------------------------------


def test_wrong_secret_key(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "WrongSecret" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    line = assert_clean_failure(r)
    assert "rejected the secret key" in line and "AWS_SECRET_ACCESS_KEY" in line
    assert wrong not in r.output and s3_env.secret_key not in r.output
    assert keys(s3_env, public_bucket) == []


def test_unknown_access_key(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "HMUNKNOWN" + uuid.uuid4().hex[:11].upper())
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    line = assert_clean_failure(r)
    assert line == (
        f"error: the storage service at {s3_env.endpoint_url} does not know this access key id"
    )
    assert s3_env.secret_key not in r.output
    assert keys(s3_env, public_bucket) == []


def test_no_credentials_at_all(
    run_cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE still point at empty files (s3_env)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = run_cli("upload", str(WELCOME), "--bucket", public_bucket)
    line = assert_clean_failure(r)
    assert line.startswith("error: no storage credentials found")
    assert "AWS_ACCESS_KEY_ID" in line
    assert keys(s3_env, public_bucket) == []


def test_incomplete_credentials(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    line = assert_clean_failure(r)
    assert "AWS_SECRET_ACCESS_KEY" in line
    assert keys(s3_env, public_bucket) == []


def test_missing_bucket(cli: Run, s3_env: SeaweedS3) -> None:
    missing = f"hm-test-missing-{uuid.uuid4().hex[:12]}"
    r = cli("upload", str(WELCOME), "--bucket", missing)
    line = assert_clean_failure(r)
    assert line == f"error: bucket {missing!r} does not exist at {s3_env.endpoint_url}"


def test_endpoint_down(run_cli: Run, s3_env: SeaweedS3, public_bucket: str) -> None:
    dead = dead_endpoint_url()
    # the subprocess timeout is the bound: a hang fails the test instead of blocking it
    r = run_cli(
        "upload", str(WELCOME), "--bucket", public_bucket, "--endpoint-url", dead, timeout=90
    )
    line = assert_clean_failure(r)
    assert line.startswith(f"error: cannot reach the storage endpoint {dead}")


def test_endpoint_url_without_scheme_is_a_usage_error(
    cli: Run, s3_env: SeaweedS3, public_bucket: str
) -> None:
    host = s3_env.endpoint_url.removeprefix("http://")
    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--endpoint-url", host)
    line = assert_clean_failure(r, code=2)
    assert "unexpected" not in line and "http://" in line


def test_invalid_bucket_name_is_one_line(cli: Run, s3_env: SeaweedS3) -> None:
    # A bad option value is a usage error, refused before the file is even read.
    r = cli("upload", str(WELCOME), "--bucket", "Hold_Music!")
    line = assert_clean_failure(r, code=2)
    assert "Hold_Music!" in line
    assert len(r.stderr.strip().splitlines()) == 1
    assert "regex" not in r.stderr


@pytest.mark.parametrize("prefix", ["../hold-music/", "a/../b/", "/hold-music/", "a//b/", "./"])
def test_bad_prefix_is_a_usage_error(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, prefix: str
) -> None:
    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--prefix", prefix)
    line = assert_clean_failure(r, code=2)
    assert line.startswith(f"error: prefix {prefix!r}")
    assert keys(s3_env, public_bucket) == []


def test_bad_prefix_from_the_environment(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLDMUSIC_PREFIX", "hold-music/../../")
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    assert_clean_failure(r, code=2)
    assert keys(s3_env, public_bucket) == []


# --- settings from the environment -------------------------------------------------------------


def test_bucket_and_prefix_from_environment(
    cli: Run, s3_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_env.make_bucket(public_prefix="tunes/")
    monkeypatch.setenv("HOLDMUSIC_BUCKET", bucket)
    monkeypatch.setenv("HOLDMUSIC_PREFIX", "tunes/2024/")
    r = cli("upload", str(WELCOME))
    assert r.exit_code == 0, r.output
    key = key_of(WELCOME, "welcome-mono", prefix="tunes/2024/")
    assert r.stdout.strip() == f"{s3_env.endpoint_url}/{bucket}/{key}"
    assert keys(s3_env, bucket) == [key]


def test_flags_win_over_environment(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLDMUSIC_BUCKET", f"hm-test-missing-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("HOLDMUSIC_PREFIX", "elsewhere/")
    monkeypatch.setenv("HOLDMUSIC_ENDPOINT_URL", dead_endpoint_url())
    r = cli(
        "upload",
        str(WELCOME),
        "--bucket",
        public_bucket,
        "--prefix",
        "hold-music/",
        "--endpoint-url",
        s3_env.endpoint_url,
    )
    assert r.exit_code == 0, r.output
    assert keys(s3_env, public_bucket) == [key_of(WELCOME, "welcome-mono")]


def test_public_base_url_from_environment(
    cli: Run, s3_env: SeaweedS3, public_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another name for the same server stands in for a CDN in front of the bucket
    port = s3_env.endpoint_url.rsplit(":", 1)[1]
    base = f"http://localhost:{port}/{public_bucket}/"  # the trailing slash is handled
    monkeypatch.setenv("HOLDMUSIC_PUBLIC_BASE_URL", base)
    r = cli("upload", str(WELCOME), "--bucket", public_bucket, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["url"] == base + key_of(WELCOME, "welcome-mono")
    assert out["public"] is True


@pytest.mark.parametrize(
    "variable", ["HOLDMUSIC_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
)
def test_endpoint_from_environment(
    cli: Run,
    s3_env: SeaweedS3,
    public_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    for name in ("HOLDMUSIC_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, s3_env.endpoint_url)
    r = cli("upload", str(WELCOME), "--bucket", public_bucket)
    assert r.exit_code == 0, r.output
    key = key_of(WELCOME, "welcome-mono")
    assert r.stdout == f"{s3_env.endpoint_url}/{public_bucket}/{key}\n"
    assert keys(s3_env, public_bucket) == [key]


def test_prefix_with_a_space_is_quoted_in_the_url(
    cli: Run, s3_env: SeaweedS3, anon: httpx.Client
) -> None:
    bucket = s3_env.make_bucket(public_prefix="my music/")
    r = cli("upload", str(WELCOME), "--bucket", bucket, "--prefix", "my music/")
    assert r.exit_code == 0, r.output
    key = key_of(WELCOME, "welcome-mono", prefix="my music/")
    assert r.stdout.strip() == f"{s3_env.endpoint_url}/{bucket}/my%20music/{key[9:]}"
    assert keys(s3_env, bucket) == [key]
    assert anon.get(r.stdout.strip()).content == WELCOME.read_bytes()


# --- bucket-policy ---------------------------------------------------------------------------


def test_bucket_policy_prints_the_minimal_policy_offline(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # printing needs no credentials and no server
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOLDMUSIC_ENDPOINT_URL", dead_endpoint_url())
    r = cli("bucket-policy", "--bucket", "my-music", "--prefix", "ivr/hold/")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": policy_sid("ivr/hold/"),
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::my-music/ivr/hold/*",
            }
        ],
    }
    default = json.loads(cli("bucket-policy", "--bucket", "my-music").stdout)
    assert default["Statement"][0]["Resource"] == "arn:aws:s3:::my-music/hold-music/*"


def test_bucket_policy_bad_prefix(cli: Run) -> None:
    r = cli("bucket-policy", "--bucket", "my-music", "--prefix", "../x/")
    assert_clean_failure(r, code=2)


def _policy_statements(s3: SeaweedS3, bucket: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(s3.client().get_bucket_policy(Bucket=bucket)["Policy"])
    return {s.get("Sid", ""): s for s in policy["Statement"]}


def test_bucket_policy_apply_makes_the_prefix_public_and_keeps_other_statements(
    cli: Run, s3_env: SeaweedS3, private_bucket: str, anon: httpx.Client
) -> None:
    b = private_bucket
    s3 = s3_env.client()
    other = {
        "Sid": "SomeoneElsesRule",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{b}/press-kit/*",
    }
    s3.put_bucket_policy(
        Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )
    for key in ("hold-music/x.mp3", "press-kit/logo.png", "internal/secret.txt"):
        s3.put_object(Bucket=b, Key=key, Body=key.encode())
    url = s3_env.object_url
    assert anon.get(url(b, "hold-music/x.mp3")).status_code == 403
    assert anon.get(url(b, "press-kit/logo.png")).status_code == 200

    r = cli("bucket-policy", "--bucket", b, "--prefix", "hold-music/", "--apply")
    assert r.exit_code == 0, r.output
    assert f"Applied: anonymous s3:GetObject on arn:aws:s3:::{b}/hold-music/*" in r.stderr

    got = anon.get(url(b, "hold-music/x.mp3"))
    assert (got.status_code, got.content) == (200, b"hold-music/x.mp3")
    assert anon.get(url(b, "press-kit/logo.png")).status_code == 200  # still public
    assert anon.get(url(b, "internal/secret.txt")).status_code == 403  # still private
    statements = _policy_statements(s3_env, b)
    assert statements["SomeoneElsesRule"] == other
    ours = policy_sid("hold-music/")
    assert statements[ours]["Resource"] == f"arn:aws:s3:::{b}/hold-music/*"
    assert json.loads(r.stdout)["Statement"] == list(statements.values())

    # applying again changes nothing: one statement of ours, not two
    assert cli("bucket-policy", "--bucket", b, "--prefix", "hold-music/", "--apply").exit_code == 0
    assert sorted(_policy_statements(s3_env, b)) == sorted([ours, "SomeoneElsesRule"])
    policy = json.loads(s3.get_bucket_policy(Bucket=b)["Policy"])
    assert len(policy["Statement"]) == 2


def test_bucket_policy_apply_for_a_second_prefix_keeps_the_first_public(
    cli: Run, s3_env: SeaweedS3, private_bucket: str, anon: httpx.Client
) -> None:
    b = private_bucket
    s3 = s3_env.client()
    for key in ("line-a/x.mp3", "line-b/y.mp3"):
        s3.put_object(Bucket=b, Key=key, Body=b"mp3")
    assert cli("bucket-policy", "--bucket", b, "--prefix", "line-a/", "--apply").exit_code == 0
    assert anon.get(s3_env.object_url(b, "line-a/x.mp3")).status_code == 200
    assert cli("bucket-policy", "--bucket", b, "--prefix", "line-b/", "--apply").exit_code == 0
    assert anon.get(s3_env.object_url(b, "line-b/y.mp3")).status_code == 200
    # Daily configs already point at line-a/ URLs: they must keep working
    assert anon.get(s3_env.object_url(b, "line-a/x.mp3")).status_code == 200


def test_bucket_policy_apply_to_a_missing_bucket(cli: Run, s3_env: SeaweedS3) -> None:
    missing = f"hm-test-missing-{uuid.uuid4().hex[:12]}"
    r = cli("bucket-policy", "--bucket", missing, "--apply")
    line = assert_clean_failure(r)
    assert line == f"error: bucket {missing!r} does not exist at {s3_env.endpoint_url}"


# --- ACL mode (moto) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto S3 server: a real HTTP server on loopback, in a thread.

    moto is used here only because SeaweedFS ignores object ACLs, so it cannot show
    whether ``--acl public-read`` sent one.  Everything else runs against SeaweedFS.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """os.environ pointed at moto (no other AWS_* variable), and a client for checking."""
    import os

    import boto3

    for name in list(os.environ):
        if name.startswith(("AWS_", "S3_", "HOLDMUSIC_")):
            monkeypatch.delenv(name)
    (tmp_path / "aws-empty").write_text("")
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-empty"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-empty"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOLDMUSIC_ENDPOINT_URL": moto_url,
        "HOLDMUSIC_ALLOW_PRIVATE_URLS": "1",  # moto's public URLs are on loopback
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _all_users_permissions(s3: Any, bucket: str, key: str) -> list[str]:
    acl = s3.get_object_acl(Bucket=bucket, Key=key)
    return [g["Permission"] for g in acl["Grants"] if g["Grantee"].get("URI") == ALL_USERS]


@pytest.mark.parametrize(
    ("args", "env", "public_grant"),
    [
        (["--acl", "public-read"], {}, ["READ"]),
        ([], {"HOLDMUSIC_ACL": "public-read"}, ["READ"]),
        ([], {}, []),
        (["--acl", "none"], {}, []),
    ],
    ids=["flag", "env", "default", "none"],
)
def test_acl_mode(
    run_cli: Run,
    moto_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    public_grant: list[str],
) -> None:
    """moto is used only because SeaweedFS cannot do ACL mode (it ignores object ACLs)."""
    bucket = f"hm-acl-{uuid.uuid4().hex[:12]}"
    moto_env.create_bucket(Bucket=bucket)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = run_cli("upload", str(WELCOME), "--bucket", bucket, "--json", *args)
    assert TRACEBACK not in r.output
    out = json.loads(r.stdout)
    assert out["uploaded"] is True and out["key"] == key_of(WELCOME, "welcome-mono")
    # moto answers anonymous GETs by the object ACL: without the grant the check fails
    assert r.exit_code == (0 if public_grant else 1), r.stderr
    assert out["public"] is bool(public_grant)
    assert out["public_check"]["status"] == (200 if public_grant else 403)
    body = moto_env.get_object(Bucket=bucket, Key=out["key"])["Body"].read()
    assert body == WELCOME.read_bytes()
    assert _all_users_permissions(moto_env, bucket, out["key"]) == public_grant


def test_acl_rerun_after_the_hint_makes_the_object_public(run_cli: Run, moto_env: Any) -> None:
    """moto is used only because SeaweedFS cannot do ACL mode (it ignores object ACLs)."""
    bucket = f"hm-acl-{uuid.uuid4().hex[:12]}"
    moto_env.create_bucket(Bucket=bucket)
    first = run_cli("upload", str(WELCOME), "--bucket", bucket)
    assert first.exit_code == 1
    assert "HOLDMUSIC_ACL=public-read) on a bucket that still uses ACLs" in first.stderr
    again = run_cli("upload", str(WELCOME), "--bucket", bucket, "--acl", "public-read")
    key = key_of(WELCOME, "welcome-mono")
    assert _all_users_permissions(moto_env, bucket, key) == ["READ"]
    assert again.exit_code == 0, again.stderr
