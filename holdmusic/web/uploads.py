"""Receiving a multipart form with one file, streamed to disk under a hard cap.

Starlette's own form parser keeps fields in memory and spools files without a limit on
their size; here the body is parsed as it arrives (python-multipart's push parser), the
file part is written straight into the caller's private folder, and the request is cut
off with 413 the moment the body passes the cap, whatever Content-Length said. A
Content-Length over the cap is refused before a byte is read. Nothing is kept in memory
but the (small, capped) text fields and one chunk.

The CSRF check can run on the text fields that come before the file (``before_file``):
a page form puts its hidden token first, so a forged upload is refused before any of its
bytes are written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

FIELDS_BYTES = 64 * 1024  # every text field together
MAX_FIELDS = 500  # e.g. one `config` field per config picked
OVERHEAD_BYTES = FIELDS_BYTES + 16 * 1024  # boundaries and part headers, generously


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ReceivedFile:
    field: str
    filename: str  # as the browser sent it (shown escaped; never used as a path)
    path: str  # where it was written
    size: int
    sha256: str


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    file: ReceivedFile | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(filename: str, default: str = "upload") -> str:
    """A file name for the work area and the storage key's slug: the browser's name
    reduced to letters, digits, ``._-``, no leading dot, at most 100 characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _SAFE.sub("-", base).strip(".-_")[:100].strip(".-_")
    return base or default


async def receive(
    headers: dict[str, str],
    stream: AsyncIterator[bytes],
    folder: str,
    *,
    max_file_bytes: int,
    file_field: str = "file",
    before_file: Callable[[Form], None] | None = None,
) -> Form:
    """Parse a ``multipart/form-data`` body into ``folder`` (which must exist, private).

    Raises :class:`UploadError`: 413 over the cap, 400 for a malformed body or a second
    file, 415 for another content type; ``before_file`` may raise it too (403). On any
    error the partial file is removed.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise UploadError(415, "send the form as multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "the multipart body has no boundary")
    cap = max_file_bytes + OVERHEAD_BYTES
    declared = headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > cap:
                raise UploadError(413, _too_large(max_file_bytes))
        except ValueError:
            raise UploadError(400, "bad Content-Length") from None

    form = Form()
    state: dict[str, object] = {}
    header_name = bytearray()
    header_value = bytearray()
    part_headers: dict[bytes, bytes] = {}
    field_bytes = 0
    fields_seen = 0
    out: list[object] = []  # the open file of the current file part, if any
    hasher = hashlib.sha256()
    written = 0
    path_holder: list[str] = []

    def on_part_begin() -> None:
        part_headers.clear()
        state["name"] = None
        state["data"] = bytearray()
        state["is_file"] = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])
        if len(header_value) > 8192:
            raise UploadError(400, "a part header is too long")

    def on_header_end() -> None:
        part_headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal fields_seen
        _, opts = parse_options_header(part_headers.get(b"content-disposition", b""))
        name = opts.get(b"name")
        if name is None:
            raise UploadError(400, "a form part has no name")
        state["name"] = name.decode("utf-8", "replace")
        if b"filename" in opts:
            if state["name"] != file_field or form.file is not None:
                raise UploadError(400, f"send one file, in the field {file_field!r}")
            if before_file is not None:
                before_file(form)
            filename = opts[b"filename"].decode("utf-8", "replace")
            path = os.path.join(folder, safe_name(filename))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            path_holder.append(path)
            out.append(os.fdopen(fd, "wb"))
            state["is_file"] = True
            state["filename"] = filename
        else:
            fields_seen += 1
            if fields_seen > MAX_FIELDS:
                raise UploadError(400, f"more than {MAX_FIELDS} form fields")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal field_bytes, written
        chunk = data[start:end]
        if state.get("is_file"):
            written += len(chunk)
            if written > max_file_bytes:
                raise UploadError(413, _too_large(max_file_bytes))
            hasher.update(chunk)
            out[-1].write(chunk)  # type: ignore[attr-defined]
        else:
            field_bytes += len(chunk)
            if field_bytes > FIELDS_BYTES:
                raise UploadError(413, "the form's text fields are too large")
            state["data"].extend(chunk)  # type: ignore[attr-defined]

    def on_part_end() -> None:
        name = str(state["name"])
        if state.get("is_file"):
            fh = out.pop()
            fh.close()  # type: ignore[attr-defined]
            form.file = ReceivedFile(
                name, str(state["filename"]), path_holder[-1], written, hasher.hexdigest()
            )
        else:
            value = bytes(state["data"]).decode("utf-8", "replace")  # type: ignore[call-overload]
            form.fields.setdefault(name, []).append(value)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > cap:
                raise UploadError(413, _too_large(max_file_bytes))
            try:
                parser.write(chunk)
            except UploadError:
                raise
            except Exception as exc:  # python-multipart's own errors: a malformed body
                raise UploadError(400, f"malformed multipart body ({type(exc).__name__})") from None
        try:
            parser.finalize()
        except Exception as exc:
            raise UploadError(400, f"malformed multipart body ({type(exc).__name__})") from None
        if out:
            raise UploadError(400, "the multipart body ended inside the file")
    except BaseException:
        for fh in out:
            fh.close()  # type: ignore[attr-defined]
        for path in path_holder:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        raise
    return form


def _too_large(max_file_bytes: int) -> str:
    return f"the upload is larger than the limit of {max_file_bytes:,} bytes (--max-upload-bytes)"
