"""``holdmusic serve``: the page and its JSON API; ``holdmusic serve-user``: who may log in."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any

import click

from holdmusic.app import UsageError
from holdmusic.cli._common import (
    DAILY_ENV,
    PRIVATE_ENV,
    concurrency_option,
    env_help,
    environment,
    limit_options,
    storage_options,
    storage_settings,
)

DEFAULT_MAX_UPLOAD = 100_000_000

_users_option = click.option(
    "--users",
    "users_path",
    type=click.Path(dir_okay=False),
    help="JSON file of named users with hashed tokens ('holdmusic serve-user add' writes it).",
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed, so the link names the port
    really used (``--port 0`` picks a free one)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@click.command("serve", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port (0: any free port; the login link names it).",
)
@_users_option
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False),
    help="Append one JSON line per action (who, what, file sha256, configs, URLs, report).",
)
@click.option(
    "--max-upload-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_UPLOAD,
    show_default=True,
    help="Largest upload accepted (fix takes long WAVs); a bigger one is cut off with 413.",
)
@click.option(
    "--reports-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where run reports are written and the history page reads them (share it with the "
    "CLI's runs).",
)
@storage_options
@limit_options
@concurrency_option
def serve(
    host: str,
    port: int,
    users_path: str | None,
    audit_log: str | None,
    max_upload_bytes: int,
    reports_dir: str,
    max_bytes: int,
    max_seconds: float,
    concurrency: int,
    **params: Any,
) -> None:
    """Serve the page where the media team checks, fixes, hears and publishes hold music,
    with a JSON API under /api/ (Authorization: Bearer TOKEN).

    Storage and Daily settings are publish's (options and environment: DAILY_API_KEY,
    DAILY_API_URL, HOLDMUSIC_BUCKET, ...); they stay on the server. Without --users a
    random token is made at start and printed in a login link; a --host other than
    loopback needs --users. Ctrl-C stops the server and deletes its work area.
    """
    from holdmusic import web

    missing = web.missing_extra()
    if missing is not None:
        raise UsageError(
            f"holdmusic serve needs the serve extra ({missing} is not installed): "
            f"{web.INSTALL_HINT}"
        )
    if not is_loopback(host) and users_path is None:
        raise UsageError(
            f"--host {host} is not a loopback address: the page can change every phone line, "
            "so name its users with --users FILE ('holdmusic serve-user add NAME --users FILE')"
        )
    from holdmusic.web import _uses, auth
    from holdmusic.web.app import ServeConfig, configure_logging, create_app, media_origins

    if users_path is not None:
        try:
            users = auth.Users.from_file(users_path)
        except auth.UsersFileError as exc:
            raise UsageError(str(exc)) from None
        token = None
    else:
        import getpass

        try:
            name = auth.NAME_RE.fullmatch(getpass.getuser()) and getpass.getuser()
        except (KeyError, OSError):
            name = None
        users, token = auth.Users.single(name or "local")
    if not os.path.isdir(reports_dir):
        raise UsageError(f"--reports-dir {reports_dir} is not a folder")
    if not os.access(reports_dir, os.W_OK):
        raise UsageError(f"--reports-dir {reports_dir} is not writable")
    settings = storage_settings(params)
    ctx = _uses.Context(
        env=environment(),
        storage=settings,
        reports_dir=os.path.abspath(reports_dir),
        max_bytes=max_bytes,
        max_seconds=max_seconds,
        concurrency=concurrency,
    )
    ctx.check()  # a missing or malformed DAILY_API_KEY: exit 2 now, not at the first publish
    if audit_log is not None:
        folder = os.path.dirname(os.path.abspath(audit_log))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError(f"--audit-log {audit_log}: folder {folder} is not writable")
    config = ServeConfig(
        ctx=ctx,
        users=users,
        max_upload_bytes=max_upload_bytes,
        audit_log=audit_log,
        media_origins=media_origins(settings.public_base_url),
    )
    import uvicorn

    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{sock.getsockname()[1]}"

    def ready() -> None:
        click.echo(f"holdmusic serve: {base}/ (Ctrl-C stops it)", err=True)
        if token is not None:
            click.echo(f"Log in: {base}/login?token={token}")
        else:
            click.echo(
                f"Log in: {base}/login?token=TOKEN (each user's token from 'serve-user add')"
            )
        sys.stdout.flush()

    class Server(uvicorn.Server):
        async def main_loop(self) -> None:
            # The link is printed once uvicorn has started and handles Ctrl-C, from the
            # loop whose end always leads to its clean shutdown: a Ctrl-C the instant the
            # link shows stops the server (before, it could land in an import and be lost;
            # and uvicorn 0.30 skips the shutdown for one that comes during start-up).
            ready()
            await super().main_loop()

    app = create_app(config)
    configure_logging()
    server = Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,  # uvicorn's would print login links, tokens and all
            lifespan="on",
            proxy_headers=True,  # X-Forwarded-Proto from a proxy on loopback only (default)
            server_header=False,
            timeout_graceful_shutdown=10,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn has shut down cleanly and re-raised the Ctrl-C: that is how serve ends.
        pass
    finally:
        sock.close()
    click.echo("holdmusic serve: stopped; the work area is deleted", err=True)


@click.group("serve-user")
def serve_user() -> None:
    """Who may log in to 'holdmusic serve': a users file of names and hashed tokens."""


def _need_users(users_path: str | None) -> str:
    if users_path is None:
        raise UsageError("name the users file: --users FILE")
    return users_path


@serve_user.command("add")
@click.argument("name")
@_users_option
@click.option("--replace", is_flag=True, help="Give an existing user a new token.")
def add(name: str, users_path: str | None, replace: bool) -> None:
    """Add user NAME (or with --replace give them a new token) and print the token once.

    The file keeps only a salted scrypt hash: a lost token cannot be shown again, only
    replaced. A running server sees the change at once.
    """
    from holdmusic.web import auth

    path = _need_users(users_path)
    try:
        token = auth.add_user(path, name, replace=replace)
    except auth.UsersFileError as exc:
        raise UsageError(str(exc)) from None
    click.echo(token)
    click.echo(
        f"{'new token for' if replace else 'added'} {name} in {path}. The token above is shown "
        "once; the login link is http://HOST:PORT/login?token=<the token>",
        err=True,
    )


@serve_user.command("remove")
@click.argument("name")
@_users_option
def remove(name: str, users_path: str | None) -> None:
    """Remove user NAME: their token and sessions stop working at once."""
    from holdmusic.web import auth

    path = _need_users(users_path)
    try:
        auth.remove_user(path, name)
    except auth.UsersFileError as exc:
        raise UsageError(str(exc)) from None
    click.echo(f"removed {name} from {path}", err=True)


@serve_user.command("list")
@_users_option
def list_(users_path: str | None) -> None:
    """Names in the users file, with when each token was made."""
    from holdmusic.text import printable
    from holdmusic.web import auth

    try:
        users = auth.read_users(_need_users(users_path))
    except auth.UsersFileError as exc:
        raise UsageError(str(exc)) from None
    for u in users:
        click.echo(f"{printable(u.name)}\t{u.created}")
