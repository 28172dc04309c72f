"""``holdmusic serve``: one test (at least) per security rule of issue 21.

The page can change every phone line of a Daily domain, so each rule is shown from the
outside: what a request without the right credential gets, and that nothing changed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from holdmusic.web import auth
from holdmusic.web.uploads import UploadError, receive
from tests.conftest import Stack
from tests.webpage import (  # noqa: F401  (fixtures)
    ERROR_PAGE,
    WELCOME,
    LiveServer,
    Served,
    build_app,
    logged_in,
    make_served,
    served,
)

OLD = "https://cdn.example.com/hold/old.mp3"
CSP_PARTS = ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'")


# --- login link and session cookie -------------------------------------------------------


def test_the_login_link_sets_a_strict_httponly_session_cookie_and_redirects_home(
    served: Served,
) -> None:
    r = served.client.get("/login", params={"token": served.token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("holdmusic_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert served.token not in cookie  # the session id is not the token
    assert served.client.get("/", follow_redirects=False).status_code == 200
    assert served.audit_lines()[-1] == {
        **served.audit_lines()[-1],
        "user": "ana",
        "action": "login",
    }


@pytest.mark.parametrize(
    "token", ["", "nope", "hm.0123456789abcdef." + "A" * 43, "hm.zz.zz", "x" * 5000]
)
def test_a_wrong_token_gets_no_session(served: Served, token: str) -> None:
    r = served.client.get("/login", params={"token": token}, follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert "not valid" in r.text
    assert served.client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert served.audit_lines()[-1]["action"] == "login_failed"


def test_a_wrong_secret_for_a_real_user_id_is_refused(served: Served) -> None:
    prefix = served.token.rsplit(".", 1)[0]
    forged = prefix + "." + ("B" * 43)
    r = served.client.get("/login", params={"token": forged}, follow_redirects=False)
    assert r.status_code == 403


def test_the_cookie_is_secure_when_the_page_is_served_over_https(
    stack: Stack, tmp_path: Path
) -> None:
    for s in make_served(stack, tmp_path, base_url="https://holdmusic.example"):
        r = s.client.get("/login", params={"token": s.token}, follow_redirects=False)
        assert "Secure" in r.headers["set-cookie"]


def test_pages_need_a_session(served: Served) -> None:
    for path in ("/", "/history", "/audit", "/runs/x", "/reports/x", "/files/x/original"):
        r = served.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    r = served.client.post("/check", files={"file": ("a.mp3", b"x")}, follow_redirects=False)
    assert r.status_code == 403


def test_logout_ends_the_session(logged_in: Served) -> None:
    r = logged_in.form("/logout", {})
    assert r.status_code == 303
    assert logged_in.client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_login_form_posted_from_another_site_is_refused(served: Served) -> None:
    r = served.client.post(
        "/login",
        data={"token": served.token},
        headers={"sec-fetch-site": "cross-site"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = served.client.post("/login", data={"token": served.token}, follow_redirects=False)
    assert r.status_code == 303  # from our own page (or a script) it works


# --- named users with hashed tokens ----------------------------------------------------------


def test_the_users_file_keeps_salted_hashes_and_the_token_is_shown_once(
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "users.json"
    r = cli("serve-user", "add", "ana", "--users", str(path))
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert re.fullmatch(r"hm\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", token)
    text = path.read_text()
    assert token not in text and token.rsplit(".", 1)[1] not in text
    (entry,) = json.loads(text)["users"]
    assert (
        entry["scrypt"] == {"n": 16384, "r": 8, "p": 1} and len(bytes.fromhex(entry["salt"])) == 16
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.Users.from_file(str(path)).verify(token).name == "ana"  # type: ignore[union-attr]
    # two users with one name: refused; --replace gives a new token, the old stops working
    assert cli("serve-user", "add", "ana", "--users", str(path)).exit_code == 2
    r2 = cli("serve-user", "add", "ana", "--users", str(path), "--replace")
    new = r2.stdout.strip()
    users = auth.Users.from_file(str(path))
    assert users.verify(token) is None and users.verify(new) is not None
    assert cli("serve-user", "list", "--users", str(path)).stdout.startswith("ana\t")
    bad = cli("serve-user", "add", "<b>", "--users", str(path))
    assert bad.exit_code == 2 and "not allowed" in bad.output


def test_a_removed_user_is_locked_out_at_once_sessions_and_all(
    stack: Stack,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "users.json"
    ana = cli("serve-user", "add", "ana", "--users", str(path)).stdout.strip()
    bob = cli("serve-user", "add", "bob", "--users", str(path)).stdout.strip()
    for s in make_served(stack, tmp_path, users=auth.Users.from_file(str(path))):
        s.login(ana)
        assert s.client.get("/api/configs", headers=s.bearer(bob)).status_code == 200
        assert cli("serve-user", "remove", "ana", "--users", str(path)).exit_code == 0
        assert s.client.get("/", follow_redirects=False).headers["location"] == "/login"
        assert s.client.get("/api/configs", headers=s.bearer(ana)).status_code == 401
        assert s.client.get("/api/configs", headers=s.bearer(bob)).status_code == 200


def test_without_a_users_file_each_start_makes_its_own_random_token() -> None:
    (u1, t1), (u2, t2) = auth.Users.single("ana"), auth.Users.single("ana")
    assert t1 != t2
    assert u1.verify(t1) is not None and u1.verify(t2) is None and u2.verify(t1) is None


def test_one_users_upload_is_not_found_for_another(
    stack: Stack,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "users.json"
    ana = cli("serve-user", "add", "ana", "--users", str(path)).stdout.strip()
    bob = cli("serve-user", "add", "bob", "--users", str(path)).stdout.strip()
    for s in make_served(stack, tmp_path, users=auth.Users.from_file(str(path))):
        s.login(ana)
        u = s.check(WELCOME)
        assert s.client.get(f"/files/{u}/original").status_code == 200
        s.login(bob)
        assert s.client.get(f"/files/{u}/original").status_code == 404
        assert s.client.get(f"/?u={u}").status_code == 404


# --- the JSON API: Bearer only ------------------------------------------------------------------

API = [
    ("GET", "/api/configs"),
    ("POST", "/api/validate"),
    ("POST", "/api/publish"),
    ("POST", "/api/rollback"),
]


@pytest.mark.parametrize(("method", "path"), API)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer wrong", "Basic YW5hOmFuYQ==", "Token {token}"]
)
def test_the_api_answers_401_without_a_valid_bearer_token(
    logged_in: Served, stack: Stack, method: str, path: str, authorization: str | None
) -> None:
    """A session cookie is not enough either (logged_in sends one)."""
    cid = stack.daily.add_config(hold_music_url=OLD)
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=logged_in.token)
    kwargs: dict[str, object] = {"headers": headers}
    if method == "POST":
        kwargs["files"] = {"file": ("a.mp3", WELCOME.read_bytes())}
        kwargs["data"] = {"config": cid, "report": "x"}
    r = logged_in.client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": "send Authorization: Bearer TOKEN with a valid token"}
    assert stack.daily.puts() == [] and stack.keys() == []


# --- CSRF ---------------------------------------------------------------------------------------


def _publish_fields(u: str, cid: str) -> dict[str, object]:
    return {"u": u, "which": "original", "config": cid}


@pytest.mark.parametrize("csrf", [None, "", "wrong"])
def test_a_state_changing_request_without_the_csrf_token_is_refused_and_changes_nothing(
    logged_in: Served, stack: Stack, csrf: str | None
) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    u = logged_in.check(WELCOME)
    report = logged_in.reports / "holdmusic-publish-20260101T000000Z-abcdef.json"
    report.write_text(
        json.dumps(
            {
                "tool": "holdmusic",
                "items": [{"config_id": cid, "status": "updated", "url": OLD, "previous_url": OLD}],
            }
        )
    )
    extra = {} if csrf is None else {"csrf_token": csrf}
    client = logged_in.client
    before = logged_in.audit_lines()
    for path, data in [
        ("/publish", _publish_fields(u, cid)),
        ("/dry-run", _publish_fields(u, cid)),
        ("/fix", {"u": u}),
        ("/rollback", {"report": report.name}),
        ("/runs/x/cancel", {}),
        ("/logout", {}),
    ]:
        r = client.post(path, data={**data, **extra}, follow_redirects=False)
        assert r.status_code == 403, path
        assert "CSRF" in r.text
    files_before = sorted(p.name for p in (logged_in.work).rglob("*"))
    r = client.post(
        "/check",
        data=extra,
        files={"file": ("b.mp3", WELCOME.read_bytes())},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert sorted(p.name for p in logged_in.work.rglob("*")) == files_before  # nothing stored
    # nothing changed anywhere: no PUT, no upload, no run, no new report, still logged in
    assert stack.daily.puts() == [] and stack.keys() == []
    assert logged_in.state.jobs.running() == []
    assert sorted(p.name for p in logged_in.reports.iterdir()) == [report.name]
    assert logged_in.audit_lines() == before
    assert client.get("/", follow_redirects=False).status_code == 200


def test_the_csrf_token_works_as_a_header_too(logged_in: Served) -> None:
    r = logged_in.client.post(
        "/check",
        headers={"X-CSRF-Token": logged_in.csrf},
        files={"file": ("a.mp3", WELCOME.read_bytes())},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_a_csrf_token_sent_after_the_file_is_too_late(logged_in: Served) -> None:
    """The check runs before the file is stored: a form must send its token first."""
    boundary = "b0und"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
            f"Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        + WELCOME.read_bytes()
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{logged_in.csrf}\r\n--{boundary}--\r\n"
        ).encode()
    )
    r = logged_in.client.post(
        "/check",
        content=body,
        follow_redirects=False,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 403
    assert [p for p in logged_in.work.rglob("*") if p.is_file()] == []


# --- upload cap and the private work area ----------------------------------------------------


async def _chunks(n: int, size: int, pulled: list[int], head: bytes) -> object:
    yield head
    for _ in range(n):
        pulled.append(1)
        yield b"\0" * size


@pytest.mark.parametrize("declared", [False, True])
def test_an_upload_over_the_cap_is_cut_off_while_streaming(tmp_path: Path, declared: bool) -> None:
    """The parser stops pulling the body at the cap: the rest is never read, let alone
    held in memory; the partial file is removed."""
    import anyio

    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    ).encode()
    pulled: list[int] = []
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    if declared:
        headers["content-length"] = str(200 * 65536)

    async def go() -> None:
        await receive(
            headers,
            _chunks(200, 65536, pulled, head),
            str(tmp_path),  # type: ignore[arg-type]
            max_file_bytes=1_000_000,
        )

    with pytest.raises(UploadError) as err:
        anyio.run(go)
    assert err.value.status == 413 and "1,000,000 bytes" in err.value.message
    # declared too large: refused before the body; else at the first chunk past the cap
    assert len(pulled) == (0 if declared else 16)
    assert list(tmp_path.iterdir()) == []


def test_a_real_server_answers_413_while_the_client_is_still_sending(
    stack: Stack, tmp_path: Path
) -> None:
    app, token, _ = build_app(stack, tmp_path, max_upload_bytes=1_000_000)
    total = 60_000_000
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    ).encode()
    with LiveServer(app) as live:
        s = socket.create_connection(("127.0.0.1", live.port), timeout=30)
        s.sendall(
            (
                "POST /api/validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        sent = 0
        chunk = b"\0" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        s.sendall(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        s.setblocking(False)
        answer = b""
        import select

        while sent < total and b"\r\n\r\n" not in answer:
            readable, writable, _ = select.select([s], [s], [], 10)
            if readable:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
            elif writable:
                try:
                    sent += s.send(frame)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    break
            else:
                break
        s.setblocking(True)
        with pytest.MonkeyPatch.context():
            try:
                while b"\r\n\r\n" not in answer:
                    more = s.recv(65536)
                    if not more:
                        break
                    answer += more
            except OSError:
                pass
        s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < total / 4  # stopped long before the end: the server did not wait for it
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []


def test_uploads_live_in_a_private_work_area_removed_at_shutdown(
    stack: Stack, tmp_path: Path
) -> None:
    for s in make_served(stack, tmp_path):
        s.login()
        u = s.check(WELCOME)
        (root,) = (tmp_path / "work").iterdir()
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        (upload,) = [p for p in root.rglob("*") if p.is_file()]
        assert upload.parent.parent.name == u and upload.name == "welcome-mono.mp3"
        assert stat.S_IMODE(upload.stat().st_mode) == 0o600
        assert stat.S_IMODE(upload.parent.parent.stat().st_mode) == 0o700
        # an API request's upload is gone when its answer is
        r = s.client.post(
            "/api/validate", headers=s.bearer(), files={"file": ("x.mp3", WELCOME.read_bytes())}
        )
        assert r.status_code == 200
        assert [p for p in root.rglob("*") if p.is_file()] == [upload]
    assert list((tmp_path / "work").iterdir()) == []


# --- headers and escaping ------------------------------------------------------------------


def test_every_response_has_a_csp_and_refuses_framing(logged_in: Served, stack: Stack) -> None:
    u = logged_in.check(WELCOME)
    anonymous = make_anonymous(logged_in)
    responses = [
        logged_in.client.get(p)
        for p in (
            "/",
            f"/?u={u}",
            "/history",
            "/audit",
            "/audit?run=1",
            "/nowhere",
            "/reports/holdmusic-publish-20260101T000000Z-abcdef.json",
            "/runs/nope",
            f"/files/{u}/original",
            "/static/app.js",
            "/reports/..%2f..%2fetc",
        )
    ] + [
        anonymous.get("/login"),
        anonymous.get("/login?token=bad"),
        anonymous.get("/api/configs"),
        logged_in.client.post("/fix", data={}),
    ]
    for r in responses:
        csp = r.headers["content-security-policy"]
        if r.headers.get("content-type", "").startswith("audio/"):
            assert csp == "default-src 'none'; frame-ancestors 'none'; sandbox"
        else:
            assert all(part in csp for part in CSP_PARTS), (r.url, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        if r.headers.get("content-type", "").startswith("text/html"):
            # no inline script: every <script> has a src on our own origin
            assert re.findall(r"<script(?![^>]*\ssrc=\"/static/)[^>]*>", r.text) == []
            assert " on" not in re.sub(r"<[^>]*>", "", "") and not re.search(
                r"<[^>]+\son[a-z]+=", r.text
            )


def make_anonymous(s: Served) -> object:
    from starlette.testclient import TestClient

    return TestClient(s.client.app, base_url="http://127.0.0.1:8000")


def test_values_from_files_and_from_daily_are_escaped(logged_in: Served, stack: Stack) -> None:
    evil = '<img src=x onerror=alert(1)>"'
    cid = stack.daily.add_config(
        name_prefix=f"<script>alert(1)</script>{evil}", hold_music_url="javascript:alert(1)//.mp3"
    )
    other = stack.daily.add_config(hold_music_url="data:text/html,<script>alert(2)</script>")
    u = logged_in.check(ERROR_PAGE, name=f"{evil}.mp3")
    page = logged_in.client.get(f"/?u={u}").text.replace('<link rel="icon" href="data:,">', "")
    for raw in (
        "<script>alert",
        "<img src=x",
        'href="javascript:',
        'src="javascript:',
        'src="data:',
        'href="data:',
    ):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # (httpx sends the quote as %22)
    assert "javascript:alert(1)//.mp3</span> (not an http(s) URL)" in page
    assert other in page and cid in page
    audit = logged_in.client.get("/audit?run=1").text
    assert "<script>alert" not in audit and 'src="javascript:' not in audit


def test_files_are_served_as_audio_never_as_a_document(logged_in: Served) -> None:
    u = logged_in.check(WELCOME)
    r = logged_in.client.get(f"/files/{u}/original")
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["content-disposition"].startswith("inline; filename*=UTF-8''")
    bad = logged_in.check(ERROR_PAGE)
    assert logged_in.client.get(f"/files/{bad}/original").status_code == 404


def test_no_secret_is_ever_rendered_or_returned(logged_in: Served, stack: Stack) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    hmac_value = stack.daily.get(cid)["config"]["hmac"]
    secrets_ = [
        stack.daily.api_key,
        stack.s3.secret_key,
        logged_in.token,
        hmac_value,
        logged_in.token.rsplit(".", 1)[1],
    ]
    u = logged_in.check(WELCOME)
    logged_in.form("/dry-run", {"u": u, "which": "original", "config": cid})
    r = logged_in.form("/publish", {"u": u, "which": "original", "config": cid})
    snap = logged_in.wait_run(r.headers["location"])
    bodies = [
        logged_in.client.get(p).text
        for p in (
            f"/?u={u}",
            "/history",
            f"/reports/{snap['report']}",
            "/audit?run=1",
            r.headers["location"],
            r.headers["location"] + ".json",
        )
    ] + [
        logged_in.client.get("/api/configs", headers=logged_in.bearer()).text,
        logged_in.client.post(
            "/api/validate",
            headers=logged_in.bearer(),
            files={"file": ("a.mp3", WELCOME.read_bytes())},
        ).text,
    ]
    report = (logged_in.reports / snap["report"]).read_text()
    for body in [*bodies, logged_in.audit_log.read_text(), report]:
        for secret in secrets_:
            assert secret not in body


# --- report names are names, never paths -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../outside.json",
        "/etc/passwd",
        "holdmusic-publish-20260101T000000Z-abcdef.json/../../outside.json",
        "..%2foutside.json",
        "holdmusic-publish-20260101T000000Z-ABCDEF.json",
        "holdmusic-publish-20260101T000000Z-abcdef.json\n",
        "outside.json",
        "",
    ],
)
def test_a_report_name_never_becomes_a_path(
    logged_in: Served, stack: Stack, tmp_path: Path, name: str
) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    outside = tmp_path / "outside.json"
    outside.write_text(
        json.dumps(
            {
                "tool": "holdmusic",
                "items": [{"config_id": cid, "status": "updated", "url": OLD, "previous_url": OLD}],
            }
        )
    )
    r = logged_in.client.post("/api/rollback", headers=logged_in.bearer(), data={"report": name})
    assert r.status_code == 400, r.text
    r = logged_in.form("/rollback", {"report": name})
    assert r.status_code == 400
    r = logged_in.client.get("/reports/" + quote(name, safe=""))
    assert r.status_code in (400, 404)
    assert stack.daily.requests == []  # nothing was read, nothing sent


def test_a_well_formed_name_that_is_not_there_is_not_found(logged_in: Served) -> None:
    name = "holdmusic-publish-20260101T000000Z-abcdef.json"
    r = logged_in.client.post("/api/rollback", headers=logged_in.bearer(), json={"report": name})
    assert r.status_code == 404 and "no report" in r.json()["error"]


# --- the audit log ---------------------------------------------------------------------------


def test_the_audit_log_appends_json_lines_and_keeps_what_was_there(
    stack: Stack, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"time": "earlier", "user": "zoe", "action": "login"}\n')
    cid = stack.daily.add_config(hold_music_url=OLD)
    for s in make_served(stack, tmp_path):
        s.login()
        u = s.check(WELCOME)
        r = s.form("/publish", {"u": u, "which": "original", "config": cid})
        snap = s.wait_run(r.headers["location"])
        r = s.client.post(
            "/api/validate", headers=s.bearer(), files={"file": ("x.mp3", ERROR_PAGE.read_bytes())}
        )
        lines = s.audit_lines()
        token = s.token
    assert lines[0] == {"time": "earlier", "user": "zoe", "action": "login"}
    actions = [(x["user"], x["action"]) for x in lines[1:]]
    assert actions == [
        ("ana", "login"),
        ("ana", "validate"),
        ("ana", "publish"),
        ("ana", "validate"),
    ]
    publish = lines[3]
    sha = __import__("hashlib").sha256(WELCOME.read_bytes()).hexdigest()
    assert publish["sha256"] == sha and publish["configs"] == [cid] and publish["ok"] is True
    assert publish["report"] == snap["report"] and publish["file"] == "welcome-mono.mp3"
    assert publish["urls"] == {cid: stack.daily.get(cid)["config"]["hold_music_url"]}
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", x["time"]) for x in lines[1:]
    )
    assert lines[4]["via"] == "api" and lines[4]["ok"] is False
    text = log.read_text()
    for secret in (token, stack.daily.api_key, stack.s3.secret_key):
        assert secret not in text
    assert os.open(log, os.O_RDONLY) >= 0  # still a plain file


# --- no two runs on one config -----------------------------------------------------------------


def test_a_second_run_on_a_config_being_changed_is_refused_with_a_clear_message(
    logged_in: Served, stack: Stack
) -> None:
    a = stack.daily.add_config(hold_music_url=OLD)
    b = stack.daily.add_config(hold_music_url=OLD)
    u = logged_in.check(WELCOME)
    logged_in.state.jobs.locks.acquire([a], "publish by bob")  # a run in progress
    r = logged_in.form("/publish", [("u", u), ("which", "original"), ("config", b), ("config", a)])
    assert r.status_code == 409
    assert f"config {a} is being changed by another run (publish by bob, since" in r.text
    r = logged_in.client.post(
        "/api/publish",
        headers=logged_in.bearer(),
        files={"file": ("w.mp3", WELCOME.read_bytes())},
        data={"config": [a]},
    )
    assert r.status_code == 409 and "is being changed by another run" in r.json()["error"]
    assert stack.daily.puts() == [] and stack.keys() == []
    # b was not taken either (all or none), and is free for a run of its own
    r = logged_in.form("/publish", {"u": u, "which": "original", "config": b})
    assert logged_in.wait_run(r.headers["location"])["ok"]
    logged_in.state.jobs.locks.release([a])
    r = logged_in.form("/publish", {"u": u, "which": "original", "config": a})
    assert logged_in.wait_run(r.headers["location"])["ok"]


def test_a_running_publish_holds_its_configs_until_it_ends(logged_in: Served, stack: Stack) -> None:
    a = stack.daily.add_config(hold_music_url=OLD)
    u = logged_in.check(WELCOME)
    stack.daily.faults.delay(3, count=1, methods={"PUT"}, when="before")
    first = logged_in.form("/publish", {"u": u, "which": "original", "config": a})
    jid = first.headers["location"].rsplit("/", 1)[1]
    job = logged_in.state.jobs.get(jid, "ana")
    assert job is not None and not job.finished.is_set()
    second = logged_in.form("/publish", {"u": u, "which": "original", "config": a})
    assert not job.finished.is_set(), "the first run ended before the second was tried"
    assert second.status_code == 409
    assert logged_in.wait_run(first.headers["location"])["ok"]
    assert len(stack.daily.puts(a)) == 1
    assert time.monotonic() > 0
