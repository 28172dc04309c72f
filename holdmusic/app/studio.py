"""``fix`` and ``preview`` as entry points: the audio work of :mod:`holdmusic.studio`
(PyAV, loaded only here, inside the calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from holdmusic import rules

if TYPE_CHECKING:
    from holdmusic.studio.fixing import FixResult
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
    """``fix --json``: ``{ok, input, output, changes, validate}``."""

    input: str
    output: str
    result: FixResult

    @property
    def ok(self) -> bool:
        return self.result.verdict.ok

    @property
    def verdict(self) -> rules.Verdict:
        return self.result.verdict

    def summary(self) -> str:
        return self.result.summary()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "input": self.input,
            "output": self.output,
            "changes": self.result.changes(),
            "validate": self.result.verdict.to_dict(),
        }


def default_output(path: str, suffix: str = ".hold.mp3") -> str:
    from holdmusic.studio import default_output as default_output_

    return default_output_(path, suffix)


def fix(
    path: str,
    output: str | None = None,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    force: bool = False,
    length_seconds: float = 59.5,
    start_seconds: float = 0.0,
    fade_out_seconds: float = 2.0,
    fade_in_seconds: float = 0.3,
    loudness_lufs: float = -19.0,
    sample_rate: int = 22_050,
    bitrate_kbps: int = 64,
    channels: int = 1,
) -> FixOutcome:
    """Any audio file → a new MP3 that passes (``output`` default: ``INPUT.hold.mp3``).
    Raises ``StudioError`` (``cannot_fix``) for an input that cannot be fixed and
    ``MissingExtra`` (usage) without PyAV."""
    from holdmusic.studio import fixing

    out = output or default_output(path)
    settings = fixing.FixSettings(
        length_seconds=length_seconds,
        max_seconds=limits.max_seconds,
        start_seconds=start_seconds,
        fade_out_seconds=fade_out_seconds,
        fade_in_seconds=fade_in_seconds,
        loudness_lufs=loudness_lufs,
        sample_rate=sample_rate,
        bitrate_kbps=bitrate_kbps,
        channels=channels,
    )
    return FixOutcome(path, out, fixing.fix(path, out, settings, limits, force=force))


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
    path: str, output: str | None = None, *, alaw: bool = False, force: bool = False
) -> PreviewOutcome:
    """Render what a caller on a narrowband line hears (default: ``FILE.caller.wav``)."""
    from holdmusic.studio import phone

    out = output or default_output(path, ".caller.wav")
    return PreviewOutcome(path, phone.preview(path, out, alaw=alaw, force=force), alaw)
