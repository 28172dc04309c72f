"""The audit behind ``configs check``: what do live numbers play?

Each pinless config's ``hold_music_url`` is fetched anonymously and judged as Daily will
fetch it; each distinct URL is downloaded once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdmusic import rules
from holdmusic.update import fan_out, preflight

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DialinConfig


@dataclass(frozen=True, kw_only=True)
class Audited:
    """One config and what its current hold_music_url serves (None: no URL, or unreadable)."""

    config_id: str
    config: DialinConfig | None
    verdict: rules.Verdict | None
    error: str | None = None


def audit(
    client: DailyClient,
    config_ids: list[str] | None = None,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    concurrency: int = 8,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
) -> list[Audited]:
    """Fetch every pinless config's hold_music_url (or the named configs') and judge it.
    ``inspect`` as in :func:`holdmusic.publicurl.validate_url` (``configs check --listen``)."""
    from holdmusic.daily import DailyError, target_problem
    from holdmusic.publicurl import validate_url

    if config_ids is None:
        config_ids = [c.id for c in client.list_configs(type="pinless_dialin")]
    found, _, _ = preflight(client, config_ids, concurrency=concurrency)
    urls = sorted(
        {
            c.hold_music_url
            for c in found.values()
            if not isinstance(c, DailyError) and c.hold_music_url is not None
        }
    )

    def judge(url: str) -> rules.Verdict:
        return validate_url(url, limits, inspect=inspect)

    verdicts = dict(zip(urls, fan_out(judge, urls, concurrency), strict=True))
    out = []
    for cid in config_ids:
        got = found[cid]
        if isinstance(got, DailyError):
            out.append(Audited(config_id=cid, config=None, verdict=None, error=str(got)))
        elif problem := target_problem(got):
            out.append(Audited(config_id=cid, config=got, verdict=None, error=problem))
        elif got.hold_music_url is None:
            error = "no hold_music_url is set"
            out.append(Audited(config_id=cid, config=got, verdict=None, error=error))
        else:
            verdict = verdicts[got.hold_music_url]
            out.append(Audited(config_id=cid, config=got, verdict=verdict))
    return out
