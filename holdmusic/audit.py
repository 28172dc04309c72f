"""The audit behind ``configs check``: what do live numbers play?

Each pinless config's ``hold_music_url`` is fetched anonymously and judged as Daily will
fetch it; each distinct URL is downloaded once. Every config gets a verdict: the URL's,
or one problem of its own (``no_hold_music``, ``not_pinless``, ``config_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from holdmusic import rules
from holdmusic.codes import problem
from holdmusic.progress import Phase, Reporter
from holdmusic.update import fan_out, preflight

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DialinConfig


@dataclass(frozen=True, kw_only=True)
class Audited:
    """One config and what its current hold_music_url serves.

    ``verdict`` is named after the config (``label``: its id, and phone number if any);
    ``config`` is None when it could not be read.
    """

    config_id: str
    config: DialinConfig | None
    verdict: rules.Verdict

    @property
    def hold_music_url(self) -> str | None:
        return self.config.hold_music_url if self.config is not None else None

    @property
    def label(self) -> str:
        return self.verdict.path


def label(config_id: str, config: DialinConfig | None) -> str:
    """``id (phone number)``: how a config is named where a file's path would be."""
    if config is not None and config.phone_number:
        return f"{config_id} ({config.phone_number})"
    return config_id


def audit(
    client: DailyClient,
    config_ids: list[str] | None = None,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    concurrency: int = 8,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
    reporter: Reporter | None = None,
    allow_private: bool | None = None,
) -> list[Audited]:
    """Fetch every pinless config's hold_music_url (or the named configs') and judge it.
    ``inspect`` as in :func:`holdmusic.publicurl.validate_url` (``configs check --listen``)."""
    from holdmusic.daily import DailyError, target_problem
    from holdmusic.publicurl import validate_url

    reporter = reporter or Reporter()
    if config_ids is None:
        config_ids = [c.id for c in client.list_configs(type="pinless_dialin")]
    reporter.phase(Phase.READ_CONFIGS, len(config_ids))
    found, _, _ = preflight(client, config_ids, concurrency=concurrency, reporter=reporter)
    urls = sorted(
        {
            c.hold_music_url
            for c in found.values()
            if not isinstance(c, DailyError) and c.hold_music_url is not None
        }
    )
    reporter.phase(Phase.CHECK_URLS, len(urls))

    def judge(url: str) -> rules.Verdict:
        reporter.cancel.check()
        verdict = validate_url(url, limits, inspect=inspect, allow_private=allow_private)
        reporter.step(url, failed=not verdict.ok)
        return verdict

    verdicts = dict(zip(urls, fan_out(judge, urls, concurrency, reporter.cancel), strict=True))
    out = []
    for cid in config_ids:
        got = found[cid]
        if isinstance(got, DailyError):
            verdict = _own(cid, None, "config_error", str(got))
            out.append(Audited(config_id=cid, config=None, verdict=verdict))
        elif why := target_problem(got):
            verdict = _own(cid, got, "not_pinless", why)
            out.append(Audited(config_id=cid, config=got, verdict=verdict))
        elif got.hold_music_url is None:
            verdict = _own(cid, got, "no_hold_music", "no hold_music_url is set")
            out.append(Audited(config_id=cid, config=got, verdict=verdict))
        else:
            verdict = replace(verdicts[got.hold_music_url], path=label(cid, got))
            out.append(Audited(config_id=cid, config=got, verdict=verdict))
    return out


def _own(cid: str, config: DialinConfig | None, code: str, message: str) -> rules.Verdict:
    return rules.Verdict(label(cid, config), None, None, (problem(code, message),))
