"""``fix`` and ``preview`` as entry points: the audio work of :mod:`holdmusic.studio`
(PyAV, loaded only here, inside the calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from holdmusic import rules
from holdmusic.codes import Problem
from holdmusic.errors import UsageError

if TYPE_CHECKING:
    from holdmusic.studio.fixing import FixResult, FixSettings
    from holdmusic.studio.phone import Preview

# The defaults of `fix`, as the studio defines them (read without loading PyAV).
FIX_DEFAULTS = {
    "length_seconds": 59.5,
    "start_seconds": 0.0,
    "fade_out_seconds": 2.0,
    "fade_in_seconds": 0.3,
    "loudness_lufs": -19.0,
    "sample_rate": 22_050,
    "bitrate_kbps": 64,
}


@dataclass(frozen=True)
class FixOutcome:
    """``fix --json``: ``{ok, input, output, changes, warnings, validate}``."""

    input: str
    output: str
    result: FixResult

    @property
    def ok(self) -> bool:
        return self.result.verdict.ok

    @property
    def verdict(self) -> rules.Verdict:
        return self.result.verdict

    @property
    def warnings(self) -> tuple[rules.Problem, ...]:
        """fix's own warnings, about the source and the cut (the output's are the verdict's)."""
        return self.result.warnings

    def summary(self) -> str:
        return self.result.summary()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "input": self.input,
            "output": self.output,
            "changes": self.result.changes(),
            "warnings": [w.to_dict() for w in self.result.warnings],
            "validate": self.result.verdict.to_dict(),
        }


@dataclass(frozen=True)
class FixFailure:
    """One input of several that could not be fixed: ``{ok: false, input, output, error}``."""

    input: str
    output: str
    error: Problem

    ok = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": False,
            "input": self.input,
            "output": self.output,
            "error": self.error.to_dict(),
        }


def default_output(path: str, suffix: str = ".hold.mp3") -> str:
    from holdmusic.studio import default_output as default_output_

    return default_output_(path, suffix)


def fix_output_name(path: str) -> str:
    """fix's default output: ``song.wav`` → ``song.wav.hold.mp3`` (the source's whole name
    stays, so ``song.wav`` and ``song.flac`` never collide)."""
    return f"{path}.hold.mp3"


def fix_settings(
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    length_seconds: float | None = None,
    end_seconds: float | None = None,
    start_seconds: float = 0.0,
    fade_out_seconds: float | None = None,
    fade_in_seconds: float | None = None,
    keep_silence: bool = False,
    loop: bool = False,
    crossfade_seconds: float | None = None,
    phone_shaping: bool = True,
    announcements: Sequence[tuple[str, float]] = (),
    loudness_lufs: float = -19.0,
    sample_rate: int = 22_050,
    bitrate_kbps: int = 64,
    channels: int = 1,
) -> FixSettings:
    """fix's settings, checked (a ``UsageError`` names what cannot be right, before any
    decoding). ``None``: fix's defaults, each only where it is needed (see FixSettings)."""
    from holdmusic.studio import fixing

    settings = fixing.FixSettings(
        length_seconds=length_seconds,
        end_seconds=end_seconds,
        max_seconds=limits.max_seconds,
        start_seconds=start_seconds,
        fade_out_seconds=fade_out_seconds,
        fade_in_seconds=fade_in_seconds,
        keep_silence=keep_silence,
        loop=loop,
        crossfade_seconds=(
            fixing.DEFAULT_CROSSFADE_SECONDS if crossfade_seconds is None else crossfade_seconds
        ),
        phone_shaping=phone_shaping,
        announcements=tuple(fixing.Announcement(p, t) for p, t in announcements),
        loudness_lufs=loudness_lufs,
        sample_rate=sample_rate,
        bitrate_kbps=bitrate_kbps,
        channels=channels,
    )
    fixing.check_settings(settings)
    return settings


def fix_outputs(paths: Sequence[str], output: str | None) -> list[tuple[str, str]]:
    """Where each input's MP3 goes (``output``: a file for one input, or a folder), refusing
    before any work what could not be right: a non-MP3 name, two inputs to one output, an
    output that is another input."""
    import os

    folder: str | None = None
    if output is not None:
        if os.path.isdir(output) or output.endswith(("/", os.sep)):
            if not os.path.isdir(output):
                raise UsageError(f"{output}: no such folder (create it first)")
            folder = output
        elif len(paths) > 1:
            raise UsageError(f"{output}: with several inputs, the output names a folder")
        elif not output.lower().endswith(".mp3"):
            raise UsageError(
                f"{output}: fix writes an MP3; give the output a .mp3 name (or a folder)"
            )
    jobs = []
    for p in paths:
        if output is not None and folder is None:
            jobs.append((p, output))
        else:
            name = fix_output_name(p)
            if folder is not None:
                name = os.path.join(folder, os.path.basename(name))
            jobs.append((p, name))
    seen: dict[str, str] = {}
    inputs = {os.path.abspath(p): p for p in paths}
    for p, out in jobs:
        key = os.path.abspath(out)
        if key in seen:
            raise UsageError(f"{seen[key]} and {p} would both be written to {out}")
        if key in inputs and inputs[key] != p:
            raise UsageError(f"{p}'s output {out} is another input; it is never replaced")
        seen[key] = p
    return jobs


def fix_with(
    path: str,
    output: str,
    settings: FixSettings,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    force: bool = False,
) -> FixOutcome:
    """One input → one MP3 with settings from :func:`fix_settings`."""
    from holdmusic.studio import fixing

    return FixOutcome(path, output, fixing.fix(path, output, settings, limits, force=force))


def fix(
    path: str,
    output: str | None = None,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    force: bool = False,
    **options: Any,
) -> FixOutcome:
    """Any audio file → a new MP3 that passes (``output`` default: ``INPUT.hold.mp3``
    beside it). ``options``: :func:`fix_settings`'s (``end_seconds``, ``loop``,
    ``announcements`` as ``(voice path, seconds into the output)``...). Raises
    ``StudioError`` (``cannot_fix``) for an input that cannot be fixed, ``UsageError`` for
    settings that cannot be right, and ``MissingExtra`` (usage) without PyAV."""
    settings = fix_settings(limits=limits, **options)
    out = output or fix_output_name(path)
    return fix_with(path, out, settings, limits=limits, force=force)


@dataclass(frozen=True)
class PreviewOutcome:
    """``preview``: where the caller's-ear WAV went."""

    input: str
    preview: Preview
    alaw: bool

    ok = True

    def to_dict(self) -> dict[str, Any]:
        p = self.preview
        return {
            "ok": True,
            "input": self.input,
            "output": p.output,
            "codec": p.codec,
            "seconds": round(p.seconds, 6),
            "size_bytes": p.size_bytes,
        }


def preview(
    path: str,
    output: str | None = None,
    *,
    alaw: bool = False,
    force: bool = False,
    twice: bool = False,
) -> PreviewOutcome:
    """Render what a caller on a narrowband line hears (default: ``FILE.caller.wav``);
    ``twice``: played twice back to back, as Daily plays pinless hold music."""
    from holdmusic.studio import phone

    out = output or default_output(path, ".caller.wav")
    rendered = phone.preview(path, out, alaw=alaw, force=force, twice=twice)
    return PreviewOutcome(path, rendered, alaw)
