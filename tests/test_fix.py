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

import pytest

from holdmusic import rules
from tests.conftest import Result, Stack
from tests.soundfactory import (
    decoded_samples,
    ebur128,
    ffmpeg,
    holdmusic_without_pyav,
    mean_volume_db,
    music,
)

pytest.importorskip("av")

Cli = Callable[..., Result]

BANNED_WARNINGS = {"stereo", "high_bitrate", "low_sample_rate"}


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
    # holdmusic's own validator: passes, none of the telephony warnings, mono.
    v = rules.check_path(f.output)
    assert v.ok, v.problems
    assert not {p.code for p in v.warnings} & BANNED_WARNINGS
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
    assert f.report["validate"] == v.to_dict()
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
    v = rules.check_path(tmp_path / "odd.hold.mp3")
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
    assert lines[1].startswith("  fixed mp3_320_stereo_long.mp3: 75.0 s → 59.5 s (2 s fade-out), ")
    assert ", stereo → mono, 44.1 kHz → 22.05 kHz, " in lines[1]
    assert " → -19." in lines[1] or " → -18." in lines[1]
    assert lines[1].endswith(" MB")
    assert len(lines) == 2


def test_default_output_sits_beside_the_input(tmp_path: Path, cli: Cli) -> None:
    src = music(tmp_path / "song.mp3", 31, codec=["-c:a", "libmp3lame", "-b:a", "192k"])
    before = src.read_bytes()
    r = cli("fix", str(src))
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == ["song.hold.mp3", "song.mp3"]
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
