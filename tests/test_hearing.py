"""``fix`` hears its output while it encodes it (the meters in threads of their own), and
``validate --listen`` runs its true-peak meter beside the others: both must measure
exactly what ``listen`` measures on the written file, and leave no thread behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.soundfactory import ffmpeg, music

pytest.importorskip("av", reason="needs the fix extra")

from holdmusic.studio import Fan, FanThread, StudioError, fixing, listening, load_av


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("holdmusic-")}


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """70 s of music ending in 3 s of silence: the cut, the fades and a silence to find."""
    folder = tmp_path_factory.mktemp("hearing")
    body = music(folder / "body.wav", 67)
    out = folder / "song.wav"
    ffmpeg("-i", str(body), "-af", "apad=pad_dur=3", str(out))
    return out


@pytest.mark.parametrize(
    "settings",
    [
        fixing.FixSettings(),
        fixing.FixSettings(channels=2, sample_rate=44100, bitrate_kbps=128),
        fixing.FixSettings(loop=True, length_seconds=30),
        fixing.FixSettings(
            keep_silence=True, start_seconds=12, end_seconds=69.5, loudness_lufs=-14
        ),
    ],
    ids=["default", "stereo-44k", "loop", "silence-kept-loud"],
)
def test_what_fix_heard_is_what_listen_hears_in_the_file(
    song: Path, tmp_path: Path, settings: fixing.FixSettings
) -> None:
    out = tmp_path / "out.mp3"
    result = fixing.fix(str(song), str(out), settings)
    heard = result.verdict.listen
    assert heard is not None
    # Exactly, not approximately: the same decoder on the same packets, the same meters.
    assert heard == listening.listen(str(out))
    assert _threads() == set()


@pytest.mark.parametrize("end", [69.0, 69.5])
def test_trailing_silence_is_heard_to_the_sample(song: Path, tmp_path: Path, end: float) -> None:
    """The decoded length decides the trailing silence. At 69.0 FFmpeg's MP3 muxer writes
    29 samples less end padding into the LAME tag than LAME added, so the file (ffmpeg,
    mpg123 and the validator agree) plays 29 samples more than were encoded: what fix
    reports must be the file's, not the encoder's."""
    out = tmp_path / "tail.mp3"
    settings = fixing.FixSettings(keep_silence=True, start_seconds=12, end_seconds=end)
    heard = fixing.fix(str(song), str(out), settings).verdict.listen
    assert heard is not None and heard.trailing_silence_seconds > 1.5
    assert heard == listening.listen(str(out))


def _tone(tmp_path: Path) -> str:
    path = tmp_path / "tone.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=3", "-ac", "1", str(path))
    return str(path)


def test_a_fan_threads_error_reaches_its_feeder_and_the_thread_ends(tmp_path: Path) -> None:
    av = load_av()
    with av.open(_tone(tmp_path)) as c:
        frames = list(c.decode(audio=0))

    def broken(out: object) -> None:
        raise StudioError("meter broke")

    lane = FanThread(Fan(av, frames[0], [], [[("anull", "")]], [broken]))
    with pytest.raises(StudioError, match="meter broke"):
        for frame in frames:  # the error shows at a later push, or at close
            lane.push(frame)
        lane.close()
    lane.abandon()
    assert not lane.thread.is_alive()


def test_an_abandoned_listener_stops_its_threads_at_once(tmp_path: Path) -> None:
    """Ctrl-C or a cancelled page job in the middle of hearing: the threads end, and
    nothing waits for the rest of the audio."""
    av = load_av()
    with av.open(_tone(tmp_path)) as c:
        frames = list(c.decode(audio=0))
    for background in (False, True):
        with (
            pytest.raises(KeyboardInterrupt),
            listening.Listener(av, "x", background=background) as heard,
        ):
            for frame in frames[: len(frames) // 2]:
                heard.push(frame)
            raise KeyboardInterrupt
        assert _threads() == set()


def test_listen_with_its_peak_thread_agrees_with_one_fan(tmp_path: Path) -> None:
    """The true-peak meter in its own thread reads what it read in the shared graph."""
    src = music(tmp_path / "m.wav", 12)
    mp3 = tmp_path / "m.mp3"
    ffmpeg("-i", str(src), "-b:a", "128k", str(mp3))
    av = load_av()
    split = listening.listen(str(mp3))
    with av.open(str(mp3)) as c, listening.Listener(av, "m", background=True) as one:
        for frame in c.decode(audio=0):
            one.push(frame)
        together = one.finish()
    assert split == together
    assert split.true_peak_dbtp is not None
