"""holdmusic.audio: the frame walker, checked against fixtures with exactly known truth.

The ground truth comes from tests/mp3factory.py (PCM sample counts and byte-level
construction), never from holdmusic itself; where ffmpeg is installed, it is a second,
independent witness for every file it decodes correctly.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from holdmusic import audio
from tests.mp3factory import (
    Made,
    apev2,
    facts,
    fake_jpeg,
    ffmpeg_samples,
    id3v1,
    id3v2_tag,
    id3v2_text,
    lyrics3v2,
)

# Every fixture that holds a Layer III stream holdmusic must measure to the sample.
MP3_FIXTURES = (
    "apev2_trailing",
    "cat_two",
    "cbr_320_stereo",
    "cbr_mono_44k",
    "cbr_stereo_128k",
    "crc_protected",
    "exactly_60",
    "ffmpeg_libmp3lame",
    "gapless_59_98",
    "id3v1_trailing",
    "id3v23_apic",
    "id3v24_appended",
    "id3v24_footer",
    "id3v2_stacked",
    "junk_before",
    "junk_between",
    "just_under_10mb",
    "just_under_60",
    "leading_silence",
    "lyrics3v2",
    "mpeg25_8k",
    "mpeg2_22k",
    "mpeg2_cbr_small_no_tag",
    "no_xing_cbr",
    "shine_no_tag",
    "short_10s",
    "truncated",
    "vbr_48k",
    "vbr_mpeg25_11k",
    "vbr_no_xing",
    "xing_lie",
)

# Files whose length ffmpeg decodes correctly (it honours the LAME tag, or there is none).
# Left out on purpose: cat_two, junk_before, junk_between (ffmpeg miscounts them, see the
# fixture notes) and the non-MP3 files.
FFMPEG_AGREES = tuple(
    n for n in MP3_FIXTURES if n not in {"cat_two", "junk_before", "junk_between"}
)

# Codes that come from the walk itself (the rest are judgements made in holdmusic.rules).
AUDIO_FINDINGS = {
    "header_mismatch",
    "appended_stream",
    "junk_before_audio",
    "junk_in_stream",
    "truncated_frame",
}

# Non-MP3 fixture -> words the NotMP3 message must contain (what the file really is).
NOT_MP3_MESSAGES = {
    "wav_pcm": r"WAV \(RIFF/WAVE\).*PCM",
    "wav_mp3": r"WAV \(RIFF/WAVE\).*wrapping MPEG audio.*ffmpeg -i \S+ -c:a copy",
    "flac": r"\bFLAC\b",
    "ogg_vorbis": r"\bOgg Vorbis\b",
    "ogg_opus": r"\bOgg Opus\b",
    "m4a_aac": r"\bMP4/M4A\b",
    "adts_aac": r"\bAAC\b.*\bADTS\b",
    "mp1_layer1": r"\bLayer I\b.*\bMP1\b",
    "mp2_layer2": r"\bLayer II\b.*\bMP2\b",
    "html": r"\bHTML page\b",
    "text": r"\btext file\b",
    "id3_only": r"\bID3 tag with no audio\b",
    "s3_xml_error": r"\bXML error\b.*AccessDenied",
    "random_sync": r"no MPEG audio frames found",
}


def _info(made: Made) -> audio.AudioInfo:
    return audio.analyze(made.path.read_bytes())


def _raw_audio(mp3s: dict[str, Made]) -> bytes:
    """A bare 20 s lame encode (64k mono 44.1 kHz, 882,000 samples): the ID3v1 fixture minus
    its 128-byte tag."""
    data = mp3s["id3v1_trailing"].path.read_bytes()
    assert data[-128:-125] == b"TAG"
    return data[:-128]


RAW_SAMPLES = 882_000


# --- every MP3 fixture, to the sample -------------------------------------------------


@pytest.mark.parametrize("name", MP3_FIXTURES)
def test_analyze_measures_every_fixture_exactly(mp3s: dict[str, Made], name: str) -> None:
    made = mp3s[name]
    assert made.expected_samples is not None
    info = _info(made)
    assert info.samples == made.expected_samples
    assert info.format.layer == 3
    assert info.format.sample_rate == made.sample_rate
    assert info.format.channels == made.channels
    assert info.format.mpeg_version == made.mpeg_version
    assert info.duration_seconds == pytest.approx(made.expected_samples / made.sample_rate)
    codes = {f.code for f in info.findings}
    assert set(made.warnings) & AUDIO_FINDINGS <= codes


def test_fixture_list_is_complete(mp3s: dict[str, Made]) -> None:
    """A new fixture in mp3factory must be added here, or it would go unchecked."""
    measurable = {n for n, m in mp3s.items() if m.expected_samples is not None}
    assert measurable == set(MP3_FIXTURES)
    not_mp3 = {n for n, m in mp3s.items() if m.error_code == "not_mp3"}
    assert not_mp3 == set(NOT_MP3_MESSAGES)


def test_clean_files_have_no_findings(mp3s: dict[str, Made]) -> None:
    for name in ("cbr_mono_44k", "vbr_48k", "mpeg2_22k", "crc_protected", "ffmpeg_libmp3lame"):
        assert _info(mp3s[name]).findings == (), name


def test_lame_tag_details(mp3s: dict[str, Made]) -> None:
    info = _info(mp3s["cbr_mono_44k"])
    assert info.header == "Info"
    assert info.encoder is not None and info.encoder.startswith("LAME")
    assert info.encoder_delay == 576
    assert info.format.bitrate_mode == "CBR"
    assert info.format.bitrate_kbps == pytest.approx(64, abs=0.5)
    # 40 s + delay + padding, in whole 1152-sample frames
    assert info.format.frame_count * 1152 - 576 - info.encoder_padding == 1_764_000

    vbr = _info(mp3s["vbr_48k"])
    assert vbr.header == "Xing"
    assert vbr.format.bitrate_mode == "VBR"

    lavc = _info(mp3s["ffmpeg_libmp3lame"])
    assert lavc.encoder is not None and lavc.encoder.startswith("Lav")
    assert lavc.samples == 1_323_000  # mutagen ignores a 'Lavc' LAME tag and says 30.041 s

    untagged = _info(mp3s["no_xing_cbr"])
    assert untagged.header is None
    assert untagged.encoder_delay == untagged.encoder_padding == 0


def test_leading_silence_is_measured(mp3s: dict[str, Made]) -> None:
    """3 s of digital zero: the estimate may stop a frame early, never run into the music."""
    silent = _info(mp3s["leading_silence"]).leading_silence_seconds
    assert 2.9 <= silent <= 3.0
    assert _info(mp3s["cbr_mono_44k"]).leading_silence_seconds < 0.1


# --- ffmpeg as an independent witness -------------------------------------------------


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("name", FFMPEG_AGREES)
def test_samples_match_what_ffmpeg_decodes(mp3s: dict[str, Made], name: str) -> None:
    made = mp3s[name]
    assert made.channels is not None
    # ffmpeg -v error -i FILE -f s16le -acodec pcm_s16le -  : bytes / 2 / channels
    decoded = ffmpeg_samples(made.path, made.channels)
    assert audio.analyze(made.path.read_bytes()).samples == decoded


# --- files that lie: why holdmusic walks frames -----------------------------------------


@pytest.mark.parametrize(
    ("name", "mutagen_says", "truth"),
    [
        ("xing_lie", 29.971, 90.0),  # edited Xing frame count
        ("vbr_no_xing", 25.136, 75.050),  # VBR without Xing: extrapolated from one frame
        ("cat_two", 40.0, 80.092),  # two encodes joined: mutagen reads the first Info frame
    ],
)
def test_mutagen_is_fooled_where_the_walk_is_not(
    mp3s: dict[str, Made], name: str, mutagen_says: float, truth: float
) -> None:
    from mutagen.mp3 import MP3

    made = mp3s[name]
    assert made.expected_samples is not None and made.sample_rate is not None
    assert MP3(made.path).info.length == pytest.approx(mutagen_says, abs=0.01)
    info = _info(made)
    assert info.samples == made.expected_samples
    assert info.duration_seconds == pytest.approx(truth, abs=0.001)
    # The lie matters: every one of these is over Daily's limit, and mutagen says it is under.
    assert mutagen_says < 60.0 <= info.duration_seconds


def test_header_mismatch_names_both_durations(mp3s: dict[str, Made]) -> None:
    info = _info(mp3s["xing_lie"])
    assert info.header == "Xing"
    assert info.header_seconds == pytest.approx(30.0, abs=0.1)
    [finding] = [f for f in info.findings if f.code == "header_mismatch"]
    assert re.search(r"header says 30\.0 s .*stream is 90\.0 s", finding.message), finding.message


def test_joined_files_count_both_halves(mp3s: dict[str, Made]) -> None:
    """Both 40 s halves, plus what a decoder plays at the join (padding, the second Info
    frame, the second encoder delay): 80.092 s, as ffmpeg decodes it."""
    info = _info(mp3s["cat_two"])
    assert info.samples == mp3s["cat_two"].expected_samples == 3_532_079
    assert info.samples > 2 * 40 * 44100
    [joined] = [f for f in info.findings if f.code == "appended_stream"]
    assert joined.offset is not None and 0 < joined.offset < mp3s["cat_two"].path.stat().st_size


def test_truncated_file_loses_no_music(mp3s: dict[str, Made]) -> None:
    info = _info(mp3s["truncated"])
    assert info.samples == 30 * 44100
    assert [f.code for f in info.findings] == ["truncated_frame"]


def test_file_cut_at_a_frame_boundary(mp3s: dict[str, Made]) -> None:
    """No partial frame to notice: the Info header's frame count gives the cut away. What is
    left plays in full, minus the encoder's delay and the decoder's own 529 samples."""
    data = mp3s["cbr_mono_44k"].path.read_bytes()  # Info frame + 1533 audio frames
    frames = facts(data).frames
    info = audio.analyze(data[: frames[1 + 800].offset])
    assert info.samples == 800 * 1152 - 576 - 529
    [finding] = info.findings
    assert finding.code == "header_mismatch"
    assert re.search(r"header says 40\.0 s .*stream is 20\.9 s", finding.message)


def test_losing_only_the_padding_frame(mp3s: dict[str, Made], tmp_path: Path) -> None:
    """The last frame held only padding (LAME padded 1440 samples), but a decoder outputs
    every frame 529 samples late: the cut takes 1152 + 1440 - 529... of output, the
    decoder's end trim no longer applies, and 241 samples of music go with it."""
    data = mp3s["cbr_mono_44k"].path.read_bytes()
    last = facts(data).frames[-1]
    cut = data[: last.offset]
    info = audio.analyze(cut)
    assert info.samples == 1532 * 1152 - 576 - 529 == 40 * 44100 - 241
    assert info.findings == ()  # less than a frame of difference: no header_mismatch
    path = tmp_path / "cut.mp3"
    path.write_bytes(cut)
    if shutil.which("ffmpeg"):
        assert ffmpeg_samples(path, 1) == info.samples


# --- not MP3: the message says what it is ----------------------------------------------


@pytest.mark.parametrize(("name", "pattern"), sorted(NOT_MP3_MESSAGES.items()))
def test_not_mp3_says_what_the_file_is(mp3s: dict[str, Made], name: str, pattern: str) -> None:
    with pytest.raises(audio.NotMP3) as caught:
        _info(mp3s[name])
    assert caught.value.code == "not_mp3"
    assert not isinstance(caught.value, audio.FreeFormatMP3)
    assert re.search(pattern, str(caught.value)), str(caught.value)


def test_free_format_is_its_own_error(mp3s: dict[str, Made]) -> None:
    with pytest.raises(audio.FreeFormatMP3) as caught:
        _info(mp3s["free_format"])
    assert caught.value.code == "free_format"
    assert "free-format" in str(caught.value)


def test_riff_wrapped_mp3_is_refused_although_its_frames_are_fine(mp3s: dict[str, Made]) -> None:
    """mutagen finds the frames inside the WAV and says ~5 s; Daily wants a bare MP3."""
    with pytest.raises(audio.NotMP3, match=r"ffmpeg -i IN\.wav -c:a copy OUT\.mp3"):
        _info(mp3s["wav_mp3"])


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", None),
        (b"\x00" * 5000, r"no MPEG audio frames"),
        (b"fLaC" + b"\x00" * 100, r"FLAC"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", r"MP4/M4A"),
        (b"FORM\x00\x00\x00\x00AIFF", r"AIFF"),
        (b'{"error": "AccessDenied"}', r"JSON"),
        (b"#EXTM3U\nhttps://example.com/hold.mp3\n", r"playlist"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html></html>", r"HTML"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 100, r"no MPEG audio frames"),  # a header, no frame
    ],
)
def test_not_mp3_on_small_inputs(data: bytes, pattern: str | None) -> None:
    with pytest.raises(audio.NotMP3) as caught:
        audio.analyze(data)
    if pattern:
        assert re.search(pattern, str(caught.value)), str(caught.value)


@pytest.mark.parametrize("data", [b"\xff\xfb\x90\x64", b"\x80\x81", b"abc\xff"])
def test_a_few_binary_bytes_are_not_called_text(data: bytes) -> None:
    with pytest.raises(audio.NotMP3) as caught:
        audio.analyze(data)
    assert "text" not in str(caught.value)


# --- tags around the audio ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "id3v2_stacked",
        "id3v24_footer",
        "id3v23_apic",
        "id3v1_trailing",
        "apev2_trailing",
        "lyrics3v2",
        "id3v24_appended",
    ],
)
def test_tags_are_not_audio(mp3s: dict[str, Made], name: str) -> None:
    info = _info(mp3s[name])
    assert info.samples == RAW_SAMPLES
    assert info.findings == ()  # a tag is not junk, not a second stream


def test_leading_tags_move_the_audio_offset(mp3s: dict[str, Made]) -> None:
    raw = _raw_audio(mp3s)
    tag = id3v2_tag(id3v2_text("TIT2", "x", 3), version=3, pad=300)
    info = audio.analyze(tag + raw)
    assert info.audio_offset == len(tag)
    assert info.samples == RAW_SAMPLES


def test_every_trailing_tag_at_once(mp3s: dict[str, Made]) -> None:
    """APEv2, then Lyrics3 v2, then ID3v1: the order taggers leave them in."""
    raw = _raw_audio(mp3s)
    ape = apev2([("Title", b"Hold", False), ("Cover Art (Front)", fake_jpeg(3000, 5), True)])
    data = raw + ape + lyrics3v2("[00:01]Please hold") + id3v1()
    info = audio.analyze(data)
    assert info.samples == RAW_SAMPLES
    assert info.findings == ()


def test_every_tag_at_both_ends(mp3s: dict[str, Made]) -> None:
    raw = _raw_audio(mp3s)
    front = id3v2_tag(id3v2_text("TIT2", "a", 3), version=3, pad=64) + id3v2_tag(
        id3v2_text("TPE1", "b", 4), version=4, footer=True
    )
    back = id3v2_tag(id3v2_text("TIT2", "c", 4), version=4, footer=True) + id3v1()
    info = audio.analyze(front + raw + back)
    assert info.samples == RAW_SAMPLES
    assert info.audio_offset == len(front)
    assert info.findings == ()


def test_lyrics3_v1_before_id3v1(mp3s: dict[str, Made]) -> None:
    raw = _raw_audio(mp3s)
    data = raw + b"LYRICSBEGIN[00:01]Please hold, your call matters" + b"LYRICSEND" + id3v1()
    info = audio.analyze(data)
    assert info.samples == RAW_SAMPLES
    assert info.findings == ()


def test_mmap_and_bytes_agree(mp3s: dict[str, Made], tmp_path: Path) -> None:
    import mmap

    path = mp3s["xing_lie"].path
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        via_map = audio.analyze(mapped)
    assert via_map == audio.analyze(path.read_bytes())
