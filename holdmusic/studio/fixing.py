"""``holdmusic fix``: any audio file in, a passing hold-music MP3 out."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

from holdmusic import rules
from holdmusic.studio import (
    _AIM_LU,
    _ENCODER_LOSS_LU,
    _FIRST_HEADROOM_DB,
    _INTERSAMPLE_DB,
    _LAME_OPTIONS,
    _MAX_PASSES,
    _MIN_MEASURABLE_SECONDS,
    _OVERSAMPLE,
    DEFAULT_BITRATE_KBPS,
    DEFAULT_FADE_IN_SECONDS,
    DEFAULT_FADE_OUT_SECONDS,
    DEFAULT_LENGTH_SECONDS,
    DEFAULT_LOUDNESS_LUFS,
    DEFAULT_SAMPLE_RATE,
    LOUDNESS_TOLERANCE_LU,
    SILENCE_DBFS,
    TRUE_PEAK_CEILING_DBTP,
    DecodeReport,
    Loudness,
    Source,
    StudioError,
    _audio_stream,
    _Chain,
    _decoded,
    _meter,
    _open_input,
    _publish,
    _read_meter,
    check_output,
    load_av,
    measure,
    walked_seconds,
)
from holdmusic.tempfiles import partial_file

# --- fix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixSettings:
    length_seconds: float = DEFAULT_LENGTH_SECONDS  # cut a too-long file to this
    max_seconds: float = 60.0  # a file at or over this is too long (validate's limit)
    start_seconds: float = 0.0
    fade_out_seconds: float = DEFAULT_FADE_OUT_SECONDS
    fade_in_seconds: float = DEFAULT_FADE_IN_SECONDS
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS
    sample_rate: int = DEFAULT_SAMPLE_RATE
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    channels: int = 1


@dataclass(frozen=True)
class FixResult:
    source: Source
    output: str
    input_seconds: float | None  # the whole input; from its header when it was not all decoded
    output_samples: int
    output_seconds: float
    trimmed: bool
    start_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    input_loudness_lufs: float  # of the kept audio, folded to the output's channels
    output_loudness_lufs: float  # measured on the encoded file
    output_true_peak_dbtp: float  # measured on the encoded file
    gain_db: float
    limited: bool  # the limiter had to hold peaks down (gain alone would have clipped)
    passes: int
    size_bytes: int
    verdict: rules.Verdict  # of the output, by the same rules as `holdmusic validate`
    settings: FixSettings = field(default_factory=FixSettings)

    def changes(self) -> dict[str, Any]:
        s = self.settings
        return {
            "duration_seconds": {
                "from": None if self.input_seconds is None else round(self.input_seconds, 6),
                "to": round(self.output_seconds, 6),
            },
            "trimmed": self.trimmed,
            "start_seconds": self.start_seconds,
            "fade_in_seconds": self.fade_in_seconds,
            "fade_out_seconds": self.fade_out_seconds,
            "channels": {"from": self.source.channels, "to": s.channels},
            "sample_rate": {"from": self.source.sample_rate, "to": s.sample_rate},
            "loudness_lufs": {
                "from": _finite(self.input_loudness_lufs),
                "to": round(self.output_loudness_lufs, 2),
            },
            "true_peak_dbtp": round(self.output_true_peak_dbtp, 2),
            "gain_db": round(self.gain_db, 2),
            "limited": self.limited,
            "bitrate_kbps": s.bitrate_kbps,
            "size_bytes": {"from": self.source.size_bytes, "to": self.size_bytes},
            "input_format": {"container": self.source.container, "codec": self.source.codec},
            "input_problems": [p.to_dict() for p in self.source.problems],
        }

    def summary(self) -> str:
        """``75.0 s → 59.5 s (2 s fade-out), stereo → mono, 48 kHz → 22.05 kHz, ...``"""
        s = self.settings
        parts = []
        before = "?" if self.input_seconds is None else f"{self.input_seconds:.1f}"
        if self.trimmed or self.start_seconds:
            notes = []
            if self.start_seconds:
                notes.append(f"from {self.start_seconds:g} s")
            if self.fade_in_seconds:
                notes.append(f"{self.fade_in_seconds:g} s fade-in")
            if self.fade_out_seconds:
                notes.append(f"{self.fade_out_seconds:g} s fade-out")
            parts.append(f"{before} s → {self.output_seconds:.1f} s ({', '.join(notes)})")
        else:
            parts.append(f"{self.output_seconds:.3f} s kept")
        if self.source.channels != s.channels:
            parts.append(f"{_channels(self.source.channels)} → {_channels(s.channels)}")
        if self.source.sample_rate != s.sample_rate:
            parts.append(f"{_khz(self.source.sample_rate)} → {_khz(s.sample_rate)}")
        loud = f"{_lufs(self.input_loudness_lufs)} → {_lufs(self.output_loudness_lufs)} LUFS"
        if self.limited:
            loud += " (peaks limited)"
        parts.append(loud)
        parts.append(f"{_mb(self.source.size_bytes)} → {_mb(self.size_bytes)}")
        return ", ".join(parts)


def _finite(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _khz(rate: int) -> str:
    return f"{rate / 1000:g} kHz"


def _lufs(x: float) -> str:
    return f"{x:.1f}" if math.isfinite(x) else "silent"


def _mb(n: int) -> str:
    mb = n / 1_000_000
    return f"{mb:.2f} MB" if mb < 1 else f"{mb:.1f} MB"


def fix(
    path: str,
    output: str,
    settings: FixSettings = FixSettings(),
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    force: bool = False,
) -> FixResult:
    """Write ``output``: ``path`` decoded, cut to fit, mono, resampled, normalised, MP3.

    The file is written under a temporary name in the output's folder, judged by
    ``rules`` and only then renamed into place, so a failure or Ctrl-C leaves nothing
    behind, and nothing that fails validation; the input is only ever read.
    """
    av = load_av("holdmusic fix")
    check_output(path, output, force)
    container = _open_input(av, path)
    with container:
        stream = _audio_stream(path, container)
        report = DecodeReport()
        frames, in_samples, in_rate, in_channels, complete = _decode_to_output_format(
            av, path, container, stream, settings, report
        )
        source = Source(
            path=path,
            container=container.format.name,
            codec=stream.codec_context.codec.canonical_name,
            sample_rate=in_rate,
            channels=in_channels,
            size_bytes=os.path.getsize(path),
            problems=tuple(report.notes),
        )
        walked = None if complete else walked_seconds(path, container.format.name)
        if complete:
            total_seconds: float | None = in_samples / in_rate
        elif walked is not None:  # an MP3's header can lie; the frame walk does not
            total_seconds = walked
        elif container.duration:  # decoding stopped early: the header's word for the rest
            total_seconds = container.duration / 1_000_000
        else:
            total_seconds = None
    rate = settings.sample_rate
    start = round(settings.start_seconds * rate)
    available_samples = max(0, round(in_samples * rate / in_rate) - start) if in_rate else 0
    input_seconds = in_samples / in_rate - settings.start_seconds
    if available_samples < _MIN_MEASURABLE_SECONDS * rate:
        if settings.start_seconds and input_seconds <= 0:
            raise StudioError(
                f"{path}: --start {settings.start_seconds:g} s is past the end of the audio "
                f"({in_samples / in_rate:.3f} s)"
            )
        raise StudioError(
            f"{path}: only {max(0.0, input_seconds):.3f} s of audio; too short to make hold "
            "music from"
        )
    too_long = input_seconds >= settings.max_seconds
    if too_long:
        n = round(settings.length_seconds * rate)
    else:
        # Keep the length to the sample; never round a just-under file up to the limit.
        n = min(available_samples, math.ceil(settings.max_seconds * rate) - 1)
    fade_out = round(settings.fade_out_seconds * rate) if too_long else 0
    fade_out = min(fade_out, n)
    fade_in = 0
    if start and _starts_mid_sound(frames, start, rate):
        fade_in = min(round(settings.fade_in_seconds * rate), n)

    shape = [("asetpts", "N/SR/TB")]
    if start or n < available_samples:
        shape += [("atrim", f"start_sample={start}:end_sample={start + n}"), ("asetpts", "N/SR/TB")]
    shape.append(("apad", f"whole_len={n}"))
    if fade_in:
        shape.append(("afade", f"t=in:ss=0:ns={fade_in}"))
    if fade_out:
        shape.append(("afade", f"t=out:ss={n - fade_out}:ns={fade_out}"))
    # Measured on the way through: sample peaks (cheap) are enough to decide on the limiter.
    shape.append(_meter("sample"))
    shaped: list[Any] = []
    before = _read_meter(_Chain(av, frames[0], shape).run(frames), "sample", keep=shaped)
    if not math.isfinite(before.integrated_lufs):
        raise StudioError(f"{path}: the audio is silent (below BS.1770's gate); nothing to fix")

    with partial_file(output) as tmp:
        target = settings.loudness_lufs
        gain = target - before.integrated_lufs + _ENCODER_LOSS_LU
        ceiling = TRUE_PEAK_CEILING_DBTP - _FIRST_HEADROOM_DB
        # Inter-sample peaks sit up to ~1 dB above sample peaks in music; only when gain
        # could bring them near the ceiling is the (oversampled, slower) limiter needed.
        limited = before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
        passes = 0
        while True:
            passes += 1
            _render_mp3(av, shaped, n, gain, ceiling if limited else None, tmp, settings)
            after = _measure_file(av, tmp)
            loud_err = after.integrated_lufs - target
            peak_over = after.true_peak_dbtp - TRUE_PEAK_CEILING_DBTP
            if (abs(loud_err) <= _AIM_LU and peak_over <= 0) or passes >= _MAX_PASSES:
                break
            gain -= loud_err
            if peak_over > -0.1:
                if limited:  # the encoder overshot the limiter: aim lower by as much
                    ceiling -= max(peak_over, 0.0) + 0.2
                limited = True
            limited = limited or before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
        if abs(after.integrated_lufs - target) > LOUDNESS_TOLERANCE_LU or (
            after.true_peak_dbtp > TRUE_PEAK_CEILING_DBTP
        ):
            raise StudioError(
                f"{path}: could not reach {target:g} LUFS with the true peak at or below "
                f"{TRUE_PEAK_CEILING_DBTP:g} dBTP (got {after.integrated_lufs:.1f} LUFS, "
                f"{after.true_peak_dbtp:.1f} dBTP); the audio is too peaky to be made this loud "
                "— try a lower --loudness"
            )
        size = os.path.getsize(tmp)
        verdict = replace(rules.check_path(tmp, limits), path=output)
        if not verdict.ok:
            reasons = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
            raise StudioError(f"{path}: the new MP3 would not pass ({reasons})")
        _publish(tmp, output, force)
    return FixResult(
        source=source,
        output=output,
        input_seconds=total_seconds,
        output_samples=n,
        output_seconds=n / rate,
        trimmed=too_long,
        start_seconds=settings.start_seconds,
        fade_in_seconds=fade_in / rate,
        fade_out_seconds=fade_out / rate,
        input_loudness_lufs=before.integrated_lufs,
        output_loudness_lufs=after.integrated_lufs,
        output_true_peak_dbtp=after.true_peak_dbtp,
        gain_db=gain,
        limited=limited,
        passes=passes,
        size_bytes=size,
        verdict=verdict,
        settings=settings,
    )


def _decode_to_output_format(
    av: Any,
    path: str,
    container: Any,
    stream: Any,
    settings: FixSettings,
    report: DecodeReport | None = None,
) -> tuple[list[Any], int, int, int, bool]:
    """Decode what is needed (from 0 to --start + the length, plus a margin), down-mixed and
    resampled to the output format. Returns the frames, the input samples decoded, the input
    rate and channel count, and whether the whole input was decoded."""
    frames: list[Any] = []
    chain: _Chain | None = None
    in_rate = in_channels = 0
    in_samples = 0
    # Enough to know the file is too long, and to cut it: start + limit (+1 s for the
    # resampler's and the decoder's edges).
    need_seconds = settings.start_seconds + max(settings.max_seconds, settings.length_seconds) + 1
    layout = {1: "mono", 2: "stereo"}[settings.channels]
    to_output = [
        ("aresample", str(settings.sample_rate)),
        ("aformat", f"sample_fmts=flt:channel_layouts={layout}"),
    ]
    complete = True
    for frame in _decoded(path, container, stream, report):
        if chain is None:
            in_rate, in_channels = frame.sample_rate, frame.layout.nb_channels
            chain = _Chain(av, frame, to_output)
        elif frame.sample_rate != in_rate or frame.layout.nb_channels != in_channels:
            raise StudioError(
                f"{path}: the audio format changes mid-stream "
                f"({in_rate} Hz/{in_channels} ch → {frame.sample_rate} Hz/"
                f"{frame.layout.nb_channels} ch); convert it to one format first"
            )
        in_samples += frame.samples
        frames.extend(chain.push(frame))
        if in_samples >= need_seconds * in_rate:
            complete = False
            break
    if chain is None:
        raise StudioError(f"{path}: the audio stream holds no decodable audio")
    frames.extend(chain.push(None))
    return frames, in_samples, in_rate, in_channels, complete


def _starts_mid_sound(frames: list[Any], start: int, rate: int) -> bool:
    """Is there sound in the first 10 ms after the cut? (a few hundred samples: read them)."""
    window = max(1, rate // 100)
    threshold = 10 ** (SILENCE_DBFS / 20)
    pos = 0
    for f in frames:
        if pos + f.samples <= start:
            pos += f.samples
            continue
        samples = memoryview(bytes(f.planes[0])).cast("f")
        lo = max(0, start - pos)
        chunk = samples[lo : lo + window]
        if any(abs(x) > threshold for x in chunk):
            return True
        window -= len(chunk)
        pos += f.samples
        if window <= 0:
            return False
    return False


def _render_mp3(
    av: Any,
    shaped: list[Any],
    n: int,
    gain_db: float,
    ceiling_dbtp: float | None,
    path: str,
    settings: FixSettings,
) -> None:
    """Gain, then a limiter on oversampled audio (so it sees inter-sample peaks), back to the
    output rate at exactly ``n`` samples, encoded CBR."""
    rate = settings.sample_rate
    chain = [("volume", f"volume={gain_db:.4f}dB:precision=float")]
    if ceiling_dbtp is not None:
        limit = min(1.0, max(0.0625, 10 ** (ceiling_dbtp / 20)))
        chain += [
            ("aresample", str(rate * _OVERSAMPLE)),
            # level=0: no auto make-up gain; latency=1: no lookahead delay in the output.
            ("alimiter", f"limit={limit:.6f}:attack=1:release=50:level=0:latency=1"),
            ("aresample", str(rate)),
            ("asetpts", "N/SR/TB"),
            ("atrim", f"end_sample={n}"),
            ("apad", f"whole_len={n}"),
        ]
    chain.append(("aformat", "sample_fmts=fltp"))
    layout = {1: "mono", 2: "stereo"}[settings.channels]
    with av.open(path, "w", format="mp3") as out:
        enc = out.add_stream("libmp3lame", rate=rate, layout=layout, options=_LAME_OPTIONS)
        enc.bit_rate = settings.bitrate_kbps * 1000
        for frame in _Chain(av, shaped[0], chain).run(shaped):
            frame.pts = None
            for packet in enc.encode(frame):
                out.mux(packet)
        for packet in enc.encode(None):
            out.mux(packet)


def _measure_file(av: Any, path: str) -> Loudness:
    with av.open(path, "r") as c:
        stream = c.streams.audio[0]
        return measure(av, c.decode(stream))
