"""The ASGI app: pages for people (session cookie + CSRF token) and ``/api/`` for scripts
(``Authorization: Bearer``). Handlers parse, call :mod:`holdmusic.web._uses`, render.

Routes (every one but /login and /static needs a login):

    GET  /login?token=T      the login link: sets the session cookie, redirects to /
    POST /login              the same, with the token pasted in a form
    POST /logout
    GET  /                   the flow: upload → verdict → waveform → fix → listen → configs
    POST /check              multipart ``file``: a new upload, judged
    POST /fix                fix the upload ``u`` with the form's options
    GET  /files/{u}/{kind}   original | fixed | preview-original | preview-fixed (audio/*)
    POST /dry-run, /publish  the upload ``u``'s ``which`` file (original/fixed) to ``config``s
    GET  /runs/{id}[.json]   a run's progress;  POST /runs/{id}/cancel
    GET  /history, /reports/{name};  POST /rollback (``report`` = a report's name)
    GET  /audit[?run=1]      configs check, with a player per config

    GET  /api/configs  POST /api/validate  POST /api/publish  POST /api/rollback
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from holdmusic import __version__
from holdmusic.app import HoldmusicError, UsageError
from holdmusic.web import _uses, auth, waveform
from holdmusic.web.auditlog import AuditLog
from holdmusic.web.jobs import Busy, ConfigLocks, Job, Jobs
from holdmusic.web.uploads import Form, UploadError, receive, safe_name
from holdmusic.web.work import Upload, WorkArea

log = logging.getLogger("holdmusic.serve")
COOKIE = "holdmusic_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
HERE = os.path.dirname(__file__)
STUDIO_THREADS = 2  # decoding and validating: bounded, so memory stays flat under load
CONFIGS_TTL = 30.0
PREVIEW_KINDS = ("preview-original", "preview-fixed")


@dataclass
class ServeConfig:
    """Everything ``holdmusic serve`` decided at start."""

    ctx: _uses.Context
    users: auth.Users
    max_upload_bytes: int = 100_000_000
    audit_log: str | None = None
    work_parent: str | None = None  # where the private work area is made (tests)
    media_origins: tuple[str, ...] = ()  # where current hold music may be played from
    fix_available: bool | None = None  # None: ask the audio stage


@dataclass
class State:
    config: ServeConfig
    sessions: auth.Sessions
    work: WorkArea
    audit: AuditLog
    jobs: Jobs
    templates: jinja2.Environment
    studio: anyio.CapacityLimiter | None
    fix_available: bool
    csp: str
    configs_cache: tuple[float, list[_uses.ConfigRow] | None, str | None] = (0.0, None, None)
    extra: dict[str, Any] = field(default_factory=dict)


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- security headers on every response ---------------------------------------------------


class SecurityHeaders:
    """Pure ASGI (no buffering): CSP, no framing, no sniffing, no referrer, no caching of
    pages; and a one-line access log that never shows a query string (login links carry
    the token there)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A response's own header wins (an audio file's stricter CSP with sandbox).
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in have]
                if not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
                log.info('"%s %s" %s', scope.get("method"), path, message["status"])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def content_security_policy(media_origins: tuple[str, ...]) -> str:
    media = " ".join(["'self'", *media_origins])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"media-src {media}; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


# --- rendering -------------------------------------------------------------------------------


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
        autoescape=True,  # every value from a server or a file is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["clock"] = clock
    env.filters["num"] = lambda n: f"{n:,}"
    return env


def safe_url(value: object) -> str | None:
    """A URL fit for ``href``/``src``: http(s) with a host, else None (never
    ``javascript:`` or ``data:`` from a Daily config)."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return value


def clock(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return ""
    m, s = divmod(float(seconds), 60)
    return f"{int(m)}:{s:06.3f}" if m else f"{s:.3f} s"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state: State = request.app.state.hm
    user = getattr(request.state, "user", None)
    session = getattr(request.state, "session", None)
    html = state.templates.get_template(template).render(
        user=user.name if user else None,
        csrf=session.csrf if session else "",
        version=__version__,
        fix_available=state.fix_available,
        max_upload_bytes=state.config.max_upload_bytes,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return render(request, "error.html", status=status, status_code=status, message=message)


# --- who is asking -------------------------------------------------------------------------


async def _session_user(request: Request) -> tuple[auth.User, auth.Session] | None:
    state: State = request.app.state.hm
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    user = state.config.users.get(session.user_id)
    if user is None:  # removed from the users file since: out at once
        return None
    return user, session


def _csrf_ok(request: Request, session: auth.Session, form: Form | None = None) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and form is not None:
        given = form.get(CSRF_FIELD)
    return auth.same_secret(given, session.csrf)


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """A page for a logged-in person. A state-changing request must carry the session's
    CSRF token (header or form field) or it is refused with 403 before anything happens;
    a multipart upload is checked on the fields before its file (see uploads.receive)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        who = await _session_user(request)
        if who is None:
            if request.method == "GET":
                return RedirectResponse("/login", status_code=303)
            return error_page(request, 403, "log in first (your session has ended)")
        request.state.user, request.state.session = who
        if request.method != "GET":
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("multipart/form-data"):
                form = await _small_form(request)
                if not _csrf_ok(request, who[1], form):
                    return error_page(request, 403, "missing or wrong CSRF token: reload the page")
                request.state.form = form
        try:
            return await handler(request)
        except HTTPError as exc:
            return error_page(request, exc.status, exc.message)

    return wrapped


def api(handler: Handler) -> Handler:
    """A JSON endpoint: ``Authorization: Bearer TOKEN`` only (a session cookie is not
    enough, so no CSRF token is needed here); missing or wrong → 401."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        state: State = request.app.state.hm
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = None
        if scheme.lower() == "bearer" and token.strip():
            users = state.config.users
            # A token seen before needs no thread (and no hash): only new ones go off the loop.
            user = users.known(token.strip()) or await anyio.to_thread.run_sync(
                users.verify, token.strip()
            )
        if user is None:
            return error_page(request, 401, "send Authorization: Bearer TOKEN with a valid token")
        request.state.user = user
        try:
            return await handler(request)
        except HTTPError as exc:
            return error_page(request, exc.status, exc.message)

    return wrapped


async def _small_form(request: Request) -> Form:
    """A urlencoded form (no files), capped at 64 KiB."""
    form = Form()
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return form
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > 64 * 1024:
            raise HTTPError(413, "the form is too large")
    from urllib.parse import parse_qsl

    for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.fields.setdefault(k, []).append(v)
    return form


def _form(request: Request) -> Form:
    form: Form = request.state.form
    return form


async def _upload_form(request: Request, folder: str, *, session: auth.Session | None) -> Form:
    """A multipart form with one file, into ``folder``. For a page (``session``), the CSRF
    token must come in the header or in a field before the file."""
    state: State = request.app.state.hm

    def before_file(form: Form) -> None:
        if session is not None and not _csrf_ok(request, session, form):
            raise UploadError(403, "missing or wrong CSRF token: reload the page")

    try:
        form = await receive(
            dict(request.headers),
            request.stream(),
            folder,
            max_file_bytes=state.config.max_upload_bytes,
            before_file=before_file,
        )
    except UploadError as exc:
        raise HTTPError(exc.status, exc.message) from None
    if session is not None and not _csrf_ok(request, session, form):
        raise HTTPError(403, "missing or wrong CSRF token: reload the page")
    if form.file is None:
        raise HTTPError(400, "send a file in the field 'file'")
    if form.file.size == 0:
        raise HTTPError(400, "the file is empty (0 bytes)")
    return form


def _user(request: Request) -> auth.User:
    user: auth.User = request.state.user
    return user


# --- login -------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    state: State = request.app.state.hm
    if request.method == "GET":
        token = request.query_params.get("token")
        if token is None:
            return render(request, "login.html", message=None)
    else:
        # A login form posted from another site would log the browser in as someone
        # else (login CSRF): only our own pages may post it.
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return render(request, "login.html", status=403, message="log in from this page")
        token = (await _small_form(request)).get("token") or ""
    user = await anyio.to_thread.run_sync(state.config.users.verify, token.strip())
    if user is None:
        state.audit.write(None, "login_failed")
        return render(
            request,
            "login.html",
            status=403,
            message="this login link or token is not valid (a token is shown once, when "
            "'holdmusic serve' starts or when 'holdmusic serve-user add' makes it)",
        )
    state.sessions.end(request.cookies.get(COOKIE))
    cookie, _ = state.sessions.create(user)
    state.audit.write(user.name, "login")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(state.sessions.seconds),
        path="/",
        httponly=True,
        samesite="strict",
        # Known only when the request reached us as https (uvicorn with TLS, or a proxy
        # on loopback that says X-Forwarded-Proto: https): see docs/serve.md.
        secure=request.url.scheme == "https",
    )
    return response


@page
async def logout(request: Request) -> Response:
    state: State = request.app.state.hm
    state.sessions.end(request.cookies.get(COOKIE))
    state.audit.write(_user(request).name, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- the flow --------------------------------------------------------------------------------


async def _studio(state: State, fn: Callable[..., Any], *args: Any) -> Any:
    assert state.studio is not None, "the app's lifespan has not started"
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=state.studio)


def sniff_audio_type(path: str, is_mp3: bool) -> str | None:
    """The Content-Type to serve an upload with so a browser plays it, or None when it is
    not audio we recognise (an HTML page saved as .mp3 is never served back)."""
    if is_mp3:
        return "audio/mpeg"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    return None


@page
async def index(request: Request) -> Response:
    state: State = request.app.state.hm
    user = _user(request)
    up = state.work.get(request.query_params.get("u"), user.id)
    if request.query_params.get("u") and up is None:
        raise HTTPError(404, "that upload is gone (uploads are kept for a few hours)")
    rows = error = None
    if up is not None and up.checked is not None:
        rows, error = await _configs(state)
    return render(
        request,
        "index.html",
        up=up,
        pictures=_pictures(state, up) if up else {},
        fix_defaults=_uses.default_fix() if state.fix_available else {},
        fix_features=_uses.fix_features() if state.fix_available else set(),
        configs=rows,
        configs_error=error,
        prefix=request.query_params.get("prefix", ""),
        busy=state.jobs.locks.held(),
        which=_default_which(up) if up else None,
    )


def _default_which(up: Upload) -> str | None:
    if up.fixed is not None and up.fixed.checked.ok:
        return "fixed"
    if up.checked is not None and up.checked.ok:
        return "original"
    return None


def _pictures(state: State, up: Upload) -> dict[str, waveform.Picture]:
    out: dict[str, waveform.Picture] = {}
    limit = state.config.ctx.max_seconds
    if up.envelope is not None:
        e = up.envelope
        marks = waveform.Marks(limit=limit)
        if up.fixed is not None:
            f = up.fixed
            marks = waveform.Marks(
                start=f.start_seconds,
                end=f.start_seconds + f.output_seconds,
                fade_in=f.fade_in_seconds,
                fade_out=f.fade_out_seconds,
                limit=limit,
                # the original's time: the output starts at the cut's start
                announcements=tuple((at + f.start_seconds, n) for at, n in f.announcements),
            )
        elif e.seconds >= limit and state.fix_available:
            d = _uses.default_fix()
            marks = waveform.Marks(
                end=d["length"], fade_out=d["fade_out"], limit=limit, planned=True
            )
        out["original"] = waveform.picture(
            e.peaks, e.rms, e.block_seconds, e.seconds, e.complete, marks
        )
    if up.fixed_envelope is not None:
        e = up.fixed_envelope
        f = up.fixed
        marks = waveform.Marks(
            fade_in=f.fade_in_seconds,
            fade_out=f.fade_out_seconds,
            end=e.seconds if f.fade_out_seconds else None,
            limit=limit,
            announcements=f.announcements,
        )
        out["fixed"] = waveform.picture(
            e.peaks, e.rms, e.block_seconds, e.seconds, e.complete, marks
        )
    return out


def _picture(e: Any, marks: waveform.Marks) -> waveform.Picture:
    return waveform.picture(e.peaks, e.rms, e.block_seconds, e.seconds, e.complete, marks)


async def _configs(state: State) -> tuple[list[_uses.ConfigRow] | None, str | None]:
    """Pinless configs with their current hold music; kept for CONFIGS_TTL (runs clear it)."""
    stamp, rows, _ = state.configs_cache
    now = anyio.current_time()
    if rows is not None and now - stamp < CONFIGS_TTL:
        return rows, None
    try:
        rows = await anyio.to_thread.run_sync(_uses.pinless_configs, state.config.ctx)
    except HoldmusicError as exc:
        return None, str(exc)
    state.configs_cache = (now, rows, None)
    return rows, None


@page
async def check(request: Request) -> Response:
    """A new upload, judged in validate's words (with --listen's measurements and the
    waveform when the audio extra is there)."""
    state: State = request.app.state.hm
    user = _user(request)
    # The upload's folder exists before the body is read (the file streams into it).
    up = state.work.new(user.id, "", "upload")
    try:
        form = await _upload_form(request, state.work.incoming(up), session=request.state.session)
    except BaseException:
        state.work.discard(up)
        raise
    assert form.file is not None
    up.filename = form.file.filename
    up.name = safe_name(form.file.filename)
    up.path, up.size, up.sha256 = form.file.path, form.file.size, form.file.sha256
    await _judge(state, up)
    state.audit.write(
        user.name, "validate", file=up.filename, sha256=up.sha256, ok=up.checked.ok, via="page"
    )
    return RedirectResponse(f"/?u={up.id}#verdict", status_code=303)


async def _judge(state: State, up: Upload) -> None:
    checked = await _studio(
        state,
        functools.partial(_uses.check, listen=state.fix_available),
        state.config.ctx,
        up.path,
        up.filename,
    )
    up.checked = checked
    up.audio_type = sniff_audio_type(up.path, checked.is_mp3)
    if state.fix_available and (up.audio_type is not None or checked.is_mp3):
        up.envelope = await _studio(state, _uses.envelope, up.path)
        if up.envelope is None:
            up.audio_type = None  # FFmpeg cannot decode it: no player either


def _seconds(form: Form, name: str, *, minimum: float = 0.0) -> float | None:
    """``75``, ``75.5``, ``1:15`` or ``1:15.5``; empty → None."""
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        if ":" in raw:
            m, s = raw.split(":", 1)
            value = int(m) * 60 + float(s)
        else:
            value = float(raw)
    except ValueError:
        raise HTTPError(400, f"{name}: {raw!r} is not a time (seconds, or mm:ss)") from None
    if not (value >= minimum and value < 1e6):
        raise HTTPError(400, f"{name}: {raw!r} is out of range")
    return value


def _number(form: Form, name: str, lo: float, hi: float) -> float | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise HTTPError(400, f"{name}: {raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise HTTPError(400, f"{name}: {value:g} is not between {lo:g} and {hi:g}")
    return value


@page
async def fix(request: Request) -> Response:
    state: State = request.app.state.hm
    if not state.fix_available:
        raise HTTPError(404, "fix needs the audio extra on the server")
    user = _user(request)
    form = _form(request)
    up = _owned_upload(state, form.get("u"), user)
    options = _uses.FixOptions(
        start=_seconds(form, "start") or 0.0,
        length=_seconds(form, "length", minimum=1.0),
        fade_in=_seconds(form, "fade_in"),
        fade_out=_seconds(form, "fade_out"),
        loudness=_number(form, "loudness", -40, -10),
        end=_seconds(form, "end"),
        loop=form.get("loop") in ("1", "on", "true"),
    )
    with _upload_busy(up):
        up.fix_options = options
        try:
            fixed = await _studio(
                state, _uses.fix, state.config.ctx, up.path, up.fixed_path, up.name, options
            )
        except HoldmusicError as exc:
            up.fixed = up.fixed_envelope = None
            up.fix_error = str(exc)
            state.audit.write(user.name, "fix", file=up.filename, sha256=up.sha256, ok=False,
                              error=str(exc), via="page")  # fmt: skip
            return RedirectResponse(f"/?u={up.id}#fix", status_code=303)
        up.fix_error = None
        up.fixed = fixed
        up.previews.pop("fixed", None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(up.preview_path("fixed"))
        up.fixed_envelope = await _studio(state, _uses.envelope, up.fixed_path)
        up.dry_run = None
    state.audit.write(user.name, "fix", file=up.filename, sha256=up.sha256, ok=fixed.checked.ok,
                      via="page")  # fmt: skip
    return RedirectResponse(f"/?u={up.id}#fix", status_code=303)


@contextlib.contextmanager
def _upload_busy(up: Upload) -> Any:
    if not up.lock.acquire(blocking=False):
        raise HTTPError(409, "this upload is busy (a fix or preview is running); wait for it")
    try:
        yield
    finally:
        up.lock.release()


def _owned_upload(state: State, uid: str | None, user: auth.User) -> Upload:
    up = state.work.get(uid, user.id)
    if up is None or up.checked is None:
        raise HTTPError(404, "that upload is gone (uploads are kept for a few hours)")
    return up


@page
async def files(request: Request) -> Response:
    """The upload's audio for an ``<audio>`` element, always as audio/*."""
    state: State = request.app.state.hm
    user = _user(request)
    up = state.work.get(request.path_params["u"], user.id)
    kind = request.path_params["kind"]
    if up is None or up.checked is None:
        raise HTTPError(404, "no such file")
    if kind == "original":
        if up.audio_type is None:
            raise HTTPError(404, "this upload is not audio a browser can play")
        return _audio(up.path, up.audio_type, up.name)
    if kind == "fixed":
        if up.fixed is None:
            raise HTTPError(404, "not fixed yet")
        return _audio(up.fixed_path, "audio/mpeg", up.publish_name("fixed"))
    if kind in PREVIEW_KINDS and state.fix_available:
        which = kind.split("-", 1)[1]
        source = up.publish_path(which) if which == "fixed" else up.path
        if source is None or (which == "original" and up.audio_type is None):
            raise HTTPError(404, "nothing to preview")
        out = up.preview_path(which)
        if which not in up.previews:
            with _upload_busy(up):
                try:
                    up.previews[which] = await _studio(state, _uses.preview_twice, source, out)
                except HoldmusicError as exc:
                    raise HTTPError(422, str(exc)) from None
        stem = up.name.rsplit(".", 1)[0]
        return _audio(out, "audio/wav", f"{stem}.caller-twice.wav")
    raise HTTPError(404, "no such file")


def _audio(path: str, media_type: str, name: str) -> Response:
    return FileResponse(
        path,
        media_type=media_type,
        headers={
            "content-disposition": f"inline; filename*=UTF-8''{quote(name)}",
            # Even if a browser were tricked into opening it as a document: no script.
            "content-security-policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
        },
    )


def _picked(form: Form) -> list[str]:
    ids = [c.strip() for c in form.getlist("config") if c.strip()]
    if not ids:
        raise HTTPError(400, "pick at least one config")
    return list(dict.fromkeys(ids))


def _which(form: Form, up: Upload) -> tuple[str, str, str]:
    which = form.get("which") or "original"
    path = up.publish_path(which)
    if path is None:
        raise HTTPError(400, "there is no fixed file to publish: fix it first")
    return which, path, up.publish_name(which)


@page
async def dry_run(request: Request) -> Response:
    state: State = request.app.state.hm
    user = _user(request)
    form = _form(request)
    up = _owned_upload(state, form.get("u"), user)
    ids = _picked(form)
    which, path, name = _which(form, up)
    try:
        result = await anyio.to_thread.run_sync(
            functools.partial(
                _uses.publish, state.config.ctx, path, name, ids, user=user.name, dry_run=True
            )
        )
    except HoldmusicError as exc:
        raise HTTPError(400 if isinstance(exc, UsageError) else 502, str(exc)) from None
    up.dry_run = {"which": which, "configs": ids, "result": result}
    state.audit.write(user.name, "dry_run", file=name, sha256=result.get("sha256"), configs=ids,
                      ok=result["ok"], via="page")  # fmt: skip
    return RedirectResponse(f"/?u={up.id}#dry-run", status_code=303)


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, HoldmusicError):
        return str(exc)
    log.exception("a run failed")
    return f"unexpected {type(exc).__name__}: {exc} (a bug of holdmusic: please report it)"


def _start_publish(
    state: State,
    user: auth.User,
    path: str,
    name: str,
    sha256: str,
    ids: list[str],
    via: str,
    on_done: Callable[[Job], None] | None = None,
) -> Job:
    cancel = _uses.Cancel()

    def run(job: Job) -> dict[str, Any]:
        return _uses.publish(
            state.config.ctx, path, name, ids, user=user.name, observer=job.observe, cancel=cancel
        )

    def done(job: Job) -> None:
        state.configs_cache = (0.0, None, None)
        r = job.result or {}
        urls = {c["config_id"]: r.get("url") for c in r.get("configs", []) if c["status"] in
                ("updated", "pending", "mismatched", "unchanged")}  # fmt: skip
        state.audit.write(user.name, "publish", file=name, sha256=sha256, configs=ids,
                          urls=urls or None, report=r.get("report"),
                          ok=bool(r.get("ok")) if job.error is None else False,
                          error=job.error or r.get("stopped"), via=via)  # fmt: skip
        if on_done is not None:
            on_done(job)

    try:
        job = state.jobs.start(
            "publish", user.name, ids, run, describe_error=_error_line, on_done=done
        )
    except Busy as exc:
        raise HTTPError(409, str(exc)) from None
    job.cancel = cancel.cancel
    return job


@page
async def publish(request: Request) -> Response:
    state: State = request.app.state.hm
    user = _user(request)
    form = _form(request)
    up = _owned_upload(state, form.get("u"), user)
    ids = _picked(form)
    _, path, name = _which(form, up)
    job = _start_publish(state, user, path, name, up.sha256, ids, "page")
    return RedirectResponse(f"/runs/{job.id}", status_code=303)


def _start_rollback(state: State, user: auth.User, report: str, via: str) -> Job:
    try:
        ids = _uses.rollback_items(state.config.ctx, report)
    except _uses.NotFound as exc:
        raise HTTPError(404, str(exc)) from None
    except HoldmusicError as exc:
        raise HTTPError(400, str(exc)) from None
    cancel = _uses.Cancel()

    def run(job: Job) -> dict[str, Any]:
        return _uses.rollback(
            state.config.ctx, report, user=user.name, observer=job.observe, cancel=cancel
        )

    def done(job: Job) -> None:
        state.configs_cache = (0.0, None, None)
        r = job.result or {}
        urls = {i["config_id"]: i.get("url") for i in r.get("items", [])
                if i.get("status") in ("updated", "pending", "mismatched")}  # fmt: skip
        state.audit.write(user.name, "rollback", configs=ids, urls=urls or None,
                          report=r.get("report"), ok=bool(r.get("ok")) and job.error is None,
                          error=job.error, via=via, file=report)  # fmt: skip

    try:
        job = state.jobs.start("rollback", user.name, ids, run, describe_error=_error_line,
                               on_done=done)  # fmt: skip
    except Busy as exc:
        raise HTTPError(409, str(exc)) from None
    job.cancel = cancel.cancel
    return job


@page
async def rollback(request: Request) -> Response:
    state: State = request.app.state.hm
    job = _start_rollback(state, _user(request), _form(request).get("report") or "", "page")
    return RedirectResponse(f"/runs/{job.id}", status_code=303)


@page
async def run_page(request: Request) -> Response:
    state: State = request.app.state.hm
    jid = request.path_params["job"]
    as_json = jid.endswith(".json")
    job = state.jobs.get(jid.removesuffix(".json"), _user(request).name)
    if job is None:
        raise HTTPError(404, "no such run (runs are kept while the server runs)")
    snap = job.snapshot()
    if as_json:
        return JSONResponse(snap)
    return render(request, "run.html", job=snap)


@page
async def run_cancel(request: Request) -> Response:
    state: State = request.app.state.hm
    job = state.jobs.get(request.path_params["job"], _user(request).name)
    if job is None:
        raise HTTPError(404, "no such run")
    if job.cancel is not None and not job.finished.is_set():
        job.cancel()
    return RedirectResponse(f"/runs/{job.id}", status_code=303)


@page
async def history(request: Request) -> Response:
    state: State = request.app.state.hm
    summaries = await anyio.to_thread.run_sync(lambda: list(_uses.reports(state.config.ctx)))
    return render(request, "history.html", reports=summaries, busy=state.jobs.locks.held())


@page
async def report_page(request: Request) -> Response:
    state: State = request.app.state.hm
    name = request.path_params["name"]
    try:
        summary = await anyio.to_thread.run_sync(_uses.report, state.config.ctx, name)
    except _uses.NotFound as exc:
        raise HTTPError(404, str(exc)) from None
    except UsageError as exc:
        raise HTTPError(400, str(exc)) from None
    return render(request, "report.html", r=summary, busy=state.jobs.locks.held())


@page
async def audit_page(request: Request) -> Response:
    state: State = request.app.state.hm
    results = error = None
    listen = request.query_params.get("listen") == "1" and state.fix_available
    if request.query_params.get("run") == "1":
        try:
            results = await anyio.to_thread.run_sync(
                functools.partial(_uses.audit, state.config.ctx, listen=listen)
            )
        except HoldmusicError as exc:
            error = str(exc)
        state.audit.write(_user(request).name, "audit", ok=error is None and all(
            r["ok"] for r in results or []), error=error, via="page")  # fmt: skip
    return render(request, "audit.html", results=results, error=error, listen=listen)


# --- the JSON API ---------------------------------------------------------------------------


@api
async def api_configs(request: Request) -> Response:
    state: State = request.app.state.hm
    type_ = request.query_params.get("type")
    if type_ not in (None, "pinless_dialin", "pin_dialin"):
        raise HTTPError(400, "type must be pinless_dialin or pin_dialin")
    try:
        found = await anyio.to_thread.run_sync(
            _uses.list_configs, state.config.ctx, type_, request.query_params.get("name_prefix")
        )
    except HoldmusicError as exc:
        raise HTTPError(502, str(exc)) from None
    return JSONResponse(found)


@contextlib.asynccontextmanager
async def _scratch(state: State) -> AsyncIterator[str]:
    """A private folder for one API request, removed when it ends."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="api-", dir=state.work.root)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@api
async def api_validate(request: Request) -> Response:
    state: State = request.app.state.hm
    user = _user(request)
    async with _scratch(state) as folder:
        form = await _upload_form(request, folder, session=None)
        assert form.file is not None
        listen = form.get("listen") in ("1", "true", "on") and state.fix_available
        checked = await _studio(
            state,
            functools.partial(_uses.check, listen=listen),
            state.config.ctx,
            form.file.path,
            form.file.filename,
        )
    state.audit.write(user.name, "validate", file=form.file.filename, sha256=form.file.sha256,
                      ok=checked.ok, via="api")  # fmt: skip
    return JSONResponse(checked.item)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "on", "yes")


@api
async def api_publish(request: Request) -> Response:
    state: State = request.app.state.hm
    user = _user(request)
    async with _scratch(state) as folder:
        form = await _upload_form(request, folder, session=None)
        assert form.file is not None
        ids = _picked(form)
        name = safe_name(form.file.filename)
        if _truthy(form.get("dry_run")):
            try:
                result = await anyio.to_thread.run_sync(
                    functools.partial(
                        _uses.publish, state.config.ctx, form.file.path, name, ids,
                        user=user.name, dry_run=True,
                    )
                )  # fmt: skip
            except HoldmusicError as exc:
                raise HTTPError(400 if isinstance(exc, UsageError) else 502, str(exc)) from None
            state.audit.write(user.name, "dry_run", file=name, sha256=form.file.sha256,
                              configs=ids, ok=result["ok"], via="api")  # fmt: skip
            return JSONResponse(result)
        job = _start_publish(state, user, form.file.path, name, form.file.sha256, ids, "api")
        await anyio.to_thread.run_sync(job.finished.wait)
    return _job_json(job)


def _job_json(job: Job) -> Response:
    if job.error is not None:
        return JSONResponse({"error": job.error, "ok": False}, status_code=502)
    return JSONResponse(job.result)


@api
async def api_rollback(request: Request) -> Response:
    state: State = request.app.state.hm
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            body = json.loads((await request.body())[: 64 * 1024] or b"{}")
        except ValueError:
            raise HTTPError(400, "the body is not JSON") from None
        name = body.get("report") if isinstance(body, dict) else None
    else:
        name = (await _small_form(request)).get("report")
    if not isinstance(name, str) or not name:
        raise HTTPError(400, "send the field 'report': a report's name")
    job = _start_rollback(state, _user(request), name, "api")
    await anyio.to_thread.run_sync(job.finished.wait)
    return _job_json(job)


# --- the app ----------------------------------------------------------------------------


async def not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, 404, "no such page")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_page(request, 405, "method not allowed")


def create_app(config: ServeConfig) -> Starlette:
    fix_ok = _uses.fix_available() if config.fix_available is None else config.fix_available
    csp = content_security_policy(config.media_origins)
    work = WorkArea(config.work_parent)
    state = State(
        config=config,
        sessions=auth.Sessions(),
        work=work,
        audit=AuditLog(config.audit_log),
        jobs=Jobs(ConfigLocks()),
        templates=_templates(),
        studio=None,  # made in the lifespan: older anyio needs an event loop for it
        fix_available=fix_ok,
        csp=csp,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.work.open()
        state.studio = anyio.CapacityLimiter(STUDIO_THREADS)
        try:
            yield
        finally:
            for job in state.jobs.running():
                if job.cancel is not None:
                    job.cancel()
            state.work.close()
            state.audit.close()

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", index, methods=["GET"]),
        Route("/check", check, methods=["POST"]),
        Route("/fix", fix, methods=["POST"]),
        Route("/files/{u}/{kind}", files, methods=["GET"]),
        Route("/dry-run", dry_run, methods=["POST"]),
        Route("/publish", publish, methods=["POST"]),
        Route("/runs/{job}", run_page, methods=["GET"]),
        Route("/runs/{job}/cancel", run_cancel, methods=["POST"]),
        Route("/history", history, methods=["GET"]),
        Route("/reports/{name}", report_page, methods=["GET"]),
        Route("/rollback", rollback, methods=["POST"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/api/configs", api_configs, methods=["GET"]),
        Route("/api/validate", api_validate, methods=["POST"]),
        Route("/api/publish", api_publish, methods=["POST"]),
        Route("/api/rollback", api_rollback, methods=["POST"]),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
    app.state.hm = state
    app.add_middleware(SecurityHeaders, csp=csp)
    return app


def media_origins(public_base_url: str | None) -> tuple[str, ...]:
    """Current hold music plays from https anywhere, and from the storage's public base
    (which may be plain http on a local stack)."""
    origins = ["https:"]
    if public_base_url:
        parts = urlsplit(public_base_url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(dict.fromkeys(origins))


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


__all__ = ["ServeConfig", "create_app", "media_origins"]
