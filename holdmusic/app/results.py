"""What every entry point returns: typed values whose ``to_dict()`` is exactly the JSON a
command prints with ``--json`` (and a web page serves), checked against the schemas in
``holdmusic/schemas/``.

Rules every shape keeps (README, "JSON output"): an ``ok`` boolean on the object or on
each element of a top-level array (a listing, ``configs list``, is data and has none);
every problem is ``{code, severity, message}``; a command that could not run at all
prints :class:`Failure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from holdmusic.codes import Problem

if TYPE_CHECKING:
    from holdmusic.audit import Audited
    from holdmusic.daily import DialinConfig
    from holdmusic.doctor import Check
    from holdmusic.pipeline import Prepared, Published, RunResult
    from holdmusic.record import Item, Recorder
    from holdmusic.rules import Verdict


@dataclass(frozen=True)
class Failure:
    """A command that could not produce its result: ``{"ok": false, "error": {...}}``.
    ``report``: the report it had claimed already, if any."""

    error: Problem
    report: str | None = None

    ok = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": False, "error": self.error.to_dict()}
        if self.report is not None:
            d["report"] = self.report
        return d


@dataclass(frozen=True)
class ValidateResult:
    """``validate --json``: one object per file (or URL), in the order given."""

    verdicts: tuple[Verdict, ...]
    strict: bool = False

    @property
    def ok(self) -> bool:
        return all(v.passed(self.strict) for v in self.verdicts)

    @property
    def failed(self) -> int:
        return sum(not v.passed(self.strict) for v in self.verdicts)

    def to_dict(self) -> list[dict[str, Any]]:
        return [v.to_dict(self.strict) for v in self.verdicts]


def _published_fields(prepared: Prepared, published: Published | None) -> dict[str, Any]:
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
            public_check=c.to_dict(),
        )
    else:
        d.update(url=None, bucket=None, key=None, uploaded=False, public=False, public_check=None)
    return d


@dataclass(frozen=True)
class UploadResult:
    """``upload --json``: the file's verdict, where it went, and the public check."""

    prepared: Prepared
    published: Published | None

    @property
    def ok(self) -> bool:
        return self.prepared.ok and self.published is not None and self.published.ok

    @property
    def url(self) -> str | None:
        return self.published.stored.url if self.published is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **_published_fields(self.prepared, self.published)}


@dataclass(frozen=True)
class RunSummary:
    """The frame's part of every run's result: the report, and how the run ended."""

    report: str | None  # the report file (None: a dry run without one)
    interrupted: bool = False  # Ctrl-C or a cancel stopped it
    error: Problem | None = None  # an error that ended it after the report was claimed

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "interrupted": self.interrupted,
            "error": self.error.to_dict() if self.error else None,
        }


@dataclass(frozen=True)
class PublishResult:
    """``publish --json``: the file, its upload and public check, and every named config
    (items with the same fields as a batch's)."""

    path: str
    prepared: Prepared | None  # None: the run ended before the file was read
    run: RunResult | None
    items: tuple[Item, ...]
    summary: RunSummary
    dry_run: bool = False

    @property
    def published(self) -> Published | None:
        if self.run is None:
            return None
        return self.run.published.get(self.path)

    @property
    def planned(self) -> str | None:
        return self.run.planned.get(self.path) if self.run is not None else None

    @property
    def url(self) -> str | None:
        published = self.published
        return published.stored.url if published is not None else self.planned

    @property
    def stopped(self) -> str | None:
        return self.run.stopped if self.run is not None else None

    @property
    def ok(self) -> bool:
        return (
            self.run is not None
            and self.run.ok
            and not self.summary.interrupted
            and self.summary.error is None
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok}
        if self.prepared is not None:
            d.update(_published_fields(self.prepared, self.published))
        else:
            d.update(
                path=self.path,
                sha256=None,
                size_bytes=None,
                duration_seconds=None,
                validation=None,
                url=None,
                bucket=None,
                key=None,
                uploaded=False,
                public=False,
                public_check=None,
            )
        d.update(
            url=self.url,
            dry_run=self.dry_run,
            stopped=self.stopped,
            **self.summary.to_dict(),
            configs=[i.to_dict() for i in self.items],
        )
        return d


@dataclass(frozen=True)
class RunReport:
    """``batch --json`` and ``rollback --json``: the report as written, plus how the run
    ended (``ok``, ``report``, ``interrupted``, ``error``) and, for a batch, ``uploads``."""

    report: dict[str, Any]
    run: RunResult | None
    summary: RunSummary
    uploads: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.run is not None
            and self.run.ok
            and not self.summary.interrupted
            and self.summary.error is None
        )

    @property
    def stopped(self) -> str | None:
        return self.run.stopped if self.run is not None else self.report.get("stopped")

    @property
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.report["items"]
        return items

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.report["counts"]
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.report, "uploads": self.uploads, **self.summary.to_dict()}

    @classmethod
    def of(
        cls, recorder: Recorder, run: RunResult | None, summary: RunSummary, uploads: int = 0
    ) -> RunReport:
        return cls(recorder.to_dict(), run, summary, uploads)


@dataclass(frozen=True)
class ConfigList:
    """``configs list --json``: an array of configs as Daily lists them (data: no ``ok``)."""

    configs: tuple[DialinConfig, ...]

    ok = True

    def to_dict(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.configs]


@dataclass(frozen=True)
class ConfigView:
    """``configs show --json``: one config, whole, as Daily holds it (its secrets masked
    unless asked): data, like a listing, so no ``ok``."""

    config: DialinConfig

    ok = True

    def to_dict(self) -> dict[str, Any]:
        return self.config.to_dict()


@dataclass(frozen=True)
class AuditResult:
    """``configs check --json``: one object per config, validate's fields plus
    ``config_id``, ``hold_music_url`` and ``label``."""

    audited: tuple[Audited, ...]
    strict: bool = False
    stopped: str | None = None  # why Daily's circuit breaker stopped the reads, if it did

    @property
    def verdicts(self) -> list[Verdict]:
        return [a.verdict for a in self.audited]

    @property
    def ok(self) -> bool:
        return all(a.verdict.passed(self.strict) for a in self.audited)

    @property
    def failed(self) -> int:
        return sum(not a.verdict.passed(self.strict) for a in self.audited)

    def to_dict(self) -> list[dict[str, Any]]:
        out = []
        for a in self.audited:
            d = a.verdict.to_dict(self.strict)
            # ``path`` was the label before ``label`` existed; kept for scripts.
            out.append(
                {"config_id": a.config_id, "hold_music_url": a.hold_music_url, "label": a.label} | d
            )
        return out


@dataclass(frozen=True)
class DoctorResult:
    """``doctor --json``: an array of checks, each with ``ok`` (``fix`` null when ok)."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)  # a skipped check is not ok

    def to_dict(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]


@dataclass(frozen=True)
class ReportSummary:
    """One report in a folder, for a history page: what ran, when, how it ended."""

    path: str
    command: str | None
    source: str | None
    dry_run: bool
    started_at: str | None
    finished_at: str | None
    complete: bool
    stopped: str | None
    counts: dict[str, int] = field(default_factory=dict)
    problem: str | None = None  # the file could not be read as a report

    @property
    def ok(self) -> bool:
        from holdmusic.record import Status

        if self.problem is not None or not self.complete or self.stopped:
            return False
        return all(s in Status.__members__.values() and Status(s).ok for s in self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "command": self.command,
            "source": self.source,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "stopped": self.stopped,
            "counts": dict(self.counts),
            "problem": self.problem,
        }
