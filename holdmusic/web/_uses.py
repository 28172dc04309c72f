"""The page's door to the use cases: every call the web makes goes through here, to
the application layer (:mod:`holdmusic.app`), and comes back as plain values (dicts and
small frozen dataclasses). No stage is imported here or anywhere in ``holdmusic.web``.

What the page needs beyond the CLI's calls lives here too, built on the same layer: the
waveform's envelope (``holdmusic.app.envelope``), the phone preview played twice, the
pinless configs with what each plays, the report folder as a history, and who ran what
(a ledger beside the reports, since a report does not name its user).

Every function here is blocking (files, FFmpeg, HTTP): the handlers call them off the
event loop.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import pwd
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from holdmusic import app
from holdmusic.app import HoldmusicError, UsageError

# The names the CLI gives reports by default; a request names a report by this pattern
# only, so no path ever comes from a request.
REPORT_NAME = re.compile(r"holdmusic-(publish|batch|rollback)-\d{8}T\d{6}Z-[0-9a-f]{6}\.json")
MAX_REPORT_BYTES = 20_000_000  # a report of tens of thousands of configs; more is not ours
MAX_LISTED_REPORTS = 500
WHO_LEDGER = "holdmusic-serve-runs.jsonl"  # report name -> the page's user, beside the reports

Observer = Callable[[dict[str, Any]], None]


class NotFound(HoldmusicError):
    """A report (or other named thing) that is not there."""


# --- what the server was started with ----------------------------------------------------


@dataclass
class Context:
    """What ``holdmusic serve`` was started with: the environment (read once, by the CLI),
    storage, limits, the report folder. The Daily key stays inside the clients made here."""

    env: app.Environment
    storage: app.StorageSettings
    reports_dir: str
    max_bytes: int
    max_seconds: float
    concurrency: int = 8
    _limiter: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def limits(self) -> app.Limits:
        return app.Limits(max_bytes=self.max_bytes, max_seconds=self.max_seconds)

    def client(self) -> Any:
        """A Daily client of its own (so one run's cancel stops only that run), under one
        rate limiter shared by every client of this process."""
        with self._lock:
            if self._limiter is None:
                first = self.env.daily_client()
                self._limiter = first.limiter
                return first
            return self.env.daily_client(limiter=self._limiter)

    def check(self) -> None:
        """Fail at start, not at the first publish: a missing or malformed key is a usage
        error (exit 2)."""
        self.client().close()


def fix_available() -> bool:
    """PyAV importable: the page shows fix, preview, --listen and the waveform."""
    try:
        app.listener("the page")
    except UsageError:
        return False
    return True


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


def _checked(verdict: app.Verdict) -> Checked:
    return Checked(
        item=verdict.to_dict(),
        status=verdict.status(),
        details=verdict.describe(),
        is_mp3=verdict.info is not None,
        duration_seconds=verdict.duration_seconds,
    )


def check(ctx: Context, path: str, name: str, *, listen: bool) -> Checked:
    """``holdmusic validate [--listen] FILE`` on a file in the work area, named ``name``."""
    hear = app.listener("validate --listen") if listen and fix_available() else None
    (verdict,) = app.validate([path], env=ctx.env, limits=ctx.limits, jobs=1, inspect=hear)
    return _checked(replace(verdict, path=name))


# --- audio work: fix, preview, waveform ------------------------------------------------------


@dataclass(frozen=True)
class FixOptions:
    """``holdmusic fix``'s options as the page offers them. ``end``, ``loop`` and an
    announcement are the hooks for issue 19's options: passed on when ``app.fix`` takes
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


_FEATURES = {"end": "end_seconds", "loop": "loop", "announce": "announcements"}


def fix_features() -> set[str]:
    """Which of the optional fix options the application layer's ``fix`` takes."""
    params = inspect.signature(app.fix_settings).parameters
    return {feature for feature, name in _FEATURES.items() if name in params}


@dataclass(frozen=True)
class Fixed:
    """What ``holdmusic fix --json`` prints (``changes``, the output's verdict), and where
    the cut and the fades fell, for the waveform."""

    changes: dict[str, Any]
    summary: str
    checked: Checked
    start_seconds: float
    output_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    trimmed: bool
    # (seconds into the output, seconds long): issue 19's announcements, when fix places any
    announcements: tuple[tuple[float, float], ...] = ()


def fix(ctx: Context, path: str, output: str, name: str, options: FixOptions) -> Fixed:
    kwargs: dict[str, Any] = {"start_seconds": options.start}
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
    if options.end is not None:
        kwargs["end_seconds"] = options.end
    if options.loop:
        kwargs["loop"] = True
    if options.announce_path is not None:
        kwargs["announcements"] = ((options.announce_path, options.announce_at or 0.0),)
    length = kwargs.get("length_seconds", app.FIX_DEFAULTS["length_seconds"])
    if length >= ctx.max_seconds:
        raise UsageError(f"length {length:g} s is not under the limit of {ctx.max_seconds:g} s")
    outcome = app.fix(path, output, limits=ctx.limits, force=True, **kwargs)
    r = outcome.result
    return Fixed(
        changes=r.changes(),
        summary=outcome.summary(),
        checked=_checked(replace(outcome.verdict, path=name)),
        start_seconds=r.start_seconds,
        output_seconds=r.output_seconds,
        fade_in_seconds=r.fade_in_seconds,
        fade_out_seconds=r.fade_out_seconds,
        trimmed=r.trimmed,
        announcements=_placed(r),
    )


def _placed(result: Any) -> tuple[tuple[float, float], ...]:
    """Where fix put announcements, as (seconds into the output, seconds long): issue 19's
    ``FixResult.announcements`` hold samples of the output (``at``, ``samples``)."""
    rate = getattr(getattr(result, "settings", None), "sample_rate", None)
    out = []
    for placed in getattr(result, "announcements", ()) or ():
        at, n = getattr(placed, "at", None), getattr(placed, "samples", None)
        if rate and isinstance(at, int) and isinstance(n, int):
            out.append((at / rate, n / rate))
    return tuple(out)


def preview_twice(path: str, output: str) -> float:
    """The phone preview of ``path``, played twice (Daily plays pinless hold music twice).
    Returns the seconds of one pass."""
    p = app.preview(path, output, force=True, twice=True)
    return float(p.preview.seconds) / 2


def envelope(path: str) -> Any:
    """The waveform's envelope (``holdmusic.app.envelope.Envelope``), or None when FFmpeg
    cannot decode the file."""
    from holdmusic.app import envelope as envelope_

    return envelope_.envelope(path)


def default_fix() -> dict[str, float]:
    """fix's defaults, for the form and for the planned cut on the waveform."""
    d = app.FIX_DEFAULTS
    return {
        "length": d["length_seconds"],
        "fade_in": d["fade_in_seconds"],
        "fade_out": d["fade_out_seconds"],
        "loudness": d["loudness_lufs"],
    }


# --- Daily configs -------------------------------------------------------------------------


def list_configs(
    ctx: Context, type_: str | None = None, name_prefix: str | None = None
) -> list[dict[str, Any]]:
    """``holdmusic configs list --json`` (with its filters)."""
    with ctx.client() as client:
        found = app.list_configs(env=ctx.env, type=type_, name_prefix=name_prefix, client=client)
    return list(found.to_dict())


@dataclass(frozen=True)
class ConfigRow:
    id: str
    name_prefix: str | None
    phone_number: str | None
    hold_music_url: str | None
    error: str | None = None


def pinless_configs(ctx: Context) -> list[ConfigRow]:
    """Every pinless config with what it plays now (Daily's list is trimmed: one GET each,
    in parallel under the shared rate limit)."""
    with ctx.client() as client:
        listed = app.list_configs(env=ctx.env, type="pinless_dialin", client=client)
        ids = [c["id"] for c in listed.to_dict()]

        def one(cid: str) -> ConfigRow:
            try:
                c = app.show_config(cid, env=ctx.env, client=client).to_dict()
            except HoldmusicError as exc:
                return ConfigRow(cid, None, None, None, error=str(exc))
            config = c.get("config") or {}
            return ConfigRow(
                cid,
                _text(config.get("name_prefix")),
                _text(config.get("phone_number")),
                _text(config.get("hold_music_url")),
            )

        with ThreadPoolExecutor(max_workers=max(1, min(ctx.concurrency, len(ids) or 1))) as pool:
            return list(pool.map(one, ids))


def _text(x: object) -> str | None:
    return x if isinstance(x, str) else None


# --- publish, rollback, audit ------------------------------------------------------------


Cancel = app.Cancel


def _events(observer: Observer | None) -> Callable[[Any], None] | None:
    if observer is None:
        return None

    def relay(event: Any) -> None:
        observer(event.to_dict())

    return relay


def publish(
    ctx: Context,
    path: str,
    name: str,
    config_ids: list[str],
    *,
    user: str,
    dry_run: bool = False,
    observer: Observer | None = None,
    cancel: app.Cancel | None = None,
) -> dict[str, Any]:
    """``holdmusic publish FILE --config ID... [--dry-run] --json``, whose ``report`` is
    the report's name in the report folder (None for a dry run). ``path`` is the file in
    the work area; ``name`` is what the report and the storage key call it."""
    if not config_ids:
        raise UsageError("pick at least one config")
    prepared = app.prepare_path(path, ctx.limits)
    prepared = replace(prepared, path=name, verdict=replace(prepared.verdict, path=name))
    with ctx.client() as client:
        result = app.publish(
            prepared,
            app.Selection(config_ids=tuple(dict.fromkeys(config_ids))),
            ctx.storage,
            env=ctx.env,
            dry_run=dry_run,
            report_dir=ctx.reports_dir,
            limits=ctx.limits,
            concurrency=ctx.concurrency,
            observer=_events(observer),
            cancel=cancel,
            client=client,
        )
    d: dict[str, Any] = result.to_dict()
    d["report"] = _named(ctx, d.get("report"), user)
    return d


def _named(ctx: Context, report: object, user: str) -> str | None:
    """A run's report by its name in the folder, its user noted in the ledger."""
    if not isinstance(report, str) or not report:
        return None
    name = os.path.basename(report)
    line = json.dumps({"report": name, "user": user, "time": _now()}) + "\n"
    fd = os.open(
        os.path.join(ctx.reports_dir, WHO_LEDGER), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return name


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_path(ctx: Context, name: str) -> str:
    """The report called ``name`` in the report folder; a name that is not a report name
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


def _raw(ctx: Context, name: str) -> dict[str, Any]:
    path = report_path(ctx, name)
    if os.path.getsize(path) > MAX_REPORT_BYTES:
        raise HoldmusicError(f"report {name} is larger than {MAX_REPORT_BYTES:,} bytes")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise HoldmusicError(f"report {name} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "holdmusic":
        raise HoldmusicError(f"{name} is not a holdmusic report")
    return data


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    items = data.get("items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _rolls_back(item: dict[str, Any]) -> bool:
    try:
        return bool(app.Status(str(item.get("status"))).rolled_back)
    except ValueError:
        return False


def rollback_items(ctx: Context, name: str) -> list[str]:
    """The config ids a rollback of report ``name`` would touch (to lock them first)."""
    return [str(i.get("config_id")) for i in _items(_raw(ctx, name)) if _rolls_back(i)]


def rollback(
    ctx: Context,
    name: str,
    *,
    user: str,
    dry_run: bool = False,
    observer: Observer | None = None,
    cancel: app.Cancel | None = None,
) -> dict[str, Any]:
    """``holdmusic rollback REPORT --json`` for the report called ``name``: the rollback's
    own report, with ``ok`` and ``report`` (its name)."""
    path = report_path(ctx, name)
    with ctx.client() as client:
        result = app.rollback(
            path,
            env=ctx.env,
            dry_run=dry_run,
            report_dir=ctx.reports_dir,
            concurrency=ctx.concurrency,
            observer=_events(observer),
            cancel=cancel,
            client=client,
        )
    d: dict[str, Any] = result.to_dict()
    d["report"] = _named(ctx, d.get("report"), user)
    return d


def audit(ctx: Context, *, listen: bool = False) -> list[dict[str, Any]]:
    """``holdmusic configs check [--listen] --json``, with each config's phone number and
    name and the verdict in validate's words, for the page."""
    with ctx.client() as client:
        result = app.check_configs(
            env=ctx.env,
            limits=ctx.limits,
            listen=listen and fix_available(),
            concurrency=ctx.concurrency,
            client=client,
        )
    out = []
    for a, d in zip(result.audited, result.to_dict(), strict=True):
        config = a.config
        out.append(
            {
                **d,
                "page_status": a.verdict.status(),
                "page_details": a.verdict.describe(),
                "name_prefix": config.name_prefix if config is not None else None,
                "phone_number": config.phone_number if config is not None else None,
            }
        )
    return out


# --- the history: every report in the report folder ----------------------------------------


@dataclass(frozen=True)
class ReportSummary:
    name: str
    command: str
    started_at: str | None
    finished_at: str | None
    complete: bool
    dry_run: bool
    user: str | None  # who, when the page ran it
    owner: str | None  # the file's owner (who ran the CLI)
    source: str
    counts: dict[str, int]
    items: list[dict[str, Any]]
    rollbackable: bool
    error: str | None = None  # the file could not be read as a report
    rolls_back: str | None = None  # a rollback's: the name of the report it undid


def _owner(path: str) -> str | None:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (KeyError, OSError):
        return None


def _who(ctx: Context) -> dict[str, str]:
    """Report name -> the page's user, from the ledger (bounded read)."""
    path = os.path.join(ctx.reports_dir, WHO_LEDGER)
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh.readlines(MAX_REPORT_BYTES):
                with contextlib.suppress(ValueError, AttributeError):
                    entry = json.loads(line)
                    out[str(entry["report"])] = str(entry["user"])
    except (OSError, KeyError):
        pass
    return out


def report_names(ctx: Context) -> list[str]:
    try:
        names = [n for n in os.listdir(ctx.reports_dir) if REPORT_NAME.fullmatch(n)]
    except OSError:
        return []
    # The names carry their UTC start time after the command: newest first.
    names.sort(key=lambda n: n.split("-", 2)[2], reverse=True)
    return names[:MAX_LISTED_REPORTS]


def report(ctx: Context, name: str, who: dict[str, str] | None = None) -> ReportSummary:
    path = report_path(ctx, name)
    who = _who(ctx) if who is None else who
    command = REPORT_NAME.fullmatch(name).group(1)  # type: ignore[union-attr]
    try:
        data = _raw(ctx, name)
    except HoldmusicError as exc:
        return ReportSummary(
            name, command, None, None, False, False, who.get(name), _owner(path), "", {}, [],
            False, str(exc),
        )  # fmt: skip
    items = _items(data)
    dry = data.get("dry_run") is True
    counts: dict[str, int] = {}
    for i in items:
        status = str(i.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return ReportSummary(
        name=name,
        command=str(data.get("command", command)),
        started_at=_text(data.get("started_at")),
        finished_at=_text(data.get("finished_at")),
        complete=data.get("complete") is True,
        dry_run=dry,
        user=who.get(name),
        owner=_owner(path),
        source=str(data.get("source", "")),
        counts=counts,
        items=items,
        rollbackable=not dry and any(_rolls_back(i) for i in items),
        rolls_back=_undone(data),
    )


def _undone(data: dict[str, Any]) -> str | None:
    """A rollback's source is the report it read (a path on the server): its name only."""
    source = data.get("source")
    if data.get("command") != "rollback" or not isinstance(source, str):
        return None
    name = os.path.basename(source)
    return name if REPORT_NAME.fullmatch(name) else None


def reports(ctx: Context) -> Iterator[ReportSummary]:
    who = _who(ctx)
    for name in report_names(ctx):
        yield report(ctx, name, who)
