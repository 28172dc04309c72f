"""The one door from the page to the use cases: every stage the web needs, behind plain
values (dicts and small frozen dataclasses of primitives).

The design (docs/design.md) puts an application layer under both interfaces; until it
lands (issue 18) this module plays that part for the web, and it is the ONLY module of
``holdmusic.web`` that imports stages. Switching to the application layer is a change to
this file alone; the shapes it returns are the CLI's ``--json`` shapes, which the
application layer keeps.

Every function here is blocking (files, FFmpeg, HTTP): the handlers call them off the
event loop. Stage imports stay inside the functions, so importing the web app costs
nothing until a request needs a stage.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import pwd
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from holdmusic.errors import HoldmusicError, UsageError

if TYPE_CHECKING:
    from holdmusic import rules
    from holdmusic.daily import DailyClient, RateLimiter
    from holdmusic.record import Item
    from holdmusic.storage import StorageSettings

# The names the CLI gives reports by default (record.default_path); a request names a
# report by this pattern only, so no path ever comes from a request.
REPORT_NAME = re.compile(r"holdmusic-(publish|batch|rollback)-\d{8}T\d{6}Z-[0-9a-f]{6}\.json")
MAX_REPORT_BYTES = 20_000_000  # a report of tens of thousands of configs; more is not ours
MAX_LISTED_REPORTS = 500
# Item statuses that mean "this run may have changed the config": what rollback undoes.
ROLLBACKABLE = ("updated", "pending", "mismatched")

Observer = Callable[[dict[str, Any]], None]


class NotFound(HoldmusicError):
    """A report (or other named thing) that is not there."""


# --- what the server was started with ----------------------------------------------------


@dataclass
class Context:
    """What ``holdmusic serve`` was started with: storage, Daily, limits, the report folder.

    The environment is read once, at start, by the CLI; the Daily key stays inside the
    clients made here and is never returned by anything in this module.
    """

    storage: StorageSettings
    env: Mapping[str, str]
    reports_dir: str
    max_bytes: int
    max_seconds: float
    concurrency: int = 8
    _limiter: RateLimiter | None = None

    @property
    def limits(self) -> rules.Limits:
        from holdmusic import rules

        return rules.Limits(max_bytes=self.max_bytes, max_seconds=self.max_seconds)

    def client(self) -> DailyClient:
        """A Daily client of its own (so one run's cancel stops only that run), under one
        rate limiter shared by every client of this process."""
        from holdmusic.daily import DailyClient, RateLimiter

        if self._limiter is None:
            self._limiter = RateLimiter()
        return DailyClient.from_env(self.env, limiter=self._limiter)

    def check(self) -> None:
        """Fail at start, not at the first publish: a missing key or bad URL is a usage
        error (exit 2)."""
        self.client().close()


def fix_available() -> bool:
    """PyAV importable: the page shows fix, preview, --listen and the waveform."""
    from holdmusic import studio

    return studio.available()


# --- judging a file ----------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A file's verdict, in validate's words: ``item`` is one ``validate --json`` object."""

    item: dict[str, Any]
    status: str  # PASSED, PASSED, with warnings, FAILED
    details: str  # " (45.000 s, 225,360 bytes, MPEG-1 32 kHz mono CBR 40 kbit/s)" or ""
    is_mp3: bool  # an MPEG audio stream was found (even if it fails a limit)
    duration_seconds: float | None

    @property
    def ok(self) -> bool:
        return bool(self.item["ok"])

    @property
    def codes(self) -> list[str]:
        return [p["code"] for p in self.item["problems"]]


def _checked(verdict: rules.Verdict) -> Checked:
    return Checked(
        item=verdict.to_dict(),
        status=_status(verdict),
        details=_describe(verdict),
        is_mp3=verdict.info is not None,
        duration_seconds=verdict.duration_seconds,
    )


def _status(verdict: rules.Verdict) -> str:
    if not verdict.ok:
        return "FAILED"
    return "PASSED, with warnings" if verdict.warnings else "PASSED"


def _describe(verdict: rules.Verdict) -> str:
    """As ``holdmusic validate`` prints it after the status."""
    info = verdict.info
    if info is None:
        return ""
    f = info.format
    channels = "mono" if f.channels == 1 else "stereo"
    return (
        f" ({info.duration_seconds:.3f} s, {verdict.size_bytes:,} bytes, "
        f"MPEG-{f.mpeg_version} {f.sample_rate / 1000:g} kHz {channels} "
        f"{f.bitrate_mode} {f.bitrate_kbps:.0f} kbit/s)"
    )


def check(ctx: Context, path: str, name: str, *, listen: bool) -> Checked:
    """``holdmusic validate [--listen] FILE`` on a file in the work area, named ``name``."""
    from dataclasses import replace

    from holdmusic import rules

    verdict = replace(rules.check_path(path, ctx.limits), path=name)
    if listen and verdict.info is not None and fix_available():
        from holdmusic.studio import listening

        heard = listening.hear(replace(verdict, path=path), path)
        verdict = replace(heard, path=name)
    return _checked(verdict)


# --- audio work: fix, preview, waveform ------------------------------------------------------


@dataclass(frozen=True)
class FixOptions:
    """``holdmusic fix``'s options as the page offers them. ``end``, ``loop`` and
    ``announce_at`` are the hooks for issue 19's options: used when the fix stage takes
    them (:func:`fix_features`), refused with one line otherwise."""

    start: float = 0.0
    length: float | None = None  # None: fix's default
    fade_in: float | None = None
    fade_out: float | None = None
    loudness: float | None = None
    end: float | None = None  # issue 19
    loop: bool = False  # issue 19
    announce_path: str | None = None  # issue 19: a voice file in the work area
    announce_at: float | None = None  # issue 19


def fix_features() -> set[str]:
    """Which of the optional fix options the installed fix stage understands."""
    from holdmusic.studio import fixing

    names = {f.name for f in fields(fixing.FixSettings)}
    have = set()
    if "end_seconds" in names:
        have.add("end")
    if "loop" in names:
        have.add("loop")
    if "announcements" in names:
        have.add("announce")
    return have


@dataclass(frozen=True)
class Fixed:
    """What ``holdmusic fix --json`` prints: ``changes`` and the output's verdict."""

    changes: dict[str, Any]
    summary: str
    checked: Checked
    start_seconds: float
    output_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    trimmed: bool
    announcements: tuple[tuple[float, float], ...] = ()  # (at, seconds): issue 19


def fix(ctx: Context, path: str, output: str, name: str, options: FixOptions) -> Fixed:
    from dataclasses import replace

    from holdmusic import rules
    from holdmusic.studio import fixing

    kwargs: dict[str, Any] = {"max_seconds": ctx.max_seconds, "start_seconds": options.start}
    for key, value in (
        ("length_seconds", options.length),
        ("fade_in_seconds", options.fade_in),
        ("fade_out_seconds", options.fade_out),
        ("loudness_lufs", options.loudness),
    ):
        if value is not None:
            kwargs[key] = value
    have = fix_features()
    wanted = {
        "end": options.end is not None,
        "loop": options.loop,
        "announce": options.announce_path is not None,
    }
    for feature, asked in wanted.items():
        if asked and feature not in have:
            raise UsageError(f"this holdmusic's fix has no {feature} option yet")
    # Hooks for issue 19 (names as its FixSettings will carry them).
    if options.end is not None:
        kwargs["end_seconds"] = options.end
    if options.loop:
        kwargs["loop"] = True
    if options.announce_path is not None:
        kwargs["announcements"] = ((options.announce_path, options.announce_at or 0.0),)
    length = kwargs.get("length_seconds", fixing.FixSettings.length_seconds)
    if length >= ctx.max_seconds:
        raise UsageError(f"length {length:g} s is not under the limit of {ctx.max_seconds:g} s")
    settings = fixing.FixSettings(**kwargs)
    limits = rules.Limits(max_bytes=ctx.max_bytes, max_seconds=ctx.max_seconds)
    result = fixing.fix(path, output, settings, limits, force=True)
    verdict = replace(result.verdict, path=name)
    announcements = tuple(getattr(result, "announcements", ()) or ())
    return Fixed(
        changes=result.changes(),
        summary=result.summary(),
        checked=_checked(verdict),
        start_seconds=result.start_seconds,
        output_seconds=result.output_seconds,
        fade_in_seconds=result.fade_in_seconds,
        fade_out_seconds=result.fade_out_seconds,
        trimmed=result.trimmed,
        announcements=announcements,
    )


def preview_twice(path: str, output: str) -> float:
    """The phone preview of ``path``, played twice (Daily plays pinless hold music twice):
    ``preview --twice`` when the stage has it (issue 19), else the preview rendered once
    and its samples written twice. Returns the seconds of one pass."""
    from holdmusic.studio import phone

    if "twice" in inspect.signature(phone.preview).parameters:  # issue 19
        p = phone.preview(path, output, force=True, twice=True)  # type: ignore[call-arg]
        return float(p.seconds) / 2
    once = output + ".once.wav"
    try:
        p = phone.preview(path, once, force=True)
        _wav_twice(once, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(once)
    return float(p.seconds)


def _wav_twice(src: str, dst: str) -> None:
    """A RIFF/WAVE file whose data chunk is the source's, twice (the other chunks copied;
    a ``fact`` chunk's sample count doubled)."""
    with open(src, "rb") as fh:
        raw = fh.read()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise HoldmusicError("the preview is not a WAV file")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"data":
            body = body + body
        elif cid == b"fact" and len(body) >= 4:
            body = (int.from_bytes(body[:4], "little") * 2).to_bytes(4, "little") + body[4:]
        chunks.append((cid, body))
        pos += 8 + size + (size & 1)
    out = b"".join(
        cid + len(body).to_bytes(4, "little") + body + (b"\0" if len(body) & 1 else b"")
        for cid, body in chunks
    )
    with open(dst, "wb") as fh:
        fh.write(b"RIFF" + (len(out) + 4).to_bytes(4, "little") + b"WAVE" + out)


@dataclass(frozen=True)
class Envelope:
    block_seconds: float
    peaks: tuple[float, ...]
    rms: tuple[float, ...]
    seconds: float
    complete: bool


def envelope(path: str) -> Envelope | None:
    """The waveform's envelope, or None when FFmpeg cannot decode the file."""
    from holdmusic.studio import StudioError, peaks

    try:
        e = peaks.envelope(path)
    except StudioError:
        return None
    return Envelope(e.block_seconds, e.peaks, e.rms, e.seconds, e.complete)


def default_fix() -> dict[str, float]:
    """fix's defaults, for the form and for the planned cut on the waveform."""
    from holdmusic import studio

    return {
        "length": studio.DEFAULT_LENGTH_SECONDS,
        "fade_in": studio.DEFAULT_FADE_IN_SECONDS,
        "fade_out": studio.DEFAULT_FADE_OUT_SECONDS,
        "loudness": studio.DEFAULT_LOUDNESS_LUFS,
    }


def studio_error(exc: BaseException) -> str | None:
    """The one line of a refusal from the audio stage, or None for anything else."""
    if isinstance(exc, HoldmusicError):
        return str(exc)
    return None


# --- Daily configs -------------------------------------------------------------------------


def list_configs(
    ctx: Context, type_: str | None = None, name_prefix: str | None = None
) -> list[dict[str, Any]]:
    """``holdmusic configs list --json`` (with its filters): as Daily lists them."""
    with ctx.client() as client:
        found = client.list_configs(**({"type": type_} if type_ else {}))
    if name_prefix is not None:
        found = [c for c in found if (c.name_prefix or "").startswith(name_prefix)]
    return [_masked(c.to_dict()) for c in found]


_SECRET_FIELDS = ("hmac",)


def _masked(d: dict[str, Any]) -> dict[str, Any]:
    """The hmac secret never leaves the server (as ``configs show`` without --show-secrets)."""
    config = dict(d.get("config") or {})
    for k in _SECRET_FIELDS:
        if config.get(k):
            config[k] = "********"
    return {**d, "config": config}


@dataclass(frozen=True)
class ConfigRow:
    id: str
    name_prefix: str | None
    phone_number: str | None
    hold_music_url: str | None
    error: str | None = None


def pinless_configs(ctx: Context) -> list[ConfigRow]:
    """Every pinless config with what it plays now (Daily's list is trimmed: one GET each)."""
    from holdmusic.daily import DailyError
    from holdmusic.update import read_configs

    with ctx.client() as client:
        ids = [c.id for c in client.list_configs(type="pinless_dialin")]
        found = read_configs(client, ids, concurrency=ctx.concurrency)
    rows = []
    for cid in ids:
        got = found[cid]
        if isinstance(got, DailyError):
            rows.append(ConfigRow(cid, None, None, None, error=str(got)))
        else:
            rows.append(ConfigRow(cid, got.name_prefix, got.phone_number, got.hold_music_url))
    return rows


# --- publish, rollback, audit ------------------------------------------------------------


class _Events:
    """Today's progress hooks as structured events for an observer (called from worker
    threads; the observer must be thread-safe)."""

    def __new__(cls, observer: Observer) -> Any:
        from holdmusic.update import Progress

        class Events(Progress):
            def phase(self, name: str, total: int) -> None:
                observer({"event": "phase", "name": name, "total": total})

            def advance(self, text: str | None = None) -> None:
                observer({"event": "step", "text": text})

            def message(self, text: str) -> None:
                observer({"event": "message", "text": text})

            def verdict(self, prepared: Any) -> None:
                v = prepared.verdict
                observer(
                    {
                        "event": "verdict",
                        "status": _status(v),
                        "problems": [p.to_dict() for p in v.problems],
                    }
                )

            def published(self, published: Any) -> None:
                observer(
                    {
                        "event": "published",
                        "url": published.stored.url,
                        "uploaded": published.stored.uploaded,
                        "public": published.ok,
                        "problems": list(published.public.problems),
                    }
                )

            def outcome(self, item: Item, *, sent: bool) -> None:
                observer(
                    {
                        "event": "outcome",
                        "config_id": item.config_id,
                        "status": item.status,
                        "error": item.error,
                        "sent": sent,
                    }
                )

        return Events()


def _recorder(ctx: Context, command: str, source: str, user: str, *, dry_run: bool) -> Any:
    """A report in the shared folder under a default name, naming the page's user (a key
    the CLI's reports lack; ``record.load`` ignores it)."""
    from holdmusic.record import Recorder, ReportExists, default_path

    @dataclass
    class _Recorder(Recorder):
        user: str | None = None

        def to_dict(self) -> dict[str, Any]:
            return {**super().to_dict(), "user": self.user}

    if dry_run:
        return _Recorder(None, command, source, dry_run=True, user=user)
    for _ in range(20):
        path = os.path.join(ctx.reports_dir, default_path(command))
        with contextlib.suppress(ReportExists):
            return _Recorder(path, command, source, user=user)
    raise HoldmusicError(f"could not find a free report name in {ctx.reports_dir}")


@dataclass
class Cancel:
    """A run's cancel handle: stops its Daily calls (PUTs not yet sent are recorded
    ``not_attempted``; one cut in flight ``pending``)."""

    _client: DailyClient | None = None
    _asked: threading.Event = field(default_factory=threading.Event)

    def attach(self, client: DailyClient) -> None:
        self._client = client
        if self._asked.is_set():
            client.interrupt()

    def __call__(self) -> None:
        self._asked.set()
        if self._client is not None:
            self._client.interrupt()

    @property
    def asked(self) -> bool:
        return self._asked.is_set()


def publish(
    ctx: Context,
    path: str,
    name: str,
    config_ids: list[str],
    *,
    user: str,
    dry_run: bool = False,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
) -> dict[str, Any]:
    """``holdmusic publish FILE --config ID... [--dry-run] --json``, plus ``report``: the
    report's name in the shared folder (None for a dry run). ``path`` is the file in the
    work area; ``name`` is what the report and the storage key call it."""
    from holdmusic import configid, pipeline
    from holdmusic.manifest import Assignment

    if not config_ids:
        raise UsageError("pick at least one config")
    for cid in config_ids:
        configid.check(cid)
    with ctx.client() as client:
        if cancel is not None:
            cancel.attach(client)
        recorder = _recorder(ctx, "publish", name, user, dry_run=dry_run)
        assignments = [Assignment(cid, path, name, "page") for cid in dict.fromkeys(config_ids)]
        result = pipeline.batch(
            assignments,
            ctx.storage,
            client,
            recorder,
            limits=ctx.limits,
            dry_run=dry_run,
            all_or_nothing=True,
            concurrency=ctx.concurrency,
            reporter=_Events(observer or (lambda e: None)),
        )
    d = _publish_dict(result, path, name)
    d["report"] = os.path.basename(recorder.path) if recorder.path else None
    return d


def _publish_dict(result: Any, path: str, name: str) -> dict[str, Any]:
    """publish --json's shape (cli/publish.py's result_dict, until the application layer
    holds it once)."""
    prepared = result.prepared[path]
    published = result.published.get(path)
    planned = result.planned.get(path)
    d: dict[str, Any] = {
        "path": name,
        "sha256": prepared.sha256,
        "size_bytes": prepared.verdict.size_bytes,
        "duration_seconds": prepared.verdict.duration_seconds,
        "validation": {**prepared.verdict.to_dict(), "path": name},
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
    d.update(
        ok=result.ok,
        url=published.stored.url if published else planned,
        dry_run=published is None and planned is not None,
        stopped=result.stopped,
        configs=[_outcome_dict(i) for i in result.items],
    )
    return d


def _outcome_dict(o: Item) -> dict[str, Any]:
    d: dict[str, Any] = {
        "config_id": o.config_id,
        "previous_url": o.previous_url,
        "status": o.status,
        "error": o.error,
    }
    if o.changed_fields:
        d["changed_fields"] = list(o.changed_fields)
    if o.note:
        d["note"] = o.note
    if o.stored_url is not None:
        d["stored_url"] = o.stored_url
    return d


def report_path(ctx: Context, name: str) -> str:
    """The report called ``name`` in the shared folder; a name that is not a report name
    is a usage error, so nothing of a request ever becomes a path."""
    if not isinstance(name, str) or not REPORT_NAME.fullmatch(name):
        raise UsageError(
            "not a report name (holdmusic-COMMAND-YYYYMMDDTHHMMSSZ-xxxxxx.json, "
            "as the history page lists them)"
        )
    path = os.path.join(ctx.reports_dir, name)
    if not os.path.isfile(path):
        raise NotFound(f"no report {name} in the report folder")
    return path


def rollback_items(ctx: Context, name: str) -> list[str]:
    """The config ids a rollback of report ``name`` would touch (to lock them first)."""
    _, items = _load(ctx, name)
    return [i.config_id for i in items if i.status in ROLLBACKABLE]


def _load(ctx: Context, name: str) -> tuple[dict[str, Any], list[Item]]:
    from holdmusic import record

    path = report_path(ctx, name)
    if os.path.getsize(path) > MAX_REPORT_BYTES:
        raise HoldmusicError(f"report {name} is larger than {MAX_REPORT_BYTES:,} bytes")
    data, items = record.load(path)
    return data, items


def rollback(
    ctx: Context,
    name: str,
    *,
    user: str,
    dry_run: bool = False,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
) -> dict[str, Any]:
    """``holdmusic rollback REPORT --json`` for the report called ``name``: the rollback's
    own report, with ``ok`` and ``report`` (its name; None for a dry run)."""
    from holdmusic import pipeline

    _, items = _load(ctx, name)
    with ctx.client() as client:
        if cancel is not None:
            cancel.attach(client)
        recorder = _recorder(ctx, "rollback", name, user, dry_run=dry_run)
        result = pipeline.rollback(
            items,
            client,
            recorder,
            dry_run=dry_run,
            concurrency=ctx.concurrency,
            limits=ctx.limits,
            reporter=_Events(observer or (lambda e: None)),
        )
    d: dict[str, Any] = recorder.to_dict()
    d["ok"] = result.ok
    d["report"] = os.path.basename(recorder.path) if recorder.path else None
    return d


def audit(ctx: Context, *, listen: bool = False) -> list[dict[str, Any]]:
    """``holdmusic configs check [--listen] --json``: each pinless config's current hold
    music, fetched as Daily will fetch it, judged; plus its phone number and name."""
    from dataclasses import replace

    from holdmusic import audit as audit_
    from holdmusic import rules

    inspect_ = None
    if listen and fix_available():
        from holdmusic.studio import listening

        inspect_ = listening.hear
    with ctx.client() as client:
        audited = audit_.audit(client, None, limits=ctx.limits, inspect=inspect_)
    out = []
    for a in audited:
        label = a.config_id
        if a.config is not None and a.config.phone_number:
            label += f" ({a.config.phone_number})"
        if a.verdict is not None:
            verdict = replace(a.verdict, path=label)
        else:
            code = "no_hold_music" if a.config is not None else "config_error"
            problem = rules.Problem(code, "error", a.error or "unknown")
            verdict = rules.Verdict(label, None, None, (problem,))
        url = a.config.hold_music_url if a.config else None
        out.append(
            {
                "config_id": a.config_id,
                "hold_music_url": url,
                **verdict.to_dict(),
                # for the page, not part of configs check --json
                "_status": _status(verdict),
                "_details": _describe(verdict),
                "_name_prefix": a.config.name_prefix if a.config else None,
                "_phone_number": a.config.phone_number if a.config else None,
            }
        )
    return out


# --- the history: every report in the shared folder ----------------------------------------


@dataclass(frozen=True)
class ReportSummary:
    name: str
    command: str
    started_at: str | None
    finished_at: str | None
    complete: bool
    dry_run: bool
    user: str | None  # who, from the page; None for the CLI's reports
    owner: str | None  # the file's owner (who ran the CLI)
    source: str
    counts: dict[str, int]
    items: list[dict[str, Any]]
    rollbackable: bool
    error: str | None = None  # the file could not be read as a report


def _owner(path: str) -> str | None:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (KeyError, OSError):
        return None


def report_names(ctx: Context) -> list[str]:
    try:
        names = [n for n in os.listdir(ctx.reports_dir) if REPORT_NAME.fullmatch(n)]
    except OSError:
        return []
    # The names carry their UTC start time after the command: newest first.
    names.sort(key=lambda n: n.split("-", 2)[2], reverse=True)
    return names[:MAX_LISTED_REPORTS]


def report(ctx: Context, name: str) -> ReportSummary:
    path = report_path(ctx, name)
    try:
        data, items = _load(ctx, name)
    except HoldmusicError as exc:
        command = REPORT_NAME.fullmatch(name).group(1)  # type: ignore[union-attr]
        return ReportSummary(
            name, command, None, None, False, False, None, _owner(path), "", {}, [], False, str(exc)
        )
    dry = bool(data.get("dry_run"))
    user = data.get("user")
    return ReportSummary(
        name=name,
        command=str(data.get("command", "")),
        started_at=_str(data.get("started_at")),
        finished_at=_str(data.get("finished_at")),
        complete=bool(data.get("complete")),
        dry_run=dry,
        user=user if isinstance(user, str) else None,
        owner=_owner(path),
        source=str(data.get("source", "")),
        counts={i.status: sum(1 for j in items if j.status == i.status) for i in items},
        items=[i.to_dict() for i in items],
        rollbackable=not dry and any(i.status in ROLLBACKABLE for i in items),
    )


def _str(x: object) -> str | None:
    return x if isinstance(x, str) else None


def reports(ctx: Context) -> Iterator[ReportSummary]:
    for name in report_names(ctx):
        yield report(ctx, name)


def report_json(ctx: Context, name: str) -> dict[str, Any]:
    path = report_path(ctx, name)
    _load(ctx, name)  # its shape is checked before anything shows it
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = dict(json.load(fh))
    return data
