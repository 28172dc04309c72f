"""How close does ``holdmusic batch`` get to Daily's rate limit, with faults on?

Runs ``holdmusic batch`` (a subprocess, as a user runs it) for M configs over 3 files
against the project's real loopback servers:

- the Daily stand-in (testkit/daily/) with Daily's documented limit as a token
  bucket, ``rate_limit(20, burst=20)``, plus ``fail_before(probability=0.05)`` (5xx before
  applying, any method) and ``fail_after_put(probability=0.02)`` (PUT applied, 502 anyway);
- SeaweedFS (testkit/s3.py, ``weed mini``) as the S3 store, with a public prefix.

It reports the wall time of the PUT phase and of the whole run, the requests the stand-in
saw, the achieved request rate as a share of the 20/s limit, 429s and the stand-in's
peak requests in any 1 s window; and checks every config really holds its new URL.

For comparison, "a shell loop": the same PUTs sent one at a time with ``httpx.put``
(a new connection per request, like ``curl``), no concurrency and no limiter, against a
fresh stand-in with the same faults; once as a plain loop, and once with
``curl --retry 5`` semantics (retry 408/429/5xx after 1, 2, 4, 8, 16 s).

    python benchmarks/bench_batch.py [--configs 200] [--concurrency C]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
from _bench import REPO, WORK

from testkit.daily import DailyStandIn, Recorded
from testkit.s3 import SeaweedS3

LIMIT_PER_S = 20.0
GOAL_SHARE = 0.60
OLD_URL = "https://old-cdn.example.com/hold-music/old.mp3"
# Three passing files of different shapes (mono CBR 32 kHz, mono VBR, stereo CBR).
FILES = ("welcome-mono.mp3", "calm-vbr.mp3", "jingle-stereo.mp3")
CURL_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def faulty_standin(configs: int, seed: int) -> tuple[DailyStandIn, list[str]]:
    """A started Daily stand-in with ``configs`` pinless configs and the faults on."""
    daily = DailyStandIn(seed=seed).start()
    ids = daily.seed(configs, hold_music_url=OLD_URL)
    daily.faults.rate_limit(LIMIT_PER_S, burst=20)
    daily.faults.fail_before(probability=0.05)
    daily.faults.fail_after_put(probability=0.02)
    return daily, ids


@dataclass
class Phase:
    """Requests the stand-in logged over a span of time."""

    label: str
    wall: float  # seconds
    requests: list[Recorded]
    configs_set: int | None = None
    peak: int | None = None
    note: str = ""

    @property
    def n429(self) -> int:
        return sum(r.status == 429 for r in self.requests)

    @property
    def n5xx(self) -> int:
        return sum(r.status is not None and r.status >= 500 for r in self.requests)

    @property
    def rate(self) -> float:
        return len(self.requests) / self.wall if self.wall > 0 else 0.0

    @property
    def accepted_rate(self) -> float:
        ok = sum(r.status != 429 for r in self.requests)
        return ok / self.wall if self.wall > 0 else 0.0


def peak_per_s(requests: list[Recorded]) -> int:
    """Most arrivals within any 1 s window (the stand-in's own measure, over ``requests``)."""
    times = [r.time for r in requests]
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def arrival_span(requests: list[Recorded]) -> float:
    """First to last arrival, plus one mean gap, so that ``n / span`` is the arrival rate."""
    if len(requests) < 2:
        return 0.0
    first, last = requests[0].time, requests[-1].time
    return (last - first) * len(requests) / (len(requests) - 1)


def run_holdmusic(args: argparse.Namespace, s3: SeaweedS3, work: Path) -> tuple[Phase, Phase, dict]:
    music = work / "music"
    music.mkdir()
    for name in FILES:
        shutil.copy(REPO / "samples" / name, music / name)
    daily, ids = faulty_standin(args.configs, args.seed)
    try:
        manifest = work / "manifest.csv"
        with manifest.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["config_id", "file"])
            for i, cid in enumerate(ids):
                w.writerow([cid, f"music/{FILES[i % len(FILES)]}"])
        bucket = s3.make_bucket(public_prefix="hold-music/")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDMUSIC_", "DAILY_"))}
        env = s3.subprocess_env(_bench.python_env(base))
        env |= {
            "DAILY_API_KEY": daily.api_key,
            "DAILY_API_URL": daily.url,
            "HOLDMUSIC_BUCKET": bucket,
            # SeaweedFS's public URLs are on loopback, which holdmusic refuses otherwise
            "HOLDMUSIC_ALLOW_PRIVATE_URLS": "1",
        }
        report = work / "report.json"
        cmd = [*_bench.holdmusic_command(), "batch", str(manifest), "--report", str(report)]
        if args.concurrency:
            cmd += ["--concurrency", str(args.concurrency)]
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
        end = time.monotonic()
        wall = end - start
        if proc.returncode != 0 or not report.is_file():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise SystemExit(f"holdmusic batch exited {proc.returncode}:\n{tail}")
        data = json.loads(report.read_text())
        items = {i["config_id"]: i for i in data["items"]}
        # What a user would check afterwards: every config now holds its file's URL.
        configs_set = sum(
            daily.get(cid)["config"].get("hold_music_url") == items[cid]["url"] for cid in ids
        )
        url_of = {FILES[i % len(FILES)]: items[cid]["url"] for i, cid in enumerate(ids)}
        reqs = sorted(daily.requests, key=lambda r: r.time)
        first_put = next(i for i, r in enumerate(reqs) if r.method == "PUT")
        puts = reqs[first_put:]
        before = reqs[:first_put]
        n_put = sum(r.method == "PUT" for r in puts)
        put_phase = Phase(
            "holdmusic batch: PUT phase",
            arrival_span(puts),
            puts,
            configs_set,
            peak_per_s(puts),
            note=f"first PUT to last request: {n_put} PUTs (retries included) and "
            f"{len(puts) - n_put} GETs checking whether a failed PUT landed",
        )
        whole = Phase(
            "holdmusic batch: whole run",
            wall,
            reqs,
            configs_set,
            daily.peak_rate_per_s,
            note=f"{len(before)} GETs reading configs, uploads, then the PUT phase",
        )
        statuses: dict[str, int] = {}
        for item in data["items"]:
            statuses[item["status"]] = statuses.get(item["status"], 0) + 1
        extra = {
            "cmd": cmd,
            "statuses": statuses,
            "urls": url_of,
            "read_span": arrival_span(before),
            "read_requests": len(before),
            "gap": puts[0].time - before[-1].time if before else 0.0,
            "faults": _fault_counts(reqs),
            "lead": reqs[0].time - start,
            "tail": end - reqs[-1].time,
        }
        return put_phase, whole, extra
    finally:
        daily.stop()


def _fault_counts(reqs: list[Recorded]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in reqs:
        for f in r.faults:
            out[f] = out.get(f, 0) + 1
    return out


def shell_loop(args: argparse.Namespace, urls: dict[str, str], *, retry: bool) -> Phase:
    """PUT each config one at a time, a new connection each, as ``curl -X PUT`` in a loop."""
    import httpx

    daily, ids = faulty_standin(args.configs, args.seed)
    try:
        headers = {**daily.auth_headers, "Content-Type": "application/json"}
        targets = [(cid, urls[FILES[i % len(FILES)]]) for i, cid in enumerate(ids)]
        # No keep-alive: a new TCP connection per request, as one curl process per PUT.
        # (httpx.put() would also build a TLS context per call, ~40 ms, which curl doesn't.)
        client = httpx.Client(
            headers=headers,
            timeout=10,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        start = time.monotonic()
        with client:
            for cid, url in targets:
                delay = 1.0
                for attempt in range(6 if retry else 1):
                    resp = client.put(
                        f"{daily.url}/domain-dialin-config/{cid}", json={"hold_music_url": url}
                    )
                    if not retry or resp.status_code not in CURL_RETRY_STATUSES or attempt == 5:
                        break
                    time.sleep(delay)  # curl --retry: 1 s, doubling
                    delay *= 2
        wall = time.monotonic() - start
        configs_set = sum(
            daily.get(cid)["config"].get("hold_music_url") == url for cid, url in targets
        )
        label = "shell loop, curl --retry 5" if retry else "shell loop, plain (no retry)"
        return Phase(
            label,
            wall,
            sorted(daily.requests, key=lambda r: r.time),
            configs_set,
            daily.peak_rate_per_s,
        )
    finally:
        daily.stop()


def recorder_cost(sizes: list[int], updates: int) -> None:
    """What keeping the report file true costs per item, for bigger batches (in-process).

    A durable ``Recorder.change`` rewrites the whole report (JSON, fsync, rename) under one
    lock, so each write grows with the batch. The batch pipeline writes the "pending"
    marks before its PUTs in one write, then records finished PUTs with
    ``durable=False``: on disk within ``FLUSH_SECONDS``, not once per item.
    """
    from holdmusic.record import FLUSH_SECONDS, Change, Item, Recorder, Status

    rows = []
    for m in sizes:
        folder = Path(tempfile.mkdtemp(prefix="recorder-", dir=WORK))
        try:
            rec = Recorder(str(folder / "report.json"), "batch", "manifest.csv")
            rec.add_all(
                [
                    Item(
                        f"{i:08x}-5d1e-4c3b-9a7f-{i:012x}",
                        file=f"music/{FILES[i % 3]}",
                        sha256=f"{i:064x}",
                        url=f"https://bucket.example.com/hold-music/x-{i:016x}.mp3",
                        previous_url=OLD_URL,
                        status=Status.PENDING,
                    )
                    for i in range(m)
                ]
            )
            ids = list(rec.items)[:updates]
            start = time.perf_counter()
            for cid in ids:
                rec.change(cid, Change(status=Status.UPDATED))
            per = (time.perf_counter() - start) / len(ids)
            size = (folder / "report.json").stat().st_size
            lazy_ids = list(rec.items)
            start = time.perf_counter()
            for cid in lazy_ids:
                rec.change(cid, Change(status=Status.FAILED), durable=False)
            lazy = (time.perf_counter() - start) / len(lazy_ids)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(
            [
                f"{m}",
                f"{size / 1000:.0f}",
                f"{1000 * per:.1f}",
                f"{m * per:.1f}",
                f"{1 / per:.0f}",
                f"{1000 * lazy:.3f}",
                f"{m * lazy:.2f}",
            ]
        )
    print(f"\nReport bookkeeping (Recorder.change, in-process, {updates} updates per size):")
    print(
        _bench.table(
            [
                "configs",
                "report kB",
                "ms/update",
                "s for one update per config",
                "max updates/s",
                "ms/update as batch does it",
                "s per batch",
            ],
            rows,
            right=(0, 1, 2, 3, 4, 5, 6),
        )
    )
    print(
        "  durable: every update rewrites the report (what the pending marks before PUTs cost,"
        " in one write per phase).\n  as batch does it: finished PUTs with durable=False, "
        f"flushed at most every {FLUSH_SECONDS} s and at the end."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=int, default=200, help="dial-in configs (default 200)")
    ap.add_argument(
        "--concurrency", type=int, default=None, help="holdmusic --concurrency (default: its own)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the stand-in's fault dice")
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip the shell-loop comparison runs"
    )
    ap.add_argument(
        "--recorder-sizes",
        default="200,1000,5000",
        help="report sizes for the bookkeeping cost table ('' to skip)",
    )
    ap.add_argument("--recorder-updates", type=int, default=30, help="updates timed per size")
    ap.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = ap.parse_args(argv)
    if args.configs < 3:
        ap.error("--configs must be at least 3 (one per file)")

    from testkit.s3 import WeedMini

    print("holdmusic batch benchmark")
    _bench.print_versions(_bench.versions("httpx", "weed"))
    print(
        f"  stand-in   rate_limit({LIMIT_PER_S:g}/s, burst=20), fail_before(p=0.05), "
        f"fail_after_put(p=0.02), seed {args.seed}"
    )
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="batch-", dir=WORK))
    server = WeedMini()
    try:
        server.start()
        s3 = SeaweedS3.from_server(server)
        print(f"running holdmusic batch: {args.configs} configs over {len(FILES)} files ...")
        put_phase, whole, extra = run_holdmusic(args, s3, work)
    finally:
        server.close()
    runs = [put_phase, whole]
    if not args.no_baseline:
        for retry in (False, True):
            print(f"running the shell-loop baseline{' with retries' if retry else ''} ...")
            runs.append(shell_loop(args, extra["urls"], retry=retry))
    shutil.rmtree(work, ignore_errors=True)

    rows = []
    for p in runs:
        rows.append(
            [
                p.label,
                f"{p.wall:.2f}",
                f"{len(p.requests)}",
                f"{p.n429}",
                f"{p.n5xx}",
                f"{p.rate:.1f}",
                f"{100 * p.rate / LIMIT_PER_S:.0f}%",
                f"{p.accepted_rate:.1f}",
                "-" if p.peak is None else f"{p.peak}",
                f"{p.configs_set}/{args.configs}",
            ]
        )
    concurrency = args.concurrency or "default (8)"
    print()
    print(
        f"Daily stand-in at {LIMIT_PER_S:g} requests/s, {args.configs} configs, "
        f"holdmusic --concurrency {concurrency}, {os.cpu_count()} CPUs:"
    )
    print(
        _bench.table(
            [
                "run",
                "wall s",
                "requests",
                "429s",
                "5xx",
                "req/s",
                "of 20/s",
                "non-429/s",
                "peak/s",
                "configs set",
            ],
            rows,
            right=tuple(range(1, 10)),
        )
    )
    print(f"  PUT phase: {put_phase.note}.")
    print(
        f"  whole run: {whole.note}; reading: {extra['read_requests']} requests over "
        f"{extra['read_span']:.2f} s, then {extra['gap']:.2f} s uploading/checking "
        "before the first PUT. Its req/s is over the whole wall time, process start included:"
    )
    print(
        f"    {extra['lead']:.2f} s from process start to the first request (start-up, "
        f"manifest, validation), {extra['tail']:.2f} s from the last request to exit."
    )
    print(f"  holdmusic report: {extra['statuses']}; faults fired: {extra['faults']}")
    conc = f" --concurrency {args.concurrency}" if args.concurrency else ""
    print(f"  command: {extra['cmd'][0]} batch MANIFEST --report R{conc}")
    print("  peak/s: most requests the stand-in saw in any 1 s window.")
    sizes = [int(x) for x in args.recorder_sizes.split(",") if x.strip()]
    if sizes:
        recorder_cost(sizes, max(1, args.recorder_updates))
    share = put_phase.rate / LIMIT_PER_S
    ok = share >= GOAL_SHARE and put_phase.configs_set == args.configs
    print("\nGoal:")
    print(
        _bench.goal_line(
            ok,
            f"PUT phase at >= {GOAL_SHARE:.0%} of the {LIMIT_PER_S:g}/s limit with faults on: "
            f"{share:.0%} ({put_phase.rate:.1f} req/s), "
            f"{put_phase.configs_set}/{args.configs} configs set",
        )
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
