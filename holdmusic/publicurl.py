"""Fetch a URL the way Daily will: anonymously, and prove it serves the exact bytes.

Daily fetches ``hold_music_url`` itself when a call comes in. A 403, an HTML error page,
a redirect to a login or a stale CDN copy all fail silently on a live phone line, so a
URL is only "public" here when an anonymous GET answers 200 directly, as
``audio/mpeg``, with a body whose SHA-256 equals the file's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from holdmusic import __version__, rules
from holdmusic.codes import Problem, problem
from holdmusic.netguard import (  # re-exported: callers know them as publicurl.*
    ALLOW_PRIVATE_ENV,
    BadURLError,
    FetchError,
    PrivateURLError,
    address_problem,
    allow_private,
    deadline,
    deadline_passed,
    guarded_transport,
    read_capped,
)
from holdmusic.netguard import allow_private as netguard_allow_private
from holdmusic.text import shorten

__all__ = [
    "ALLOW_PRIVATE_ENV",
    "BadURLError",
    "FetchError",
    "PrivateURLError",
    "address_problem",
    "allow_private",
    "deadline",
    "deadline_passed",
    "guarded_transport",
    "read_capped",
]

USER_AGENT = f"holdmusic/{__version__} (public-url check)"
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
# The whole fetch of one URL (every redirect hop, headers and body) ends within this,
# however slowly a server drips bytes: the per-read timeout alone let one byte a second
# hold a run for as long as the server liked. 10 MB in 30 s is 330 KB/s, which any host
# fit to serve a phone system's hold music beats by far.
FETCH_DEADLINE = 30.0


@dataclass(frozen=True, kw_only=True)
class Fetched:
    url: str  # what was asked for
    status: int
    content_type: str | None
    body: bytes  # at most the cap
    over_cap: bool  # the server had more than the cap to send
    redirects: tuple[str, ...] = ()  # every Location followed, in order
    location: str | None = None  # an unfollowed redirect's target

    @property
    def media_type(self) -> str | None:
        if self.content_type is None:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()


def fetch(
    url: str,
    *,
    max_bytes: int,
    max_redirects: int = 0,
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
    allow_private: bool | None = None,
) -> Fetched:
    """GET ``url`` with no credentials or cookies, reading at most ``max_bytes`` + 1 bytes.

    Redirects are followed by hand, up to ``max_redirects``, so that each hop is reported.
    The whole exchange, redirects included, ends within ``total_seconds``. Unless
    HOLDMUSIC_ALLOW_PRIVATE_URLS=1, an address that is not public (after DNS, on every
    hop) raises :class:`PrivateURLError`. ``allow_private`` None: as that variable says.
    """
    parts = _split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise FetchError("the URL carries credentials (user:password@): Daily fetches anonymously")
    redirects: list[str] = []
    current = url
    if transport is None:
        if allow_private is None:
            allow_private = netguard_allow_private()
        transport, _ = guarded_transport(public_only=not allow_private, pool_size=2)
    started = time.monotonic()
    try:
        with (
            deadline(total_seconds),
            httpx.Client(
                timeout=timeout,
                transport=transport,
                follow_redirects=False,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "audio/mpeg, */*;q=0.1",
                    # Compressed answers are decoded by hand, within the cap (_read_capped).
                    "Accept-Encoding": "identity",
                },
                trust_env=False,  # no proxy credentials or netrc: anonymous means anonymous
            ) as client,
        ):
            while True:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        target = urljoin(current, resp.headers["location"])
                        if len(redirects) < max_redirects:
                            redirects.append(target)
                            current = target
                            continue
                        return Fetched(
                            url=url,
                            status=resp.status_code,
                            content_type=resp.headers.get("content-type"),
                            body=b"",
                            over_cap=False,
                            redirects=tuple(redirects),
                            location=target,
                        )
                    body, over = read_capped(resp, max_bytes)
                    return Fetched(
                        url=url,
                        status=resp.status_code,
                        content_type=resp.headers.get("content-type"),
                        body=body,
                        over_cap=over,
                        redirects=tuple(redirects),
                    )
    except PrivateURLError:
        raise
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        # A malformed address or host name (here, or in a redirect's Location) is this
        # URL's problem, not the run's: one verdict, and every other URL still judged.
        raise BadURLError(
            f"{shorten(current, _SHORT)} is not a valid URL: {shorten(exc, _SHORT)}"
        ) from None
    except httpx.TimeoutException:
        if time.monotonic() - started >= total_seconds:
            raise FetchError(
                f"{_origin(current)} did not send the whole answer within {total_seconds:g} s"
            ) from None
        raise FetchError(f"timed out fetching {current}") from None
    except httpx.RemoteProtocolError as exc:
        if "location header" in str(exc):  # httpx checks a redirect's target itself
            raise BadURLError(
                f"{shorten(current, _SHORT)} redirects to a URL that is not valid: "
                f"{shorten(exc, _SHORT)}"
            ) from None
        raise FetchError(
            f"{_origin(current)} closed the connection before the whole file arrived"
        ) from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect to {_origin(current)}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"fetching {current} failed: {exc}") from None


def _split(url: str) -> SplitResult:
    """``urlsplit`` whose ValueError (a broken IPv6 literal, a bad port) is the URL's
    problem: ``bad_url``."""
    try:
        parts = urlsplit(url)
        _ = (parts.hostname, parts.port, parts.username)  # each parses lazily, and may raise
    except ValueError as exc:
        raise BadURLError(f"{shorten(url, _SHORT)} is not a valid URL: {exc}") from None
    return parts


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


_SHORT = 200  # characters of a URL or an error quoted in a message


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text


@dataclass(frozen=True)
class PublicCheck:
    url: str
    ok: bool
    status: int | None
    content_type: str | None
    sha256: str | None  # of what was served
    size_bytes: int | None
    problems: tuple[Problem, ...] = ()  # errors: the URL must not be used
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "codes": list(self.codes),
        }


def check_public(
    url: str,
    sha256: str,
    size_bytes: int,
    *,
    hint: str = "",
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
    allow_private: bool | None = None,
) -> PublicCheck:
    """Prove that ``url`` anonymously serves exactly the bytes with this ``sha256``.

    ``hint`` is what to do when the object turns out private (the command the user runs).
    Network failures are results too (``ok=False``), so the caller decides what to say.
    Problems are errors (``not_public``, ``http_status``, ``too_many_redirects``,
    ``content_type``, ``wrong_bytes``, ``unreachable``, ``private_url``); warnings
    ``not_https``.
    """
    warnings = []
    if _scheme(url) != "https":
        warnings.append(
            problem(
                "not_https",
                f"{url} is not https: Daily may refuse it, and anyone on path can alter it",
            )
        )
    try:
        got = fetch(
            url,
            max_bytes=size_bytes,
            timeout=timeout,
            total_seconds=total_seconds,
            transport=transport,
            allow_private=allow_private,
        )
    except FetchError as exc:
        return PublicCheck(
            url, False, None, None, None, None, (problem(exc.code, str(exc)),), tuple(warnings)
        )
    served = hashlib.sha256(got.body).hexdigest() if got.status == 200 else None
    problems = _judge(got, served, sha256, size_bytes, hint)
    return PublicCheck(
        url,
        not problems,
        got.status,
        got.content_type,
        served,
        len(got.body) if got.status == 200 else None,
        tuple(problems),
        tuple(warnings),
    )


def _judge(got: Fetched, served: str | None, sha256: str, size: int, hint: str) -> list[Problem]:
    status = got.status
    if got.location is not None:
        return [
            problem(
                "too_many_redirects",
                f"anonymous GET answered {status} redirecting to {got.location}; Daily needs the "
                "file itself at this URL (redirects are not documented to work): point the "
                "public base URL at the final location",
            )
        ]
    if status in (401, 403):
        return [
            problem(
                "not_public",
                f"anonymous GET answered {status}: the object is not public. {hint}".strip(),
            )
        ]
    if status == 404:
        return [
            problem(
                "http_status",
                "anonymous GET answered 404: this URL does not reach the uploaded object; check "
                "the public base URL (a CDN's origin path, the bucket name, the region)",
            )
        ]
    if status != 200:
        return [problem("http_status", f"anonymous GET answered {status}, not 200")]
    problems = []
    if got.media_type != "audio/mpeg":
        problems.append(
            problem(
                "content_type",
                f"served as Content-Type {got.content_type or '(none)'}, not audio/mpeg: the "
                "object's metadata or a CDN rule changes it",
                "error",
            )
        )
    if got.over_cap or served != sha256:
        what = "an HTML page" if got.media_type == "text/html" else f"{len(got.body):,} bytes"
        if got.over_cap:
            what = f"more than {size:,} bytes"
        problems.append(
            problem(
                "wrong_bytes",
                f"served {what} that are not the uploaded file (sha256 differs): a CDN or proxy "
                "serves a stale or different object",
            )
        )
    return problems


def validate_url(
    url: str,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    max_redirects: int = 3,
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
    allow_private: bool | None = None,
) -> rules.Verdict:
    """What Daily would fetch from ``url``, judged by the same rules as a local file.

    ``inspect`` gets the verdict of a downloaded MP3 and its bytes, and returns the verdict
    to report (``validate --listen`` measures the audio there).

    Downloads anonymously and stops one byte past ``max_bytes``; follows at most
    ``max_redirects`` redirects and reports each; requires 200 and an audio type.
    Extra codes: ``unreachable``, ``private_url``, ``http_status``, ``too_many_redirects``,
    ``content_type`` (errors) and ``redirect``, ``not_https`` (warnings).
    """
    problems = []
    if _scheme(url) != "https":
        problems.append(
            rules.Problem(
                "not_https",
                "warning",
                "not https: Daily may refuse it, and anyone on the path can alter it",
            )
        )
    try:
        got = fetch(
            url,
            max_bytes=limits.max_bytes,
            max_redirects=max_redirects,
            timeout=timeout,
            total_seconds=total_seconds,
            transport=transport,
            allow_private=allow_private,
        )
    except FetchError as exc:
        problems.append(rules.Problem(exc.code, "error", str(exc)))
        return rules.Verdict(url, None, None, tuple(problems))
    problems += [
        rules.Problem(
            "redirect",
            "warning",
            f"redirects to {hop}: Daily does not document following redirects; use the final URL",
        )
        for hop in got.redirects
    ]
    if got.location is not None:
        problems.append(
            rules.Problem(
                "too_many_redirects",
                "error",
                f"more than {max_redirects} redirects (next: {got.location})",
            )
        )
        return rules.Verdict(url, None, None, tuple(problems))
    if got.status != 200:
        hint = {
            401: ": it is not public",
            403: ": it is not public",
            404: ": nothing at that URL",
        }.get(got.status, "")
        problems.append(rules.Problem("http_status", "error", f"answered {got.status}{hint}"))
        return rules.Verdict(url, None, None, tuple(problems))
    media = got.media_type or ""
    if not media.startswith("audio/"):
        problems.append(
            rules.Problem(
                "content_type",
                "error",
                f"served as {got.content_type or '(no Content-Type)'}, not audio: "
                "set Content-Type audio/mpeg on the object",
            )
        )
    elif media != "audio/mpeg":
        problems.append(
            rules.Problem(
                "content_type",
                "warning",
                f"served as {got.content_type}; audio/mpeg is the registered type for MP3",
            )
        )
    if got.over_cap:
        problems.append(
            rules.Problem(
                "too_large",
                "error",
                f"more than {limits.max_bytes:,} bytes (download stopped there); "
                "Daily needs under 10 MB",
            )
        )
        return rules.Verdict(url, None, None, tuple(problems))
    verdict = rules.check_bytes(got.body, url, limits)
    verdict = rules.Verdict(url, verdict.size_bytes, verdict.info, (*problems, *verdict.problems))
    if inspect is not None and verdict.info is not None:
        verdict = inspect(verdict, got.body)
    return verdict
