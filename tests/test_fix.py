"""``holdmusic fix``: every input kind comes out passing, mono, at -19 LUFS, peaks held.

Inputs are made here with the system's ffmpeg in each format a media person is likely to
hand over; outputs are judged by holdmusic's own validator and, independently, by the
ffmpeg program's ebur128 meter (peak=true) and volumedetect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from holdmusic import rules
from holdmusic.studio.listening import hear
from tests.conftest import Result, Stack
from tests.soundfactory import (
    decoded_samples,
    ebur128,
    ffmpeg,
    holdmusic_without_pyav,
    long_silent_flac,
    loudness_of,
    mean_volume_db,
    mix_at,
    mono_samples,
    music,
    padded,
    rms_db,
    sound_span,
    speech,
)

pytest.importorskip("av")

Cli = Callable[..., Result]

BANNED_WARNINGS = {"stereo", "high_bitrate", "low_sample_rate"}
# What `validate --listen` can say that fix can mend: none of these on ordinary music.
FIXABLE = {
    "too_quiet", "too_loud", "clipping", "leading_silence", "trailing_silence",
    "outside_phone_band",
}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    seconds: float
    rate: int
    channels: int
    gain_db: float
    codec: tuple[str, ...]
    suffix: str
    video: bool = False

    @property
    def too_long(self) -> bool:
        return self.seconds >= 60


KINDS = {
    "wav_s16_long": Kind(62, 44100, 2, -6, ("-c:a", "pcm_s16le"), ".wav"),
    "wav_s24_quiet": Kind(45, 48000, 2, -30, ("-c:a", "pcm_s24le"), ".wav"),
    "wav_s32_mono_96k": Kind(40, 96000, 1, -12, ("-c:a", "pcm_s32le"), ".wav"),
    "wav_f32_hot": Kind(33, 48000, 2, 0, ("-c:a", "pcm_f32le"), ".wav"),
    "flac_long": Kind(70, 48000, 2, -10, ("-c:a", "flac", "-sample_fmt", "s32"), ".flac"),
    "ogg_vorbis": Kind(40, 44100, 2, -8, ("-c:a", "libvorbis", "-q:a", "4"), ".ogg"),
    "ogg_opus": Kind(40, 48000, 2, -8, ("-c:a", "libopus", "-b:a", "96k"), ".opus"),
    "m4a_aac_long": Kind(65, 44100, 2, -8, ("-c:a", "aac", "-b:a", "128k"), ".m4a"),
    "mp3_320_stereo_long": Kind(75, 44100, 2, -3, ("-c:a", "libmp3lame", "-b:a", "320k"), ".mp3"),
    "mp2": Kind(40, 48000, 2, -8, ("-c:a", "mp2", "-b:a", "192k"), ".mp2"),
    "video_mp4": Kind(35, 44100, 2, -8, ("-c:a", "aac", "-c:v", "mpeg4"), ".mp4", video=True),
}
LOSSLESS = {"wav_s16_long", "wav_s24_quiet", "wav_s32_mono_96k", "wav_f32_hot", "flac_long"}


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Make an input of a kind on first use (each is a few MB; not all tests need all)."""
    folder = tmp_path_factory.mktemp("fix-inputs")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            k = KINDS[name]
            video = f"testsrc=s=160x120:r=10:d={k.seconds}"
            extra = ["-f", "lavfi", "-i", video, "-map", "0:a", "-map", "1:v"] if k.video else None
            made[name] = music(
                folder / f"{name}{k.suffix}",
                k.seconds,
                rate=k.rate,
                channels=k.channels,
                gain_db=k.gain_db,
                codec=list(k.codec),
                extra=extra,
            )
        return made[name]

    return get


@dataclass(frozen=True)
class Fixed:
    kind: Kind
    source: Path
    output: Path
    result: Result
    report: dict[str, object]


@pytest.fixture(scope="session")
def fixed(
    inputs: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Fixed]:
    """``holdmusic fix --json`` run once per kind, as a user would (a subprocess)."""
    folder = tmp_path_factory.mktemp("fix-outputs")
    done: dict[str, Fixed] = {}

    def get(name: str) -> Fixed:
        if name not in done:
            src = inputs(name)
            out = folder / f"{name}.mp3"
            p = subprocess.run(
                [sys.executable, "-m", "holdmusic", "fix", str(src), "-o", str(out), "--json"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            r = Result(p.returncode, p.stdout, p.stderr)
            assert r.exit_code == 0, r.output
            done[name] = Fixed(KINDS[name], src, out, r, json.loads(r.stdout))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(KINDS))
def test_every_input_kind_comes_out_passing_mono_at_target(
    name: str, fixed: Callable[[str], Fixed]
) -> None:
    f = fixed(name)
    before = f.source.read_bytes()
    # holdmusic's own validator, with its ears: passes, none of the telephony warnings, and
    # nothing that fix could have mended.
    v = hear(rules.check_path(f.output), str(f.output))
    assert v.ok, v.problems
    assert not {p.code for p in v.warnings} & (BANNED_WARNINGS | FIXABLE), v.problems
    assert v.info is not None
    assert v.info.format.channels == 1
    assert v.info.format.sample_rate == 22050
    assert v.info.format.bitrate_mode == "CBR" and v.info.format.bitrate_kbps == 64
    # The independent witness: the ffmpeg program's meter on the encoded file.
    m = ebur128(f.output)
    assert -20.0 <= m.integrated_lufs <= -18.0, m
    assert m.true_peak_dbtp <= -1.0, m
    # The report agrees with the witness (the same BS.1770 maths, measured by us).
    changes = f.report["changes"]
    assert isinstance(changes, dict)
    assert abs(changes["loudness_lufs"]["to"] - m.integrated_lufs) <= 0.5
    assert changes["true_peak_dbtp"] <= -1.0
    assert f.report["validate"] == v.to_dict()  # the listen measurements included
    assert f.report["input"] == str(f.source) and f.report["output"] == str(f.output)
    assert f.source.read_bytes() == before  # the input is never modified


@pytest.mark.parametrize("name", [n for n, k in KINDS.items() if k.too_long])
def test_too_long_input_is_cut_to_59_5_s_with_a_faded_end(
    name: str, fixed: Callable[[str], Fixed]
) -> None:
    f = fixed(name)
    v = rules.check_path(f.output)
    assert v.duration_seconds == 59.5  # exactly 1,311,975 samples at 22.05 kHz
    assert v.info is not None and v.info.samples == 1_311_975
    changes = f.report["changes"]
    assert isinstance(changes, dict)
    assert changes["trimmed"] is True and changes["fade_out_seconds"] == 2.0
    assert changes["duration_seconds"]["to"] == 59.5
    assert abs(changes["duration_seconds"]["from"] - f.kind.seconds) < 0.1
    # The fade, measured: full level before it, far down in its last half second.
    body = mean_volume_db(f.output, 50.0, 5.0)
    mid_fade = mean_volume_db(f.output, 58.5, 0.5)  # the linear fade is at 0.5-0.25 here
    tail = mean_volume_db(f.output, 59.0, 0.5)
    assert mid_fade < body - 6, (body, mid_fade, tail)
    assert tail < body - 15, (body, mid_fade, tail)


@pytest.mark.parametrize("name", [n for n, k in KINDS.items() if not k.too_long])
def test_input_under_the_limit_keeps_its_length(name: str, fixed: Callable[[str], Fixed]) -> None:
    f = fixed(name)
    v = rules.check_path(f.output)
    assert v.info is not None
    changes = f.report["changes"]
    assert isinstance(changes, dict)
    assert changes["trimmed"] is False and changes["fade_out_seconds"] == 0
    if name in LOSSLESS:
        # To the sample: the input's samples at the new rate.
        assert v.info.samples == round(decoded_samples(f.source) * 22050 / f.kind.rate)
    else:
        # Lossy decoders may disagree on priming by a few ms; the length still stands.
        assert abs(v.duration_seconds - f.kind.seconds) < 0.03  # type: ignore[operator]
    # No fade where nothing was cut: the last second is as loud as the rest.
    assert mean_volume_db(f.output, v.info.duration_seconds - 1.0, 1.0) > (
        mean_volume_db(f.output, 5.0, 10.0) - 3
    )


def test_odd_sample_count_is_kept_to_the_sample(tmp_path: Path, cli: Cli) -> None:
    src = tmp_path / "odd.wav"
    # 1,764,003 samples at 44.1 kHz: 882,001.5 at 22.05 kHz, not a round number.
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=44100", "-af", "atrim=end_sample=1764003",
           "-c:a", "pcm_s16le", str(src))  # fmt: skip
    assert decoded_samples(src) == 1_764_003
    r = cli("fix", str(src), "--json")
    assert r.exit_code == 0, r.output
    v = rules.check_path(tmp_path / "odd.wav.hold.mp3")
    assert v.info is not None and v.info.samples == round(1_764_003 / 2)


def test_text_output_is_the_verdict_and_a_summary(
    inputs: Callable[[str], Path], tmp_path: Path, cli: Cli
) -> None:
    src = inputs("mp3_320_stereo_long")
    out = tmp_path / "hold.mp3"
    r = cli("fix", str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == (
        f"Checking {out}: PASSED (59.500 s, {out.stat().st_size:,} bytes, "
        "MPEG-2 22.05 kHz mono CBR 64 kbit/s)"
    )
    assert lines[1].startswith(
        "  fixed mp3_320_stereo_long.mp3: 75.0 s → 59.5 s (cut at 59.5 s, 2 s fade-out), "
    )
    assert ", stereo → mono, 44.1 kHz → 22.05 kHz, " in lines[1]
    assert " → -19." in lines[1] or " → -18." in lines[1]
    assert lines[1].endswith(" MB")
    # The mix has no pause to cut at: fix says so, and where the quietest moment was.
    assert lines[2].startswith("  warning [cut_without_pause]: no pause in the 10 s before ")
    assert "the quietest moment" in lines[2]
    assert len(lines) == 3


def test_default_output_sits_beside_the_input(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "song.mp3", 31, codec=["-c:a", "libmp3lame", "-b:a", "192k"])
    before = src.read_bytes()
    r = cli("fix", str(src))
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == ["song.mp3", "song.mp3.hold.mp3"]
    assert src.read_bytes() == before


def test_start_cuts_in_with_a_fade_in(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 80, channels=1, codec=["-c:a", "pcm_s16le"],
                left="0.3*sin(2*PI*440*t)")  # fmt: skip
    out = tmp_path / "out.mp3"
    r = cli("fix", str(src), "-o", str(out), "--start", "10.25", "--json")
    assert r.exit_code == 0, r.output
    changes = json.loads(r.stdout)["changes"]
    assert changes["start_seconds"] == 10.25 and changes["fade_in_seconds"] == 0.3
    assert rules.check_path(out).duration_seconds == 59.5
    # A steady tone: the first 50 ms are far quieter than the rest, the fade-in measured.
    assert mean_volume_db(out, 0.0, 0.05) < mean_volume_db(out, 1.0, 1.0) - 12


def test_start_in_silence_gets_no_fade_in(tmp_path: Path, cli: Cli) -> None:
    src = tmp_path / "in.wav"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.3*sin(2*PI*440*t)*gte(t\\,5):s=44100:d=40",
           "-c:a", "pcm_s16le", str(src))  # fmt: skip
    r = cli("fix", str(src), "-o", str(tmp_path / "o.mp3"), "--start", "3", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["changes"]["fade_in_seconds"] == 0


def test_options_change_the_target(inputs: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "o.mp3"
    r = cli("fix", str(inputs("wav_f32_hot")), "-o", str(out), "--loudness", "-23",
            "--sample-rate", "16000", "--bitrate", "48", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    v = rules.check_path(out)
    assert v.info is not None
    assert (v.info.format.sample_rate, v.info.format.bitrate_kbps) == (16000, 48)
    assert abs(ebur128(out).integrated_lufs - -23) <= 1.0


# --- refusals: one line, exit 1, nothing written ----------------------------------------------


def _refused(r: Result, folder: Path, before: list[str], words: str) -> None:
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(os.listdir(folder)) == before  # no output, no temporary file


def test_refuses_an_html_page_saved_as_wav(tmp_path: Path, run_cli: Cli) -> None:
    page = tmp_path / "music.wav"
    page.write_text("<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n")
    r = run_cli("fix", str(page))
    _refused(r, tmp_path, ["music.wav"], "this is an HTML page, not audio")


def test_refuses_random_bytes(tmp_path: Path, run_cli: Cli) -> None:
    junk = tmp_path / "x.wav"
    junk.write_bytes(bytes(range(256)) * 64)
    r = run_cli("fix", str(junk))
    _refused(r, tmp_path, ["x.wav"], "x.wav: ")


def test_refuses_a_file_with_no_audio_stream(tmp_path: Path, run_cli: Cli) -> None:
    video = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=3", "-c:v", "mpeg4", str(video))
    r = run_cli("fix", str(video))
    _refused(r, tmp_path, ["silent-film.mp4"], "no audio stream (it has video only)")


def test_refuses_to_replace_an_existing_output(
    inputs: Callable[[str], Path], tmp_path: Path, run_cli: Cli
) -> None:
    out = tmp_path / "taken.mp3"
    out.write_bytes(b"precious")
    r = run_cli("fix", str(inputs("mp2")), "-o", str(out))
    _refused(r, tmp_path, ["taken.mp3"], "already exists; use --force to replace it")
    assert out.read_bytes() == b"precious"
    r = run_cli("fix", str(inputs("mp2")), "-o", str(out), "--force")
    assert r.exit_code == 0, r.output
    assert rules.check_path(out).ok


def test_refuses_output_equal_to_input_even_with_force(tmp_path: Path, run_cli: Cli) -> None:
    src = music(tmp_path / "a.mp3", 31, codec=["-c:a", "libmp3lame"])
    before = src.read_bytes()
    for args in (["-o", str(src)], ["-o", str(src), "--force"]):
        r = run_cli("fix", str(src), *args)
        _refused(r, tmp_path, ["a.mp3"], "the output cannot be the input")
    os.link(src, tmp_path / "b.mp3")  # the same file under another name
    r = run_cli("fix", str(src), "-o", str(tmp_path / "b.mp3"), "--force")
    _refused(r, tmp_path, ["a.mp3", "b.mp3"], "the output cannot be the input")
    assert src.read_bytes() == before


def test_refuses_silence(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "s.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", "20", str(src))
    r = run_cli("fix", str(src))
    _refused(r, tmp_path, ["s.wav"], "the audio is silent")


def test_a_result_that_would_fail_is_not_left_behind(
    inputs: Callable[[str], Path], tmp_path: Path, run_cli: Cli
) -> None:
    # The work is done and judged in a temporary file; a failing verdict removes it.
    r = run_cli("fix", str(inputs("mp2")), "-o", str(tmp_path / "o.mp3"), "--max-bytes", "1000")
    _refused(r, tmp_path, [], "the new MP3 would not pass (too_large: ")


def test_ctrl_c_while_encoding_leaves_nothing(
    inputs: Callable[[str], Path], tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "holdmusic", "fix", str(inputs("mp3_320_stereo_long")),
         "-o", str(out_dir / "o.mp3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Wait for the temporary file (the encoder is writing), then interrupt: an event, not
    # a timer. The poll interval is far below the encoding time of 59.5 s of audio.
    while proc.poll() is None and not any(p.suffix == ".part" for p in out_dir.iterdir()):
        time.sleep(0.002)
    assert proc.poll() is None, "fix finished before the test could interrupt it"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "interrupted\n"
    assert list(out_dir.iterdir()) == []


def test_missing_input(tmp_path: Path, run_cli: Cli) -> None:
    r = run_cli("fix", str(tmp_path / "nope.wav"))
    _refused(r, tmp_path, [], "nope.wav: no such file")


def test_length_must_be_under_the_limit(tmp_path: Path, cli: Cli) -> None:
    r = cli("fix", str(tmp_path / "x.wav"), "--length", "60")
    assert r.exit_code == 2
    assert "60 s is not under --max-seconds 60" in r.stderr


# --- without the extra, and without cost to validate ----------------------------------------


def test_without_the_extra_fix_is_a_usage_error_naming_the_install(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", str(src))
    p = holdmusic_without_pyav("fix", str(src))
    assert p.returncode == 2
    assert p.stderr == (
        "error: holdmusic fix needs the audio extra (PyAV, FFmpeg's libraries): "
        "pip install '.[fix]' in a clone of holdmusic "
        "(a wheel: pip install 'holdmusic-<version>-py3-none-any.whl[fix]')\n"
    )
    assert os.listdir(tmp_path) == ["a.wav"]


def test_validate_never_imports_pyav(tmp_path: Path) -> None:
    src = music(tmp_path / "a.mp3", 31, codec=["-c:a", "libmp3lame"])
    code = (
        "import sys\n"
        "from holdmusic.cli import main\n"
        f"sys.argv = ['holdmusic', 'validate', {str(src)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('av' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.splitlines()[-1] == "False"


def test_publish_and_batch_refusals_of_a_wav_name_fix(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    wav = tmp_path / "music.wav"
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "pcm_s16le", str(wav))
    hint = (
        "this is a WAV (RIFF/WAVE) file with 16-bit PCM audio, not an MP3; "
        "`holdmusic fix` makes an MP3 from it that passes"
    )
    cid = stack.daily.add_config()
    r = cli("publish", str(wav), "--config", cid)
    assert r.exit_code == 1
    assert f"  error [not_mp3]: {hint}" in r.stderr.splitlines()
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"config_id,file\n{cid},music.wav\n")
    r = cli("batch", str(manifest), "--report", str(tmp_path / "r.json"))
    assert r.exit_code == 1
    assert f"  error [not_mp3]: {hint}" in r.stderr.splitlines()  # the verdict, before any PUT
    assert stack.keys() == [] and stack.daily.count("PUT") == 0


# --- issue 19: the material a media team really has -----------------------------------------

ANNOUNCEMENT = "Thank you for calling. Your call is important to us. Please stay on the line."


@pytest.fixture(scope="session")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng reading a hold announcement (about 5 s)."""
    return speech(tmp_path_factory.mktemp("voice") / "welcome.wav", ANNOUNCEMENT)


def _fix_json(cli: Cli, *args: str) -> dict[str, Any]:
    r = cli("fix", *args, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert isinstance(report, dict)
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    return {p["code"] for p in report["validate"]["problems"]} | {
        w["code"] for w in report["warnings"]
    }


def test_the_cut_does_not_fall_inside_a_spoken_sentence(
    tmp_path: Path, cli: Cli, voice: Path
) -> None:
    # A 120 s music bed with the announcement mixed in at 57 s, standing ~7 dB above it:
    # the 59.5 s limit falls inside the sentence.
    bed = music(tmp_path / "bed.wav", 120, codec=["-c:a", "pcm_s16le"], gain_db=-14)
    song = mix_at(bed, voice, 57.0, tmp_path / "song.wav")
    onset = 57.0 + sound_span(voice)[0]
    out = tmp_path / "out.mp3"
    report = _fix_json(cli, str(song), "-o", str(out))
    got = rules.check_path(out).duration_seconds
    assert got is not None
    # It ends before the voice begins (the fade done by then), not 2.5 s into it...
    assert 50.0 <= got <= onset, got
    cut = report["changes"]["cut"]
    assert cut["where"] == "pause" and abs(cut["at_seconds"] - got) < 0.01
    assert "cut_without_pause" not in _codes(report)
    # ... and what it keeps of the bed is whole: the end is faded, the body at full level.
    assert mean_volume_db(out, got - 0.3, 0.3) < mean_volume_db(out, 30.0, 10.0) - 6


def test_without_a_pause_the_warning_says_where_the_best_cut_was(
    inputs: Callable[[str], Path], fixed: Callable[[str], Fixed]
) -> None:
    f = fixed("flac_long")  # the evenly loud mix: no pause anywhere
    warnings = {w["code"]: w["message"] for w in f.report["warnings"]}  # type: ignore[union-attr]
    message = warnings["cut_without_pause"]
    assert "cut at 59.5, with a 2 s fade over the music; the quietest moment was at " in message
    quietest = float(message.split("--end ")[1].split()[0])
    assert 49.5 <= quietest <= 59.5
    changes = f.report["changes"]
    assert isinstance(changes, dict)
    assert changes["cut"] == {"at_seconds": 59.5, "where": "limit"}


def test_an_announcement_is_kept_whole_and_the_cut_comes_after_it(
    tmp_path: Path, cli: Cli, voice: Path
) -> None:
    bed = music(tmp_path / "bed.wav", 75, codec=["-c:a", "pcm_s16le"], gain_db=-8)
    out = tmp_path / "out.mp3"
    report = _fix_json(cli, str(bed), "--announce", str(voice), "--announce-at", "50", "-o",
                       str(out))  # fmt: skip
    (placed,) = report["changes"]["announcements"]
    voice_end = placed["at_seconds"] + placed["seconds"]
    got = rules.check_path(out).duration_seconds
    assert got is not None and voice_end + 0.8 <= got <= 59.5  # the voice and the duck's release
    # An announcement that cannot be kept whole is refused, not cut.
    r = cli("fix", str(bed), "--announce", str(voice), "--announce-at", "56", "-o",
            str(tmp_path / "late.mp3"))  # fmt: skip
    assert r.exit_code == 2
    assert "past the 59.5 s the output may last" in r.stderr
    assert not (tmp_path / "late.mp3").exists()


@pytest.mark.parametrize(
    ("bed_gain", "voice_gain"), [(0.0, -20.0), (-24.0, 0.0)], ids=["loud-bed", "quiet-bed"]
)
def test_announcement_stands_above_the_ducked_bed_whatever_the_levels(
    tmp_path: Path, cli: Cli, bed_gain: float, voice_gain: float
) -> None:
    bed = music(tmp_path / "bed.wav", 45, codec=["-c:a", "pcm_s16le"], gain_db=bed_gain)
    spoken = speech(tmp_path / "voice.wav", ANNOUNCEMENT, gain_db=voice_gain)
    out = tmp_path / "out.mp3"
    report = _fix_json(cli, str(bed), "--announce", str(spoken), "--announce-at", "0:15", "-o",
                       str(out))  # fmt: skip
    (placed,) = report["changes"]["announcements"]
    at, length = placed["at_seconds"], placed["seconds"]
    assert at == 15.0 and abs(length - (sound_span(spoken)[1] - sound_span(spoken)[0])) < 0.1
    voice_region = loudness_of(out, at + 0.2, length - 0.4)
    bed_regions = [loudness_of(out, 4.0, 9.0), loudness_of(out, at + length + 2.0, 9.0)]
    for bed_level in bed_regions:
        # The voice is clearly above the music, not blasting over it.
        assert 2.0 <= voice_region - bed_level <= 8.0, (voice_region, bed_regions)
    m = ebur128(out)
    assert -20.0 <= m.integrated_lufs <= -18.0 and m.true_peak_dbtp <= -1.0, m
    assert not _codes(report) & FIXABLE


def test_announcement_refusals_are_usage_errors(tmp_path: Path, cli: Cli, voice: Path) -> None:
    bed = music(tmp_path / "bed.wav", 31, codec=["-c:a", "pcm_s16le"])
    cases = [
        (["--announce", str(voice)], "1 --announce and 0 --announce-at"),
        (["--announce", str(voice), "--announce-at", "28"], "past the 31.0 s of music"),
        (["--announce", str(voice), "--announce-at", "1", "--loop"], "start it later"),
        (
            [
                "--announce",
                str(voice),
                "--announce-at",
                "5",
                "--announce",
                str(voice),
                "--announce-at",
                "7",
            ],
            "would start while",
        ),
    ]
    for args, words in cases:
        r = cli("fix", str(bed), *args)
        assert r.exit_code == 2, (args, r.output)
        assert words in r.stderr, (args, r.stderr)
    assert sorted(os.listdir(tmp_path)) == ["bed.wav"]


# --- times and options: said what they mean, or refused ---------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90.5", 90.5),
        (".5", 0.5),
        ("1:30", 90.0),
        ("1:30.25", 90.25),
        ("0:01:30", 90.0),
        ("1:02:03.5", 3723.5),
        ("75:00", 4500.0),
    ],
)
def test_times_read_as_seconds_or_clock_times(text: str, seconds: float) -> None:
    from holdmusic.cli.fix import parse_time

    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["1:75", "1:60:00", "-5", "abc", "1:2:3:4", "", "nan", "1e3"])
def test_bad_times_are_usage_errors(text: str, tmp_path: Path, cli: Cli) -> None:
    r = cli("fix", str(tmp_path / "x.wav"), "--start", text)
    assert r.exit_code == 2
    assert "is not a time" in r.stderr


def test_end_and_clock_times_cut_exactly(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 80, channels=1, codec=["-c:a", "pcm_s16le"], rate=44100)
    out = tmp_path / "o.mp3"
    report = _fix_json(cli, str(src), "--start", "0:10.5", "--end", "1:00", "-o", str(out))
    v = rules.check_path(out)
    assert v.info is not None and v.info.samples == round(49.5 * 22050)
    c = report["changes"]
    assert c["cut"] == {"at_seconds": 60.0, "where": "end"}
    assert c["fade_out_seconds"] == 2.0 and c["fade_in_seconds"] == 0.3


def test_length_under_the_limit_is_kept_not_ignored(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 45, codec=["-c:a", "pcm_s16le"])
    out = tmp_path / "o.mp3"
    report = _fix_json(cli, str(src), "--length", "30", "-o", str(out))
    assert rules.check_path(out).duration_seconds == 30.0
    assert report["changes"]["trimmed"] is True


def test_fade_in_at_the_start_applies_when_asked(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 40, codec=["-c:a", "pcm_s16le"])
    out = tmp_path / "o.mp3"
    report = _fix_json(cli, str(src), "--fade-in", "1", "-o", str(out))
    assert report["changes"]["fade_in_seconds"] == 1.0
    assert mean_volume_db(out, 0.0, 0.1) < mean_volume_db(out, 5.0, 5.0) - 12


def test_fade_out_asked_on_a_file_that_is_not_cut_applies_at_its_end(
    tmp_path: Path, cli: Cli
) -> None:
    src = music(tmp_path / "in.wav", 40, codec=["-c:a", "pcm_s16le"])
    out = tmp_path / "o.mp3"
    report = _fix_json(cli, str(src), "--fade-out", "3", "-o", str(out))
    assert report["changes"]["fade_out_seconds"] == 3.0 and report["changes"]["cut"] is None
    assert mean_volume_db(out, 39.5, 0.5) < mean_volume_db(out, 5.0, 5.0) - 12


def test_fade_out_zero_reads_cleanly(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 40, codec=["-c:a", "pcm_s16le"])
    r = cli("fix", str(src), "--fade-out", "0", "-o", str(tmp_path / "o.mp3"))
    assert r.exit_code == 0, r.output
    assert "()" not in r.stdout and "0 s fade" not in r.stdout
    assert "  fixed in.wav: 40.000 s kept, " in r.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fade-out", "100"], "the fades (100 s) are longer than the output can be (60 s)"),
        (["--fade-out", "40"], "--fade-out 40 s would fade more than half of the output"),
        (["--end", "10", "--start", "20"], "--end 10 s is not after --start 20 s"),
        (["--end", "30", "--length", "20"], "give --end or --length, not both"),
        (["--end", "1:10"], "--end minus --start: 70 s is not under --max-seconds 60"),
        (["--crossfade", "3"], "add --loop"),
        (["--loop", "--fade-out", "1"], "--loop has no fade-out"),
        (["--loop", "--crossfade", "20"], "at most a quarter of the output"),
        (["-o", "x.wav"], "fix writes an MP3; give the output a .mp3 name"),
    ],
)
def test_options_that_cannot_mean_anything_are_usage_errors(
    args: list[str], words: str, tmp_path: Path, cli: Cli
) -> None:
    src = tmp_path / "in.wav"
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", str(src))
    r = cli("fix", str(src), *args)
    assert r.exit_code == 2, r.output
    assert words in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.wav"]


def test_end_past_the_audio_is_refused(tmp_path: Path, run_cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 31, codec=["-c:a", "pcm_s16le"])
    r = run_cli("fix", str(src), "--end", "40")
    _refused(r, tmp_path, ["in.wav"], "--end 40 s is past the end of the audio (31.000 s)")


# --- silence: trimmed, reported, and the output passes its own ears ---------------------------


def test_silence_at_both_ends_is_trimmed_and_reported(tmp_path: Path, cli: Cli) -> None:
    body = music(tmp_path / "body.wav", 40, codec=["-c:a", "pcm_s16le"])
    src = padded(body, tmp_path / "in.wav", lead=3.0, tail=4.0)
    out = tmp_path / "o.mp3"
    report = _fix_json(cli, str(src), "-o", str(out))
    trimmed = report["changes"]["silence_trimmed_seconds"]
    assert 2.85 <= trimmed["start"] <= 3.0 and 3.65 <= trimmed["end"] <= 4.0, trimmed
    v = hear(rules.check_path(out), str(out))
    assert v.duration_seconds is not None and 40.0 <= v.duration_seconds <= 40.5
    assert not {p.code for p in v.problems} & {"leading_silence", "trailing_silence"}
    assert report["validate"] == v.to_dict()
    # --keep-silence keeps it, and the listen checks say what that costs.
    r = cli("fix", str(src), "--keep-silence", "-o", str(tmp_path / "k.mp3"), "--json")
    assert r.exit_code == 0, r.output
    codes = {p["code"] for p in json.loads(r.stdout)["validate"]["problems"]}
    assert {"leading_silence", "trailing_silence"} <= codes


def test_bass_heavy_music_is_shaped_into_the_phone_band(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "bassy.wav", 35, codec=["-c:a", "pcm_f32le"], gain_db=-10,
                af="bass=g=12:f=150")  # fmt: skip
    report = _fix_json(cli, str(src), "-o", str(tmp_path / "o.mp3"))
    shaping = report["changes"]["phone_shaping"]
    assert shaping["highpass_hz"] == 80 and -12.0 <= shaping["low_shelf_db"] < -3.0
    assert report["validate"]["listen"]["phone_band_share"] >= 0.55
    assert not _codes(report) & FIXABLE
    # Opting out leaves the balance alone, and the listen check says so.
    flat = _fix_json(cli, str(src), "--no-phone-shaping", "-o", str(tmp_path / "f.mp3"))
    assert flat["changes"]["phone_shaping"] is None
    assert "outside_phone_band" in _codes(flat)


# --- the source is trusted no more than the validator -----------------------------------------


def test_a_clipped_master_is_named(tmp_path: Path, cli: Cli) -> None:
    clipped = music(tmp_path / "hot.wav", 31, codec=["-c:a", "pcm_s16le"], gain_db=8)
    report = _fix_json(cli, str(clipped), "-o", str(tmp_path / "a.mp3"))
    (w,) = [w for w in report["warnings"] if "clip" in w["code"]]
    assert w["code"] == "source_clipped" and w["message"].startswith(
        "the source peaks at +0.0 dBFS"
    )
    clean = music(tmp_path / "clean.wav", 31, codec=["-c:a", "pcm_s16le"], gain_db=-3)
    assert not _codes(_fix_json(cli, str(clean), "-o", str(tmp_path / "b.mp3"))) & {
        "source_clipped"
    }
    # Floating point carries peaks over full scale intact: nothing was clipped.
    hot_float = music(tmp_path / "float.wav", 31, codec=["-c:a", "pcm_f32le"], gain_db=8)
    assert "source_clipped" not in _codes(_fix_json(cli, str(hot_float), "-o",
                                                     str(tmp_path / "c.mp3")))  # fmt: skip


def test_a_large_gain_says_it_lifts_the_noise_floor(tmp_path: Path, cli: Cli) -> None:
    quiet = music(tmp_path / "quiet.wav", 31, codec=["-c:a", "pcm_s24le"], gain_db=-30)
    report = _fix_json(cli, str(quiet), "-o", str(tmp_path / "a.mp3"))
    (w,) = [w for w in report["warnings"] if w["code"] == "large_gain"]
    assert "noise floor" in w["message"] and report["changes"]["gain_db"] > 15


# --- loops: Daily plays the file twice ---------------------------------------------------------


def _seam(samples: list[float], rate: int) -> tuple[list[float], float, float]:
    """The file played twice: 100 ms levels from 1 s before the seam to 2.5 s after, the
    largest sample step at the seam, and the largest step elsewhere in that stretch."""
    n = len(samples)
    twice = samples + samples
    w = rate // 10
    levels = [rms_db(twice[n + k * w : n + (k + 1) * w]) for k in range(-10, 25)]
    at_seam = max(abs(twice[i + 1] - twice[i]) for i in range(n - 3, n + 3))
    around = max(abs(twice[i + 1] - twice[i]) for i in range(n - rate, n + rate)
                 if not n - 3 <= i < n + 3)  # fmt: skip
    return levels, at_seam, around


def test_a_loop_has_no_dip_and_no_click_where_it_meets_itself(
    inputs: Callable[[str], Path], tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "loop.mp3"
    report = _fix_json(cli, str(inputs("wav_s16_long")), "--loop", "-o", str(out))
    assert report["changes"]["loop"] == {"crossfade_seconds": 2.0}
    assert rules.check_path(out).duration_seconds == 59.5
    samples = mono_samples(out)
    body = sorted(rms_db(samples[i : i + 2205]) for i in range(22050 * 10, 22050 * 40, 2205))
    median = body[len(body) // 2]
    levels, at_seam, around = _seam(samples, 22050)
    assert min(levels) >= median - 3.0, (median, levels)
    assert at_seam <= around, (at_seam, around)
    # The measure is not blind: the same music cut with a fade dips by far more.
    plain = tmp_path / "plain.mp3"
    _fix_json(cli, str(inputs("wav_s16_long")), "-o", str(plain))
    dips, _, _ = _seam(mono_samples(plain), 22050)
    assert min(dips) < median - 20


def test_preview_twice_renders_the_file_played_twice(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "in.wav", 31, codec=["-c:a", "pcm_s16le"])
    looped = tmp_path / "loop.mp3"
    _fix_json(cli, str(src), "--loop", "-o", str(looped))
    once = tmp_path / "once.wav"
    twice = tmp_path / "twice.wav"
    assert cli("preview", str(looped), "-o", str(once)).exit_code == 0
    r = cli("preview", str(looped), "--twice", "-o", str(twice))
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip().endswith("what a caller on a narrowband line hears, "
                                      "played twice as Daily does")  # fmt: skip
    one, two = mono_samples(once), mono_samples(twice)
    assert abs(len(two) - 2 * len(one)) <= 2
    # Through the phone path too, the seam in the middle holds its level.
    n = len(two) // 2
    body = rms_db(two[8000 * 5 : 8000 * 25])
    assert min(rms_db(two[i : i + 800]) for i in range(n - 8000, n + 16000, 800)) >= body - 4


# --- several inputs -----------------------------------------------------------------------------


def test_several_inputs_into_a_folder_keep_their_extensions_apart(tmp_path: Path, cli: Cli) -> None:
    wav = music(tmp_path / "song.wav", 31, codec=["-c:a", "pcm_s16le"])
    flac = tmp_path / "song.flac"
    ffmpeg("-i", str(wav), "-c:a", "flac", str(flac))
    out = tmp_path / "out"
    out.mkdir()
    r = cli("fix", str(wav), str(flac), "-o", f"{out}/")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(out)) == ["song.flac.hold.mp3", "song.wav.hold.mp3"]
    assert r.stdout.splitlines()[-1] == "2 files: 2 fixed, 0 failed"
    for name in os.listdir(out):
        assert rules.check_path(out / name).ok
    # JSON: one object per input, in order; a failure is reported and the rest still done.
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\0" * 1000)
    r = cli("fix", str(wav), str(junk), "-o", str(out), "--force", "--json")
    assert r.exit_code == 1
    reports = json.loads(r.stdout)
    assert [x["input"] for x in reports] == [str(wav), str(junk)]
    assert reports[0]["validate"]["ok"] is True and "error" in reports[1]
    # Beside each input, by default.
    r = cli("fix", str(wav), str(flac))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "song.wav.hold.mp3").exists() and (tmp_path / "song.flac.hold.mp3").exists()


def test_several_inputs_refusals(tmp_path: Path, cli: Cli) -> None:
    a = tmp_path / "a.wav"
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", str(a))
    for args, words in [
        (
            [str(a), str(a), "-o", str(tmp_path / "x.mp3")],
            "with several inputs, the output names a folder",
        ),
        ([str(a), "-o", f"{tmp_path}/missing/"], "no such folder (create it first)"),
        ([str(a), str(a)], "would both be written to"),
    ]:
        r = cli("fix", *args)
        assert r.exit_code == 2, r.output
        assert words in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.wav"]


# --- long inputs: memory follows the output, not the input ------------------------------------

# The peak resident memory of this process image: VmHWM (ru_maxrss would not do: Linux
# carries the forking parent's high-water mark across exec, and pytest's is large).
_PEAK_MEMORY = (
    "import runpy, sys\n"
    "sys.argv = ['holdmusic', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('holdmusic', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "with open('/proc/self/status') as fh:\n"
    "    kb = next(int(line.split()[1]) for line in fh if line.startswith('VmHWM:'))\n"
    "print(kb // 1024, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _fix_measured(*args: str) -> tuple[Result, int]:
    """``holdmusic fix ARGS`` in a subprocess; its result and peak memory in MB."""
    p = subprocess.run([sys.executable, "-c", _PEAK_MEMORY, "fix", *args],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    *err, mb = p.stderr.splitlines()
    return Result(p.returncode, p.stdout, "\n".join(err) + ("\n" if err else "")), int(mb)


@pytest.fixture(scope="session", params=[True, False], ids=["seekable", "unseekable"])
def ten_hours(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-hour FLAC export, silent but for a tone in its last 30 s (tens of KB); one
    FFmpeg can seek in, and one where it must decode from the top."""
    folder = tmp_path_factory.mktemp("long")
    return long_silent_flac(folder / "ten-hours.flac", 10, 30, seekable=request.param)


def test_a_start_past_the_end_of_a_long_file_is_found_without_holding_it(
    ten_hours: Path, tmp_path: Path
) -> None:
    r, mb = _fix_measured(str(ten_hours), "--start", "40000", "-o", str(tmp_path / "o.mp3"))
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: {ten_hours}: --start 40000 s is past the end of the audio (36000.000 s)\n"
    )
    # Holding 10 hours (the old way) would take gigabytes: 36 M samples resampled to
    # 22.05 kHz as floats; what comes before --start is now never kept.
    assert mb < 300, mb


def test_a_start_near_the_end_of_a_long_file_finds_it(ten_hours: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp3"
    r, mb = _fix_measured(str(ten_hours), "--start", "9:59:20", "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    changes = json.loads(r.stdout)["changes"]
    assert 9.8 <= changes["silence_trimmed_seconds"]["start"] <= 10.0
    v = rules.check_path(out)
    assert v.duration_seconds is not None and 30.0 <= v.duration_seconds <= 30.2
    assert mb < 300, mb


def test_a_long_silence_is_not_kept_while_looking_for_sound(
    ten_hours: Path, tmp_path: Path
) -> None:
    r, mb = _fix_measured(str(ten_hours), "-o", str(tmp_path / "o.mp3"))
    assert r.exit_code == 1
    assert (
        "nothing above -80 dBFS in the 300 s after the start; if the music begins later, "
        "say where with --start"
    ) in r.stderr
    assert mb < 300, mb


# --- the cut's decisions, on contours written by hand -------------------------------------------


def _contour(levels: list[float]) -> Any:
    from holdmusic.studio.cutting import Contour

    return Contour(hop=100, momentary=tuple(levels), integrated=-20.0)


def test_place_cut_prefers_the_latest_pause_and_fits_the_fade_inside_it() -> None:
    from holdmusic.studio.cutting import place_cut

    # 1 kHz "rate", 100-sample hops: value k is the 400 ms ending at (k + 1) * 100.
    levels = [-20.0] * 700
    levels[500:520] = [-32.0] * 20  # a 2 s pause from 50 s (the bed alone between voices)
    levels[530:533] = [-30.0] * 3  # a short one, later: three values, the minimum
    cut = place_cut(_contour(levels), 1000, limit=59_500, lowest=0, fade=2000, loop=False,
                    available=70_000)  # fmt: skip
    assert cut.at_pause and cut.end == 53_200 - 50  # the later pause, before the sound returns
    assert cut.fade_start == 53_100 - 300  # the fade squeezed into the short pause
    # Without the short pause, the long one, with the whole 2 s fade inside it.
    levels[530:533] = [-20.0] * 3
    cut = place_cut(_contour(levels), 1000, limit=59_500, lowest=0, fade=2000, loop=False,
                    available=70_000)  # fmt: skip
    assert cut.end == 51_900 - 50 and cut.fade_start == cut.end - 2000
    # A pause wholly before the search (the 10 s before the limit) is not used.
    cut = place_cut(_contour(levels), 1000, limit=65_000, lowest=0, fade=2000, loop=False,
                    available=70_000)  # fmt: skip
    assert not cut.at_pause and cut.end == 65_000


def test_place_cut_without_a_pause_stays_at_the_limit_unless_the_music_there_stands_out() -> None:
    from holdmusic.studio.cutting import place_cut

    even = [-20.0 + (1.0 if k % 7 == 0 else 0.0) for k in range(700)]
    cut = place_cut(_contour(even), 1000, limit=59_500, lowest=0, fade=2000, loop=False,
                    available=70_000)  # fmt: skip
    assert not cut.at_pause and cut.end == 59_500 and cut.quietest is not None
    # A voice from 57 s stands 4 dB out of the music: the cut moves back before it.
    voiced = [*even[:570], *([-16.0] * 130)]
    cut = place_cut(_contour(voiced), 1000, limit=59_500, lowest=0, fade=2000, loop=False,
                    available=70_000)  # fmt: skip
    # (the voice's first window ends at 57.1 s: its sound starts after 56.7 s at the earliest)
    assert not cut.at_pause and cut.end <= 56_700 and cut.fade_start == cut.end - 2000, cut


def test_place_cut_for_a_loop_puts_the_outgoing_crossfade_in_the_pause() -> None:
    from holdmusic.studio.cutting import place_cut

    levels = [-20.0] * 700
    levels[500:540] = [-40.0] * 40  # 4 s of near-silence from 50 s
    cut = place_cut(_contour(levels), 1000, limit=59_500, lowest=0, fade=2000, loop=True,
                    available=70_000)  # fmt: skip
    assert cut.at_pause and cut.end == cut.fade_start
    assert cut.end >= 50_000 and cut.end + 2000 <= 53_950  # the crossfade's outgoing part too


def test_sound_span_keeps_a_breath_either_side() -> None:
    from holdmusic.studio.cutting import end_before_silence, sound_span

    spans: list[tuple[int, int | None]] = [(0, 3000), (10_000, 10_500), (40_000, None)]
    assert sound_span(spans, 44_000, 1000) == (2900, 40_300)
    assert sound_span([(0, None)], 44_000, 1000) is None
    assert end_before_silence(spans, 42_000, 1000) == 40_300
    assert end_before_silence(spans, 20_000, 1000) == 20_000
