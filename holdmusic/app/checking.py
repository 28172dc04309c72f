"""validate as entry points: files, folders, URLs and bytes judged, and a file read once
for what follows (prepare). Light on purpose: ``holdmusic validate`` imports this and
the rules, nothing of the run machinery."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from holdmusic import rules
from holdmusic.app.env import Environment
from holdmusic.errors import UsageError

if TYPE_CHECKING:
    from holdmusic.app.results import ValidateResult
    from holdmusic.pipeline import Prepared

Inspect = Callable[[rules.Verdict, Any], rules.Verdict]

# Audio that `holdmusic fix` turns into MP3: named when a folder holds only these.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma",
    ".mp2", ".mp4", ".mov", ".webm", ".mka",
)  # fmt: skip


class NothingToCheck(UsageError):
    """The paths named no file to check."""


# --- validate --------------------------------------------------------------------------------


def expand(paths: Sequence[str]) -> list[str]:
    """Files and URLs as given, folders searched for ``*.mp3``. Nothing at all is a usage
    error that says what the folders do hold (FLAC, WAV... which ``fix`` converts)."""
    from holdmusic import files
    from holdmusic.text import printable

    targets = files.expand_paths(list(paths))
    if targets:
        return targets
    where = ", ".join(printable(p) for p in paths)
    found = _other_audio([p for p in paths if os.path.isdir(p)])
    if not found:
        raise NothingToCheck(f"no *.mp3 files found under {where}")
    listed = ", ".join(f"{n} {ext}" for ext, n in found)
    raise NothingToCheck(
        f"no *.mp3 files found under {where}, but {listed} "
        f"file{'s' if sum(n for _, n in found) != 1 else ''}: "
        "`holdmusic fix FILE` turns each into an MP3 that passes"
    )


def _other_audio(folders: list[str], limit: int = 10_000) -> list[tuple[str, int]]:
    """Counts of audio files by extension under ``folders`` (most first), bounded."""
    counts: dict[str, int] = {}
    seen = 0
    stack = list(folders)
    while stack and seen < limit:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                    except OSError:
                        continue
                    ext = os.path.splitext(entry.name)[1].lower()
                    if ext in AUDIO_EXTENSIONS:
                        counts[ext] = counts.get(ext, 0) + 1
        except OSError:
            continue
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def listener(command: str) -> Inspect:
    """The listening step (``--listen``), or ``MissingExtra`` naming the install."""
    from holdmusic import studio
    from holdmusic.studio import listening

    studio.load_av(command)
    return listening.hear


def is_url(target: str) -> bool:
    """http(s) URLs are fetched; other schemes (ftp://…) are refused as URLs, not files."""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.isalpha() and not os.path.exists(target)


def validate(
    targets: Sequence[str],
    *,
    env: Environment,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    jobs: int | None = None,
    inspect: Inspect | None = None,
) -> Iterator[rules.Verdict]:
    """Verdicts in order, as they come: files through the (parallel) file checker, URLs
    fetched as Daily will. ``inspect`` (``listener()``) hears each MP3 too."""
    from holdmusic import files

    local = [t for t in targets if not is_url(t)]
    by_file = files.check_many(local, limits, jobs=jobs)
    for target in targets:
        if is_url(target):
            from holdmusic.publicurl import validate_url  # httpx only when a URL is given

            yield validate_url(
                target, limits, inspect=inspect, allow_private=env.allow_private_urls
            )
        else:
            verdict = next(by_file)
            if inspect is not None and verdict.info is not None:
                verdict = inspect(verdict, target)
            yield verdict


def validate_paths(
    paths: Sequence[str],
    *,
    env: Environment,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    strict: bool = False,
    jobs: int | None = None,
    listen: bool = False,
) -> ValidateResult:
    """``validate --json`` as a value: every file, folder or URL, judged."""
    from holdmusic.app.results import ValidateResult

    inspect = listener("validate --listen") if listen else None
    verdicts = validate(expand(paths), env=env, limits=limits, jobs=jobs, inspect=inspect)
    return ValidateResult(tuple(verdicts), strict)


def validate_bytes(
    data: bytes,
    name: str,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    listen: bool = False,
) -> rules.Verdict:
    """One ``validate --json`` item for bytes in memory (a file uploaded to a page);
    ``name`` is how the verdict names it. ``verdict.to_dict()`` is the JSON item."""
    verdict = rules.check_bytes(data, name, limits)
    if listen and verdict.info is not None:
        verdict = listener("validate --listen")(verdict, data)
    return verdict


def prepare_path(path: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    """Read and judge a file once: the bytes a publish or upload then sends."""
    from holdmusic.pipeline import prepare

    return prepare(path, limits)


def prepare_bytes(data: bytes, name: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    """Judge bytes in memory once (an upload to a page); ``name`` gives the storage key."""
    from holdmusic.pipeline import prepare_bytes as prepare_bytes_

    return prepare_bytes_(data, name, limits)
