"""``validate --listen`` and ``preview``: each listening warning fires on its signal and on no
other; the measurements agree with the ffmpeg program's meters; the preview is G.711 at
8 kHz with the phone band's edges.

Signals are built with the system's ffmpeg (tests/soundfactory.py) and set to their
loudness with the ffmpeg program's own ebur128 meter, so the levels do not come from the
code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, Stack
from tests.soundfactory import (
    _LEFT,
    _RIGHT,
    ebur128,
    ffmpeg,
    holdmusic_without_pyav,
    mean_volume_db,
    music,
)

pytest.importorskip("av")

Cli = Callable[..., Result]

LISTEN_CODES = {
    "too_quiet",
    "too_loud",
    "clipping",
    "outside_phone_band",
    "trailing_silence",
    "silence_gap",
    "listen_failed",
    "listen_skipped",
}
MP3 = ["-c:a", "libmp3lame", "-b:a", "128k"]

# The suite's mix with a lighter bass and kick: a mid-range-led arrangement, as most hold
# music is (the default mix sits right at the phone-band threshold).
MID_LEFT = _LEFT.replace("0.20*sin(2*PI*110", "0.08*sin(2*PI*110").replace("0.30*", "0.12*")
MID_RIGHT = _RIGHT.replace("0.20*sin(2*PI*110", "0.08*sin(2*PI*110").replace("0.30*", "0.12*")
BASS = "0.07*sin(2*PI*55*t)+0.07*sin(2*PI*82*t)"


def _at(path: Path, lufs: float, seconds: float = 45, **kw: str) -> Path:
    """The mix (or ``left``/``right``) set to ``lufs`` as the ffmpeg program measures it
    (``af`` filters apply after the gain, and only to the final file)."""
    af = kw.pop("af", None)
    probe = music(path.with_name("probe-" + path.name), 20, codec=MP3, **kw)  # type: ignore[arg-type]
    measured = ebur128(probe).integrated_lufs
    probe.unlink()
    return music(path, seconds, gain_db=lufs - measured, codec=MP3, af=af, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def signals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("listen")
    mid = {"left": MID_LEFT, "right": MID_RIGHT}
    # The mix at -20 LUFS with a short 1 kHz burst every 2 s driven past full scale and
    # hard-clipped: clipping, while the loudness stays ordinary.
    burst = "+2.5*sin(2*PI*1000*t)*lt(mod(t,2),0.03)"
    clipped = {"left": MID_LEFT + burst, "right": MID_RIGHT + burst}
    return {
        "normal": _at(d / "normal.mp3", -19, **mid),
        "quiet": _at(d / "quiet.mp3", -35, **mid),
        "clipped": music(
            d / "clipped.mp3", 45, gain_db=-5, codec=MP3, af="asoftclip=type=hard", **clipped
        ),
        "bass": music(d / "bass.mp3", 45, codec=MP3, left=BASS, right=BASS),
        "trailing": _at(d / "trailing.mp3", -19, 46, af="volume=0:enable='gte(t,40)'", **mid),
        "gap": _at(d / "gap.mp3", -19, af="volume=0:enable='between(t,20,25)'", **mid),
    }


EXPECTED = {
    "normal": set(),
    "quiet": {"too_quiet"},
    "clipped": {"clipping"},
    "bass": {"outside_phone_band"},
    "trailing": {"trailing_silence"},
    "gap": {"silence_gap"},
}


@pytest.fixture(scope="session")
def listened(signals: dict[str, Path]) -> dict[str, dict[str, object]]:
    """``holdmusic validate --listen --json`` over all signals at once, as a user runs it."""
    names = list(signals)
    p = subprocess.run(
        [sys.executable, "-m", "holdmusic", "validate", "--listen", "--json",
         *(str(signals[n]) for n in names)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return dict(zip(names, json.loads(p.stdout), strict=True))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_warning_fires_on_its_signal_and_no_other(
    name: str, listened: dict[str, dict[str, object]]
) -> None:
    v = listened[name]
    problems = v["problems"]
    assert isinstance(problems, list)
    codes = {p["code"] for p in problems} & LISTEN_CODES
    assert codes == EXPECTED[name], problems
    for p in problems:
        if p["code"] in LISTEN_CODES:
            assert p["severity"] == "warning"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_loudness_and_true_peak_agree_with_ffmpeg(
    name: str, signals: dict[str, Path], listened: dict[str, dict[str, object]]
) -> None:
    listen = listened[name]["listen"]
    assert isinstance(listen, dict)
    witness = ebur128(signals[name])
    assert abs(listen["loudness_lufs"] - witness.integrated_lufs) <= 0.5, (listen, witness)
    assert abs(listen["true_peak_dbtp"] - witness.true_peak_dbtp) <= 0.5, (listen, witness)


def test_measurements_of_each_signal(listened: dict[str, dict[str, object]]) -> None:
    m = {n: v["listen"] for n, v in listened.items()}
    assert all(isinstance(x, dict) for x in m.values())
    assert set(m["normal"]) == {  # type: ignore[arg-type]
        "loudness_lufs",
        "true_peak_dbtp",
        "phone_band_share",
        "trailing_silence_seconds",
        "longest_silence_seconds",
    }
    assert m["normal"]["phone_band_share"] > 0.6  # type: ignore[index]
    assert m["bass"]["phone_band_share"] < 0.01  # type: ignore[index]
    assert abs(m["trailing"]["trailing_silence_seconds"] - 6.0) < 0.1  # type: ignore[index]
    assert m["trailing"]["longest_silence_seconds"] == 0  # type: ignore[index]
    assert abs(m["gap"]["longest_silence_seconds"] - 5.0) < 0.1  # type: ignore[index]
    assert m["gap"]["trailing_silence_seconds"] == 0  # type: ignore[index]
    assert m["clipped"]["true_peak_dbtp"] > -0.1  # type: ignore[index]
    assert -26 < m["clipped"]["loudness_lufs"] < -14  # type: ignore[index]


def test_a_loud_master_is_too_loud(tmp_path: Path, cli: Cli) -> None:
    # Loud and dense, but its peaks kept under -1 dBTP: too_loud alone.
    loud = music(tmp_path / "loud.mp3", 40, gain_db=8, codec=MP3,
                 af="alimiter=limit=0.7:level=0")  # fmt: skip
    r = cli("validate", "--listen", "--json", str(loud))
    [v] = json.loads(r.stdout)
    assert ebur128(loud).integrated_lufs > -14
    assert {p["code"] for p in v["problems"]} & LISTEN_CODES == {"too_loud"}


def test_text_output_and_phone_band_share_of_a_pure_tone(tmp_path: Path, cli: Cli) -> None:
    tone = tmp_path / "tone.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=1000:d=35", "-af", "volume=3dB", *MP3, str(tone))
    r = cli("validate", "--listen", str(tone))
    assert r.exit_code == 0, r.output
    assert not any(f"[{c}]" in r.stdout for c in LISTEN_CODES), r.stdout
    r = cli("validate", "--listen", "--json", str(tone))
    assert json.loads(r.stdout)[0]["listen"]["phone_band_share"] > 0.98


def test_listen_messages_say_why_and_what_to_do(signals: dict[str, Path], cli: Cli) -> None:
    r = cli("validate", "--listen", str(signals["quiet"]), str(signals["bass"]))
    assert "warning [too_quiet]: -35.0 LUFS: over a phone line callers will strain" in r.stdout
    assert "`holdmusic fix` normalises it" in r.stdout
    assert "between 300 and 3400 Hz, the band a narrowband phone line carries" in r.stdout


def test_without_listen_nothing_is_decoded(signals: dict[str, Path], cli: Cli) -> None:
    r = cli("validate", "--json", str(signals["quiet"]))
    [v] = json.loads(r.stdout)
    assert "listen" not in v
    assert not {p["code"] for p in v["problems"]} & LISTEN_CODES


def test_a_file_that_is_not_mp3_gets_no_listen_object(tmp_path: Path, cli: Cli) -> None:
    page = tmp_path / "x.mp3"
    page.write_text("<html><body>nope</body></html>")
    r = cli("validate", "--listen", "--json", str(page))
    assert r.exit_code == 1
    [v] = json.loads(r.stdout)
    assert "listen" not in v and [p["code"] for p in v["problems"]] == ["not_mp3"]


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["validate", "--listen"], "validate --listen"),
        (["preview"], "holdmusic preview"),
    ],
)
def test_without_the_extra_it_is_a_usage_error_naming_the_install(
    signals: dict[str, Path], args: list[str], command: str
) -> None:
    p = holdmusic_without_pyav(*args, str(signals["normal"]))
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr == (
        f"error: {command} needs the audio extra (PyAV, FFmpeg's libraries): "
        "pip install '.[fix]' in a clone of holdmusic "
        "(a wheel: pip install 'holdmusic-<version>-py3-none-any.whl[fix]')\n"
    )


# --- URLs and configs check --------------------------------------------------------------------


def _upload(cli: Cli, path: Path) -> str:
    r = cli("upload", str(path))
    assert r.exit_code == 0, r.output
    return r.stdout.strip().splitlines()[-1]


def test_listen_works_for_urls_and_configs_check(
    stack: Stack, cli: Cli, signals: dict[str, Path]
) -> None:
    quiet_url = _upload(cli, signals["quiet"])
    normal_url = _upload(cli, signals["normal"])
    r = cli("validate", "--listen", "--json", quiet_url)
    [v] = json.loads(r.stdout)
    assert v["path"] == quiet_url
    assert {p["code"] for p in v["problems"]} & LISTEN_CODES == {"too_quiet"}
    assert abs(v["listen"]["loudness_lufs"] - -35) <= 0.5

    quiet = stack.daily.add_config(hold_music_url=quiet_url)
    normal = stack.daily.add_config(hold_music_url=normal_url)
    r = cli("configs", "check", "--listen", "--json")
    assert r.exit_code == 0, r.output  # warnings only
    by_id = {x["config_id"]: x for x in json.loads(r.stdout)}
    assert {p["code"] for p in by_id[quiet]["problems"]} & LISTEN_CODES == {"too_quiet"}
    assert {p["code"] for p in by_id[normal]["problems"]} & LISTEN_CODES == set()
    assert abs(by_id[normal]["listen"]["loudness_lufs"] - -19) <= 0.5
    r = cli("configs", "check", "--listen", "--strict")
    assert r.exit_code == 1
    assert "warning [too_quiet]" in r.stdout


# --- preview -----------------------------------------------------------------------------------


def _probe(path: Path) -> dict[str, str]:
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_name,sample_rate,channels,duration", "-of", "default=nw=1", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in p.stdout.splitlines())


def test_preview_is_mulaw_8k_mono_with_the_phone_band(tmp_path: Path, run_cli: Cli) -> None:
    two = tmp_path / "two-tone.wav"
    ffmpeg("-f", "lavfi", "-i",
           "aevalsrc=0.3*sin(2*PI*100*t)+0.3*sin(2*PI*1000*t):s=44100:c=stereo:d=12.5",
           "-c:a", "pcm_s16le", str(two))  # fmt: skip
    before = two.read_bytes()
    out = tmp_path / "caller.wav"
    r = run_cli("preview", str(two), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Wrote {out}: 12.500 s, 8 kHz mono G.711 μ-law WAV")
    info = _probe(out)
    assert (info["codec_name"], info["sample_rate"], info["channels"]) == ("pcm_mulaw", "8000", "1")
    assert abs(float(info["duration"]) - 12.5) <= 0.1
    # The band, measured by the ffmpeg program: each tone picked out with a narrow band-pass.
    low = _tone_level(out, 100)
    mid = _tone_level(out, 1000)
    assert mid - low >= 20, (low, mid)
    assert two.read_bytes() == before


def _tone_level(path: Path, hz: int) -> float:
    err = ffmpeg("-i", str(path), "-af", f"bandpass=f={hz}:width_type=q:width=20,volumedetect",
                 "-f", "null", "-")  # fmt: skip
    line = next(x for x in err.splitlines() if "mean_volume:" in x)
    return float(line.split("mean_volume:")[1].split()[0])


def test_preview_alaw_and_the_safety_rules(
    signals: dict[str, Path], tmp_path: Path, run_cli: Cli
) -> None:
    src = signals["normal"]
    out = tmp_path / "a.wav"
    out.write_bytes(b"keep me")
    r = run_cli("preview", str(src), "-o", str(out), "--alaw")
    assert r.exit_code == 1 and "already exists; use --force" in r.stderr
    assert out.read_bytes() == b"keep me"
    r = run_cli("preview", str(src), "-o", str(out), "--alaw", "--force")
    assert r.exit_code == 0, r.output
    info = _probe(out)
    assert info["codec_name"] == "pcm_alaw" and abs(float(info["duration"]) - 45) <= 0.1
    assert mean_volume_db(out, 5, 10) > -40  # it carries the music, not silence
    r = run_cli("preview", str(src), "-o", str(src), "--force")
    assert r.exit_code == 1 and "the output cannot be the input" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_listen_over_every_mp3_fixture_never_crashes(mp3s: dict[str, object], cli: Cli) -> None:
    # Odd but valid MP3s (appended streams, junk, CRC frames, free format, truncated ends...):
    # --listen adds measurements or a listen_failed warning, and never a crash; a file
    # already too long is not listened to (listen_skipped).
    paths = [str(m.path) for m in mp3s.values()]  # type: ignore[attr-defined]
    r = cli("validate", "--listen", "--json", *paths)
    assert r.exit_code in (0, 1), r.output
    assert "unexpected" not in r.stderr, r.stderr
    verdicts = json.loads(r.stdout)
    assert len(verdicts) == len(paths)
    for v in verdicts:
        if v["format"] is not None:  # walked as an MP3: listened to, or said why not
            codes = {p["code"] for p in v["problems"]}
            assert "listen" in v or codes & {"listen_failed", "listen_skipped"}, v
            assert ("listen_skipped" in codes) == ("too_long" in codes), v


def test_a_format_change_mid_stream_is_a_listen_failed_warning(tmp_path: Path, cli: Cli) -> None:
    a, b = tmp_path / "a.mp3", tmp_path / "b.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=5", "-ac", "2", *MP3, str(a))
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=5", "-ac", "1", *MP3, str(b))
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    r = cli("validate", "--listen", str(joined))
    assert r.exit_code == 0, r.output
    assert "warning [listen_failed]: could not decode the audio to listen to it (" in r.stdout
    assert "the audio format changes mid-stream (44100 Hz stereo → 44100 Hz mono)" in r.stdout
