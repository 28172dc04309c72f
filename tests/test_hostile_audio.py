"""Hostile and damaged inputs to ``fix``, ``preview`` and ``validate --listen`` (issues 19, 20).

Every input is made here, small or sparse: WAV headers written by hand over a few real
bytes, a 5 GB sparse file (``truncate``), MP3s built by repeating a few seconds of frames,
FLAC/Opus/WavPack/M4A files from the system's ffmpeg that the test then damages itself.
Each test fails on the code before the fix (crash, unbounded memory or time, a file left
behind, a wrong number) and checks what a user sees after it.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Result
from tests.soundfactory import ebur128, ffmpeg, music

pytest.importorskip("av")

Cli = Callable[..., Result]


def _wav(path: Path, data: bytes, *, rate: int = 8000, channels: int = 1, bits: int = 16,
         declared: int | None = None) -> Path:  # fmt: skip
    """A PCM WAV written by hand, so the header can say anything."""
    align = channels * bits // 8
    size = len(data) if declared is None else declared
    header = b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits
    )
    header += b"data" + struct.pack("<I", size & 0xFFFFFFFF)
    path.write_bytes(header + data)
    return path


def _tone_s16(seconds: float, rate: int, channels: int) -> bytes:
    """A 440 Hz tone at -12 dBFS (made by ffmpeg) on every one of ``channels``, interleaved
    (ffmpeg itself cannot write a count it has no layout for)."""
    p = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         f"sine=f=440:r={rate}:d={seconds}", "-af", "volume=-3dB", "-f", "s16le", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    mono = array.array("h", p.stdout)
    return array.array("h", [x for x in mono for _ in range(channels)]).tobytes()


def _one_line_error(r: Result, *needles: str) -> None:
    assert r.exit_code == 1, r.output
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def _peak_rss_mb(args: list[str], timeout: float) -> tuple[int, float, str]:
    """Run ``holdmusic ARGS`` in a fresh child of a fresh Python, so that the peak RSS
    (getrusage of its children) is that command's alone. Returns (exit, MB, stdout)."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'holdmusic', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(p.stdout)\n"
    )
    p = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                       timeout=timeout)  # fmt: skip
    first, _, rest = p.stdout.partition("\n")
    code, kb = first.split()
    return int(code), int(kb) / 1024, rest


# --- 1. validate --listen streams, and stops where the verdict needs no more -------------


def _long_mp3(path: Path, minutes: float, *, rate: int = 44100, kbps: int = 32) -> Path:
    """A long, low-bitrate MP3 built in a moment: 10 s of frames, repeated (no Xing header,
    no tag, so the copies join into one stream the frame walk accepts)."""
    unit = path.with_name("unit-" + path.name)
    ffmpeg("-f", "lavfi", "-i", f"sine=f=440:r={rate}:d=10", "-ac", "1", "-c:a", "libmp3lame",
           "-b:a", f"{kbps}k", "-write_xing", "0", "-id3v2_version", "0", str(unit))  # fmt: skip
    frames = unit.read_bytes()
    unit.unlink()
    path.write_bytes(frames * round(minutes * 6))
    return path


@pytest.fixture(scope="module")
def long_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The case: 41 minutes at 32 kbit/s, 9.8 MB (under Daily's 10 MB: walked).
    return _long_mp3(tmp_path_factory.mktemp("long") / "41min.mp3", 41)


def test_listen_skips_a_file_already_too_long(long_mp3: Path) -> None:
    # Before: decoded all 41 minutes (3.4 GB) to warn about a file that fails anyway.
    code, mb, out = _peak_rss_mb(["validate", "--listen", "--json", str(long_mp3)], timeout=60)
    assert code == 1
    [v] = json.loads(out)
    codes = [p["code"] for p in v["problems"]]
    assert "too_long" in codes and "listen_skipped" in codes
    assert "listen" not in v
    assert mb < 200, f"peak RSS {mb:.0f} MB"


@pytest.mark.slow
def test_listen_memory_stays_flat_over_41_minutes(long_mp3: Path) -> None:
    # With the limit raised, all 41 minutes are measured: frames are read and dropped.
    code, mb, out = _peak_rss_mb(
        ["validate", "--listen", "--json", "--max-seconds", "100000", str(long_mp3)], timeout=600
    )
    [v] = json.loads(out)
    assert code == 0, v
    assert v["listen"]["loudness_lufs"] is not None
    assert mb < 300, f"peak RSS {mb:.0f} MB"


# --- 2. preview is bounded -----------------------------------------------------------------


def test_preview_of_a_1_hz_wav_header_is_refused(tmp_path: Path, run_cli: Cli) -> None:
    # 16 KB of samples "at 1 Hz" is 8000 s: before, preview wrote 64 MB (4 GB from 1 MB).
    src = _wav(tmp_path / "slow.wav", _tone_s16(1, 8000, 1), rate=1)
    r = run_cli("preview", str(src), "-o", str(tmp_path / "out.wav"))
    _one_line_error(r, "1 samples per second, which is not audio")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.wav"]


def test_preview_renders_at_most_60_s(tmp_path: Path, run_cli: Cli) -> None:
    # 20 minutes of silence in a small FLAC: before, a 9.6 MB preview of all of it.
    src = tmp_path / "silence.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1200", "-c:a", "flac", str(src))
    out = tmp_path / "out.wav"
    r = run_cli("preview", str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Wrote {out}: 60.000 s (the first 60 s: Daily plays no more)")
    assert out.stat().st_size < 60 * 8000 + 1000


# --- 3. a sparse 5 GB WAV opens in bounded time, and Ctrl-C is answered at once ----------


@pytest.fixture
def sparse_wav(tmp_path: Path) -> Path:
    src = _wav(tmp_path / "huge.wav", b"", rate=44100, channels=2, declared=0xFFFFFFF0)
    os.truncate(src, 5 * 1024**3)  # sparse: no disk used
    return src


def test_a_sparse_5_gb_wav_opens_in_bounded_time(sparse_wav: Path, tmp_path: Path) -> None:
    # Before: 106-118 s inside FFmpeg's open (the WAV demuxer scanning 1 GB of zeros for
    # trailing chunks). The open is cut short after a few seconds; the audio is silence.
    out = tmp_path / "out.wav"
    p = subprocess.run([sys.executable, "-m", "holdmusic", "preview", str(sparse_wav),
                        "-o", str(out)], capture_output=True, text=True, timeout=40)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "60.000 s" in p.stdout


def _default_signals() -> None:
    """In the child: the signals under test at their defaults, whatever the runner set
    (``nohup`` ignores SIGHUP, ``cmd &`` ignores SIGINT, and children inherit that)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _wait_until_open(proc: subprocess.Popen[str], path: Path) -> None:
    """Wait for the event "the process has ``path`` open" (it is inside FFmpeg's open)."""
    fd_dir = Path(f"/proc/{proc.pid}/fd")
    while proc.poll() is None:
        try:
            if any(os.readlink(fd_dir / fd) == str(path) for fd in os.listdir(fd_dir)):
                return
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.002)
    raise AssertionError(f"exited ({proc.returncode}) before opening {path}")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_open_ends_the_run_at_once(
    sparse_wav: Path, tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "holdmusic", "preview", str(sparse_wav), "-o",
         str(out_dir / "o.wav")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals,
    )  # fmt: skip
    _wait_until_open(proc, sparse_wav)
    proc.send_signal(sig)
    # Before: the signal waited for FFmpeg's open (~2 minutes).
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == status, err
    assert err.startswith("interrupted"), err
    assert list(out_dir.iterdir()) == []


# --- 4. crashes become one line (or work) -----------------------------------------------------


@pytest.mark.parametrize("channels", [9, 64])
def test_channel_counts_without_a_layout_are_folded_down(
    channels: int, tmp_path: Path, run_cli: Cli
) -> None:
    # FFmpeg has no default layout for these: before, "unexpected ArgumentError".
    src = _wav(tmp_path / "many.wav", _tone_s16(1, 8000, channels), channels=channels)
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"), "--json")
    assert r.exit_code == 0, r.output
    changes = json.loads(r.stdout)["changes"]
    assert changes["channels"] == {"from": channels, "to": 1}
    assert abs(changes["loudness_lufs"]["to"] - -19) <= 1
    r = run_cli("preview", str(src), "-o", str(tmp_path / "o.wav"))
    assert r.exit_code == 0, r.output
    assert "1.000 s" in r.stdout


def test_255_channels_and_absurd_rates_are_one_line(tmp_path: Path, run_cli: Cli) -> None:
    many = _wav(tmp_path / "many.wav", _tone_s16(0.2, 8000, 255), channels=255)
    fast = _wav(tmp_path / "fast.wav", _tone_s16(1, 8000, 1), rate=2**31 - 1)
    for command in ("fix", "preview"):
        r = run_cli(command, str(many))
        _one_line_error(r, "255 channels: holdmusic folds down at most 64")
        # Before: MemoryError.
        _one_line_error(run_cli(command, str(fast)), "2,147,483,647 samples per second")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.wav", "many.wav"]


def test_preview_of_an_mp3_that_changes_format_mid_stream(tmp_path: Path, run_cli: Cli) -> None:
    a, b = tmp_path / "a.mp3", tmp_path / "b.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=5", "-ac", "2", "-c:a", "libmp3lame", str(a))
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=5:r=22050", "-ac", "1", "-c:a", "libmp3lame", str(b))
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    r = run_cli("preview", str(joined), "-o", str(tmp_path / "o.wav"))
    assert r.exit_code == 0, r.output  # before: unexpected ValueError
    seconds = float(r.stdout.split(": ", 1)[1].split(" s")[0])
    assert 9.9 <= seconds <= 10.2, r.stdout


def test_output_in_proc_is_one_line(tmp_path: Path, run_cli: Cli) -> None:
    src = _wav(tmp_path / "in.wav", _tone_s16(1, 8000, 1))
    for command in ("fix", "preview"):
        r = run_cli(command, str(src), "-o", "/proc/x.mp3")
        _one_line_error(r, "/proc/x.mp3: ")


def test_only_regular_files_are_ever_replaced(tmp_path: Path, run_cli: Cli) -> None:
    # `-o /dev/stdout --force` replaced the symlink in /dev with a file; the same link in
    # a temporary folder shows it without touching /dev.
    src = _wav(tmp_path / "in.wav", _tone_s16(1, 8000, 1))
    # (fix names its output .mp3: `-o /dev/stdout` itself is refused for its name first)
    link = tmp_path / "stdout.mp3"
    link.symlink_to("/proc/self/fd/1")
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    for command, target, what in [
        ("fix", link, "a symbolic link"),
        ("preview", link, "a symbolic link"),
        ("fix", fifo, "a named pipe"),
    ]:
        r = run_cli(command, str(src), "-o", str(target), "--force")
        _one_line_error(r, f"is {what}, not a regular file; holdmusic replaces only regular files")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert fifo.is_fifo()


# --- 5. SIGTERM and SIGHUP clean up as Ctrl-C does -------------------------------------------


@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sig") / "long.mp3"
    return music(path, 75, codec=["-c:a", "libmp3lame", "-b:a", "320k"])


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_leave_nothing(
    long_input: Path, tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "holdmusic", "fix", str(long_input), "-o", str(out_dir / "o.mp3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals,
    )  # fmt: skip
    # The temporary file of the real work (the trial one is gone before the input opens).
    _wait_until_open(proc, long_input)
    while proc.poll() is None and not any(p.suffix == ".part" for p in out_dir.iterdir()):
        time.sleep(0.002)
    assert proc.poll() is None, "fix finished before the test could signal it"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err  # before: killed (-15/-1), the .part left behind
    assert err == f"interrupted ({sig.name})\n"
    assert list(out_dir.iterdir()) == []


# --- 6. polyglots: refused by validate, and never handed to another demuxer -----------------


def _sine_mp3(path: Path, seconds: float = 5) -> bytes:
    ffmpeg("-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-c:a", "libmp3lame", "-b:a", "64k",
           "-write_xing", "0", "-id3v2_version", "0", str(path))  # fmt: skip
    return path.read_bytes()


_SDP = (
    b"\nv=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 5004 RTP/AVP 0\r\n"
)


def _sdp_polyglot(path: Path) -> Path:
    """An ID3 tag larger than FFmpeg's first probe window, no NUL byte before its body (so
    FFmpeg's SDP probe reads it), whose body is an SDP description; then MP3 frames."""
    size = (1 << 21) + (1 << 14) + (1 << 7) + 1  # synchsafe 01 01 01 01: no zero byte
    tag = b"ID3\x03\x01\x20\x01\x01\x01\x01" + _SDP + b" " * (size - len(_SDP))
    audio = _sine_mp3(path.with_name("plain.mp3"))
    path.write_bytes(tag + audio)
    return path


def test_polyglots_are_refused_by_validate(tmp_path: Path, cli: Cli) -> None:
    audio = _sine_mp3(tmp_path / "plain.mp3")
    empty_tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    hls = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n"
    files = {
        "sdp.mp3": _sdp_polyglot(tmp_path / "sdp.mp3").read_bytes(),
        "hls.mp3": empty_tag + hls + audio,
        "concat.mp3": empty_tag + b"ffconcat version 1.0\nfile /etc/passwd\n" + audio,
        "trailing.mp3": audio + b"\n#EXTM3U\nhttp://127.0.0.1:9/x.mp3\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    r = cli("validate", "--json", *(str(tmp_path / n) for n in files))
    assert r.exit_code == 1
    for v in json.loads(r.stdout):
        [p] = [p for p in v["problems"] if p["code"] == "polyglot"]
        assert p["severity"] == "error"
    r = cli("validate", str(tmp_path / "sdp.mp3"))
    assert "error [polyglot]: besides MP3 audio, the file holds an SDP session description" in (
        r.stdout
    )
    r = cli("validate", "--json", str(tmp_path / "plain.mp3"))
    assert json.loads(r.stdout)[0]["ok"]


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_listen_opens_the_bytes_as_mp3_only(tmp_path: Path) -> None:
    # Before: FFmpeg's probe picked SDP, bound UDP 127.0.0.1:5004 and 0.0.0.0:5005, waited
    # for RTP packets and gave up: listen_failed, after ~10 s.
    from holdmusic import rules
    from holdmusic.studio import listening

    poly = _sdp_polyglot(tmp_path / "sdp.mp3")
    plain = listening.listen(str(tmp_path / "plain.mp3"))
    for source in (str(poly), poly.read_bytes()):
        verdict = rules.check_path(poly)
        heard = listening.hear(verdict, source)
        assert heard.listen is not None, heard.problems
        assert heard.listen.loudness_lufs == pytest.approx(plain.loudness_lufs, abs=0.05)
        assert _udp_port_free(5004) and _udp_port_free(5005)


def test_fix_refuses_a_polyglot_that_ffmpeg_would_read_as_sdp(tmp_path: Path, run_cli: Cli) -> None:
    poly = _sdp_polyglot(tmp_path / "sdp.mp3")
    r = run_cli("fix", str(poly), "-o", str(tmp_path / "o.mp3"), timeout=30)
    _one_line_error(r, "an SDP session description")


# --- 7. a bad packet or a broken container after the audio no longer refuses the file -------


def test_a_container_error_after_the_audio_keeps_the_audio(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "tagged.wv"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=4", "-c:a", "wavpack", str(src))
    src.write_bytes(src.read_bytes() + b"wvpk" + b"\xff" * 60)  # a broken block at the end
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"), "--json")
    assert r.exit_code == 0, r.output  # before: "cannot decode the audio: Invalid data"
    out = json.loads(r.stdout)
    assert out["changes"]["duration_seconds"]["to"] == pytest.approx(4.0, abs=0.01)
    [p] = out["changes"]["input_problems"]
    assert p["code"] == "source_corrupt_frames" and "damaged after 4.00 s" in p["message"]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def test_a_damaged_packet_is_skipped_counted_and_reported(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "one-bad.opus"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=6:r=48000", "-c:a", "libopus", str(src))
    data = bytearray(src.read_bytes())
    pages = [i for i in range(len(data)) if data[i : i + 4] == b"OggS"]
    p = pages[len(pages) // 2]
    segments = data[p + 27 : p + 27 + data[p + 26]]
    body = p + 27 + len(segments)
    data[body : body + segments[0]] = b"\xff" * segments[0]  # the packet: garbage
    data[p + 22 : p + 26] = b"\0\0\0\0"  # a valid page around it: the decoder meets it
    crc = _ogg_crc(bytes(data[p : body + sum(segments)]))
    data[p + 22 : p + 26] = crc.to_bytes(4, "little")
    src.write_bytes(bytes(data))
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"), "--json")
    assert r.exit_code == 0, r.output
    [p_] = json.loads(r.stdout)["changes"]["input_problems"]
    assert p_["code"] == "source_corrupt_frames"
    assert p_["message"].startswith("1 damaged packet of the input would not decode")


def test_a_damaged_flac_is_called_damaged_not_not_audio(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "damaged.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=6", "-c:a", "flac", str(src))
    data = bytearray(src.read_bytes())
    data[4:42] = b"\xff" * 38  # the STREAMINFO block: rate, channels, length all gone
    src.write_bytes(bytes(data))
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"))
    # 9. Before: "this is a FLAC file, not audio".
    _one_line_error(r, "a FLAC file whose audio could not be decoded")
    assert "not audio" not in r.stderr


# --- 8. metadata that is not UTF-8 --------------------------------------------------------


def test_metadata_that_is_not_utf8_does_not_crash(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "tagged.m4a"
    subprocess.run(
        [b"ffmpeg", b"-nostdin", b"-v", b"error", b"-f", b"lavfi", b"-i", b"sine=f=440:d=3",
         b"-c:a", b"aac", b"-metadata", b"title=bad \xff\xfe title", os.fsencode(src)],
        check=True,
    )  # fmt: skip
    for command, out in (("fix", "o.mp3"), ("preview", "o.wav")):
        r = run_cli(command, str(src), "-o", str(tmp_path / out))
        assert r.exit_code == 0, r.output  # before: unexpected UnicodeDecodeError


# --- 10. truncated exports ---------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "codec"), [(".flac", "flac"), (".wav", "pcm_s16le")])
def test_a_cut_off_export_is_reported(
    suffix: str, codec: str, tmp_path: Path, run_cli: Cli
) -> None:
    src = tmp_path / f"cut{suffix}"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=6", "-c:a", codec, str(src))
    os.truncate(src, src.stat().st_size // 3)
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"), "--json")
    assert r.exit_code == 0, r.output
    [p] = json.loads(r.stdout)["changes"]["input_problems"]
    assert p["code"] == "source_truncated" and p["severity"] == "warning"
    assert p["message"].startswith("the input is cut off: its header says 6.0 s, but only ")


def test_an_m4a_without_its_moov_atom_is_called_cut_off(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "cut.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=6", "-c:a", "aac", str(src))
    data = src.read_bytes()
    src.write_bytes(data[: data.find(b"moov") - 4])  # the index, written last, is gone
    r = run_cli("fix", str(src), "-o", str(tmp_path / "o.mp3"))
    _one_line_error(r, "an MP4/M4A file that is cut off (truncated)")
    assert "not audio" not in r.stderr


# --- 11. an MP3's length comes from the frame walk, not its header ---------------------------


def test_fix_reports_the_walked_length_of_a_lying_header(tmp_path: Path, run_cli: Cli) -> None:
    r = run_cli("fix", str(SAMPLES / "lying-header.mp3"), "-o", str(tmp_path / "o.mp3"), "--json")
    assert r.exit_code == 0, r.output
    # Before: 29.9 s, the Xing header's claim.
    assert json.loads(r.stdout)["changes"]["duration_seconds"]["from"] == pytest.approx(90.0)


# --- 12. every sample is measured, the last 100 ms included ------------------------------------

_BURST = "0.03*sin(2*PI*1000*t)+0.9*sin(2*PI*3000*t)*gte(t\\,1.0)"


def test_fix_measures_a_burst_in_the_last_50_ms(tmp_path: Path, run_cli: Cli) -> None:
    src = tmp_path / "burst.wav"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={_BURST}:s=44100:d=1.05", "-c:a", "pcm_f32le", str(src))
    out = tmp_path / "o.mp3"
    r = run_cli("fix", str(src), "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    reported = json.loads(r.stdout)["changes"]["true_peak_dbtp"]
    witness = ebur128(out).true_peak_dbtp
    # Before: the burst (gained up with the quiet tone) went unmeasured: over 0 dBTP.
    assert witness <= -0.9, witness
    assert reported == pytest.approx(witness, abs=0.5)


def test_listen_measures_a_burst_in_the_last_50_ms(tmp_path: Path, cli: Cli) -> None:
    src = tmp_path / "burst.mp3"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={_BURST}:s=44100:d=1.05", "-c:a", "libmp3lame",
           "-b:a", "128k", str(src))  # fmt: skip
    r = cli("validate", "--listen", "--json", str(src))
    [v] = json.loads(r.stdout)
    witness = ebur128(src).true_peak_dbtp
    assert witness > -3
    # Before: about -30 dBTP (the tone alone).
    assert v["listen"]["true_peak_dbtp"] == pytest.approx(witness, abs=0.5)
