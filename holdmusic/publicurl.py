"""Fetch a URL the way Daily will: anonymously, and prove it serves the exact bytes.

Daily fetches ``hold_music_url`` itself when a call comes in. A 403, an HTML error page,
a redirect to a login or a stale CDN copy all fail silently on a live phone line, so a
URL is only "public" here when an anonymous GET answers 200 directly, as
``audio/mpeg``, with a body whose SHA-256 equals the file's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from holdmusic import __version__, rules
from holdmusic.errors import HoldmusicError

USER_AGENT = f"holdmusic/{__version__} (public-url check)"
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


class FetchError(HoldmusicError):
    """The URL could not be fetched at all (DNS, refused connection, timeout, bad URL)."""


@dataclass(frozen=True)
class Fetched:
    url: str  # what was asked for
    final_url: str  # after any redirects followed
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
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET ``url`` with no credentials or cookies, reading at most ``max_bytes`` + 1 bytes.

    Redirects are followed by hand, up to ``max_redirects``, so that each hop is reported.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url!r}")
    redirects: list[str] = []
    current = url
    try:
        with httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "audio/mpeg, */*;q=0.1"},
            trust_env=False,  # no proxy credentials or netrc: anonymous means anonymous
        ) as client:
            while True:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        target = urljoin(current, resp.headers["location"])
                        if len(redirects) < max_redirects:
                            redirects.append(target)
                            current = target
                            continue
                        return Fetched(
                            url,
                            current,
                            resp.status_code,
                            resp.headers.get("content-type"),
                            b"",
                            False,
                            tuple(redirects),
                            location=target,
                        )
                    body, over = _read_capped(resp, max_bytes)
                    return Fetched(
                        url,
                        current,
                        resp.status_code,
                        resp.headers.get("content-type"),
                        body,
                        over,
                        tuple(redirects),
                    )
    except httpx.TimeoutException:
        raise FetchError(f"timed out fetching {current}") from None
    except httpx.RemoteProtocolError:
        raise FetchError(
            f"{_origin(current)} closed the connection before the whole file arrived"
        ) from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect to {_origin(current)}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"fetching {current} failed: {exc}") from None


def _read_capped(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read the body, stopping one byte past the cap: an endless body costs nothing."""
    chunks: list[bytes] = []
    got = 0
    for chunk in resp.iter_bytes(chunk_size=65536):
        chunks.append(chunk)
        got += len(chunk)
        if got > max_bytes:
            return b"".join(chunks)[: max_bytes + 1], True
    return b"".join(chunks), False


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
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def check_public(
    url: str,
    sha256: str,
    size_bytes: int,
    *,
    hint: str = "",
    timeout: httpx.Timeout = TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> PublicCheck:
    """Prove that ``url`` anonymously serves exactly the bytes with this ``sha256``.

    ``hint`` is what to do when the object turns out private (the command the user runs).
    Network failures are results too (``ok=False``), so the caller decides what to say.
    """
    warnings = []
    if urlsplit(url).scheme != "https":
        warnings.append(f"{url} is not https: Daily may refuse it, and anyone on path can alter it")
    try:
        got = fetch(url, max_bytes=size_bytes, timeout=timeout, transport=transport)
    except FetchError as exc:
        return PublicCheck(url, False, None, None, None, None, (str(exc),), tuple(warnings))
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


def _judge(got: Fetched, served: str | None, sha256: str, size: int, hint: str) -> list[str]:
    status = got.status
    if got.location is not None:
        return [
            f"anonymous GET answered {status} redirecting to {got.location}; Daily needs the file "
            "itself at this URL (redirects are not documented to work): point the public base "
            "URL at the final location"
        ]
    if status in (401, 403):
        return [f"anonymous GET answered {status}: the object is not public. {hint}".strip()]
    if status == 404:
        return [
            "anonymous GET answered 404: this URL does not reach the uploaded object; check the "
            "public base URL (a CDN's origin path, the bucket name, the region)"
        ]
    if status != 200:
        return [f"anonymous GET answered {status}, not 200"]
    problems = []
    if got.media_type != "audio/mpeg":
        problems.append(
            f"served as Content-Type {got.content_type or '(none)'}, not audio/mpeg: the object's "
            "metadata or a CDN rule changes it"
        )
    if got.over_cap or served != sha256:
        what = "an HTML page" if got.media_type == "text/html" else f"{len(got.body):,} bytes"
        if got.over_cap:
            what = f"more than {size:,} bytes"
        problems.append(
            f"served {what} that are not the uploaded file (sha256 differs): a CDN or proxy "
            "serves a stale or different object"
        )
    return problems


def validate_url(
    url: str,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    max_redirects: int = 3,
    timeout: httpx.Timeout = TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
) -> rules.Verdict:
    """What Daily would fetch from ``url``, judged by the same rules as a local file.

    ``inspect`` gets the verdict of a downloaded MP3 and its bytes, and returns the verdict
    to report (``validate --listen`` measures the audio there).

    Downloads anonymously and stops one byte past ``max_bytes``; follows at most
    ``max_redirects`` redirects and reports each; requires 200 and an audio type.
    Extra codes: ``unreachable``, ``http_status``, ``too_many_redirects``,
    ``content_type`` (errors) and ``redirect``, ``not_https`` (warnings).
    """
    problems = []
    if urlsplit(url).scheme != "https":
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
            transport=transport,
        )
    except FetchError as exc:
        problems.append(rules.Problem("unreachable", "error", str(exc)))
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
