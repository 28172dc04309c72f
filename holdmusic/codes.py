"""Every problem code holdmusic speaks, once: code → severity → one line of meaning.

Scripts key on these codes (``validate --json``, ``configs check --json``, the public
check of ``upload``/``publish``, the ``error`` object of any ``--json`` command that could
not run), so they are stable: codes are added, never renamed. The README's table is
tested against :data:`REGISTRY` in both directions, and :class:`Problem` refuses a code
that is not here, so a new code cannot ship without its line of meaning.

A problem anywhere is ``{code, severity, message}``: the code and severity say *what*
(stable), the message says it to a person about this file or config (free text).

No imports beyond the standard library: every layer may use this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["REGISTRY", "Code", "Problem", "Severity", "code", "problem"]

Severity = Literal["error", "warning"]

ERROR: tuple[Severity, ...] = ("error",)
WARNING: tuple[Severity, ...] = ("warning",)
EITHER: tuple[Severity, ...] = ("error", "warning")


@dataclass(frozen=True)
class Code:
    code: str
    severities: tuple[Severity, ...]
    meaning: str
    group: str  # where it comes from: "file", "listen", "url", "public", "config", "run"

    @property
    def severity_text(self) -> str:
        """As the README's table writes it."""
        return " or ".join(self.severities)


def _codes(group: str, severities: tuple[Severity, ...], *entries: tuple[str, str]) -> list[Code]:
    return [Code(c, severities, meaning, group) for c, meaning in entries]


_ALL = [
    # --- a file (validate, and every command that validates before it uploads) ----------
    *_codes(
        "file",
        ERROR,
        ("not_found", "no such file"),
        ("unreadable", "the file (or a folder) cannot be read or listed"),
        ("empty", "the file is empty"),
        ("too_large", "not under the size limit (Daily: 10 MB); says what fills the file"),
        ("not_mp3", "not an MP3: says what it is instead; `holdmusic fix` converts audio"),
        ("free_format", "a free-format MP3, which decoders refuse"),
        ("too_long", "not under the duration limit (Daily: 60 s)"),
        (
            "no_audio",
            "a decoder outputs nothing (a tag, an Info frame and one cut frame), every frame "
            "is digital silence, or it plays as silence (below -60 dBFS by every frame's side "
            "information)",
        ),
        ("corrupt_audio", "most frames would not decode"),
        (
            "polyglot",
            "the file also holds text another demuxer would claim (SDP, HLS/M3U, ffconcat…)",
        ),
        ("analysis_failed", "a bug of holdmusic's: please report it with the file"),
    ),
    *_codes(
        "file",
        WARNING,
        ("stereo", "stereo: phone calls are mono"),
        ("high_bitrate", "above 128 kbit/s, more than a phone call carries"),
        ("low_sample_rate", "below 16 kHz: muffled on wideband calls"),
        ("short_clip", "under 30 s: Daily plays it twice, then silence"),
        ("leading_silence", "starts with 1 s or more of silence"),
        ("header_mismatch", "the Xing/Info/VBRI header disagrees with the walked stream"),
        ("appended_stream", "a second encode is joined on (a `cat` of two files)"),
        ("junk_before_audio", "bytes that are not audio before the first frame"),
        ("junk_in_stream", "bytes that are not audio between frames"),
        ("truncated_frame", "the last frame is cut short"),
        ("corrupt_frames", "some frames would not decode (byte offsets given)"),
        ("large_tags", "1 MB or more that is not audio, more than the audio itself"),
    ),
    # --- validate --listen / configs check --listen: what a caller hears -----------------
    *_codes(
        "listen",
        WARNING,
        ("too_quiet", "loudness below -26 LUFS, or silent"),
        ("too_loud", "loudness above -14 LUFS"),
        ("clipping", "true peak above -0.1 dBTP"),
        ("outside_phone_band", "less than half the energy is between 300 and 3400 Hz"),
        ("trailing_silence", "2 s or more of silence at the end"),
        ("silence_gap", "3 s or more of silence inside"),
        ("listen_failed", "the MP3 walked fine but FFmpeg could not decode it"),
        ("listen_skipped", "not decoded: the file already failed too_long"),
    ),
    # --- fix / preview: what the input itself holds ---------------------------------------
    *_codes(
        "source",
        WARNING,
        ("source_truncated", "the input's header declares a longer length than decodes"),
        ("source_corrupt_frames", "packets of the input that would not decode were skipped"),
        (
            "source_clipped",
            "the source's samples reach -0.1 dBFS: its distortion stays, only quieter",
        ),
        ("large_gain", "fix raised the source by more than 15 dB, and its noise floor with it"),
        (
            "cut_without_pause",
            "no pause near the length limit to cut at; says where the quietest moment was",
        ),
    ),
    # --- a URL fetched as Daily will (validate URL, configs check, rollback's check) -----
    *_codes(
        "url",
        ERROR,
        ("unreachable", "the URL could not be fetched (DNS, refused, timeout, bad URL)"),
        ("private_url", "it resolves to a loopback, private or link-local address"),
        ("bad_url", "the URL, or a redirect's target, cannot be parsed"),
        ("http_status", "the answer was not 200"),
        ("too_many_redirects", "more redirects than allowed (3; none for the public check)"),
    ),
    Code("content_type", EITHER, "not served as audio (error) or not as audio/mpeg", "url"),
    *_codes(
        "url",
        WARNING,
        ("redirect", "the URL redirects: Daily does not document following redirects"),
        ("not_https", "not https: Daily may refuse it, and anyone on the path can alter it"),
    ),
    # --- the public check of upload, publish and batch -----------------------------------
    *_codes(
        "public",
        ERROR,
        ("not_public", "an anonymous GET is refused (401/403): the object is not public"),
        ("wrong_bytes", "the URL serves other bytes than were uploaded (a stale CDN copy)"),
        ("public_base_url", "the public base URL does not serve the bucket's objects"),
    ),
    # --- configs check ---------------------------------------------------------------------
    *_codes(
        "config",
        ERROR,
        ("no_hold_music", "the config has no hold_music_url"),
        ("config_error", "the config could not be read"),
        ("not_pinless", "the config is not pinless_dialin: hold music plays only there"),
    ),
    # --- why a command could not run (the `error` object of any --json command) ---------
    *_codes(
        "run",
        ERROR,
        ("usage", "the command line, an option or an environment variable is wrong"),
        ("manifest_invalid", "the batch manifest is unusable (every bad row is listed)"),
        ("report_invalid", "the report cannot be read, or is not a holdmusic report"),
        ("report_exists", "the report file exists: holdmusic never writes over a report"),
        ("report_live", "the report belongs to a run that is still going"),
        ("daily_auth", "Daily refused the API key"),
        ("daily_not_found", "Daily has no such object"),
        ("daily_request", "Daily refused the request as invalid"),
        ("daily_unavailable", "Daily could not be reached, after every retry"),
        ("daily_error", "Daily answered with an error"),
        ("storage_error", "the storage service refused, or could not be reached"),
        ("fetch_error", "a URL could not be fetched"),
        ("cannot_fix", "the input cannot be made into hold music (fix, preview)"),
        ("missing_extra", "the command needs an extra that is not installed"),
        ("interrupted", "the run was interrupted (Ctrl-C, or cancelled)"),
        ("internal_error", "a bug of holdmusic's: please report it"),
    ),
]

REGISTRY: dict[str, Code] = {c.code: c for c in _ALL}
assert len(REGISTRY) == len(_ALL), "a code is registered twice"


def code(name: str) -> Code:
    """The registry's entry; a KeyError names a code that was never registered."""
    return REGISTRY[name]


@dataclass(frozen=True)
class Problem:
    """One problem: a registered ``code``, its ``severity``, and a ``message`` for a person.

    ``offset``: where in the file, for problems found at a byte (corrupt_frames...).
    """

    code: str
    severity: Severity
    message: str
    offset: int | None = None

    def __post_init__(self) -> None:
        entry = REGISTRY.get(self.code)
        if entry is None:
            raise ValueError(f"problem code {self.code!r} is not in holdmusic.codes.REGISTRY")
        if self.severity not in entry.severities:
            raise ValueError(f"problem code {self.code!r} is never a {self.severity}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.offset is not None:
            d["offset"] = self.offset
        return d


def problem(name: str, message: str, severity: Severity | None = None) -> Problem:
    """A problem whose severity is the code's own (give it for a code that can be either)."""
    entry = REGISTRY[name]
    if severity is None:
        if len(entry.severities) != 1:
            raise ValueError(f"problem code {name!r} needs a severity")
        severity = entry.severities[0]
    return Problem(name, severity, message)
