"""Read an MP3 the way a decoder does: walk every frame, trust no header.

``analyze(buf)`` takes the bytes of a file (``bytes`` or an ``mmap``) and returns an
:class:`AudioInfo` with the exact gapless duration, or raises :class:`NotMP3` naming
what the data is instead. Everything here is pure: no paths, no printing, no limits;
``holdmusic.rules`` turns an ``AudioInfo`` into a verdict.

Why walk: the Xing/Info/VBRI header at the front of a file carries a frame count that
players (and mutagen, ffprobe) use as the duration. Editors, broken muxers and ``cat``
leave it wrong. The frame headers themselves cannot lie about how much audio there is.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "AudioFormat",
    "AudioInfo",
    "Finding",
    "FreeFormatMP3",
    "NotMP3",
    "analyze",
    "identify",
]


# The whole file in memory, or mapped when it is large: both index to ints and slice to bytes.
Buffer: TypeAlias = bytes | mmap.mmap


class NotMP3(ValueError):
    """The data holds no MPEG Layer III stream; the message says what it is instead."""

    code = "not_mp3"


class FreeFormatMP3(NotMP3):
    """Free-format bitrate: a legal but unplayable corner of the standard (ffmpeg refuses it)."""

    code = "free_format"


@dataclass(frozen=True)
class Finding:
    """Something odd about the stream that does not stop it from playing."""

    code: str
    message: str
    offset: int | None = None


@dataclass(frozen=True)
class AudioFormat:
    mpeg_version: str  # "1", "2" or "2.5"
    layer: int
    sample_rate: int
    channels: int
    channel_mode: str
    bitrate_mode: str  # "CBR" or "VBR", from the bitrates of the walked frames
    bitrate_kbps: float  # average over the audio frames
    frame_count: int  # audio frames, not counting Xing/Info/VBRI frames
    crc_protected: bool


@dataclass(frozen=True)
class AudioInfo:
    format: AudioFormat
    samples: int  # per channel, after removing encoder delay and padding
    duration_seconds: float
    audio_offset: int  # byte offset of the first frame
    audio_bytes: int  # bytes of audio frames (Xing/Info/VBRI frames not included)
    encoder: str | None  # from the LAME tag ("LAME3.100", "Lavc60.31"), if any
    encoder_delay: int
    encoder_padding: int
    header: str | None  # "Xing", "Info" or "VBRI" when the first frame is a tag frame
    header_seconds: float | None  # the duration that header claims
    leading_silence_seconds: float
    findings: tuple[Finding, ...] = field(default=())


# --- MPEG audio frame headers ---------------------------------------------------------

_VERSIONS = {0: "2.5", 2: "2", 3: "1"}  # version bits -> name; 1 is reserved
_SAMPLE_RATES = {
    "1": (44100, 48000, 32000),
    "2": (22050, 24000, 16000),
    "2.5": (11025, 12000, 8000),
}
_BITRATES = {  # kbit/s by (MPEG-1?, layer); index 0 is free format, 15 is invalid
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_CHANNEL_MODES = ("stereo", "joint_stereo", "dual_channel", "mono")
_CHAIN = 4  # consecutive frames that make a sync believable


@dataclass(frozen=True)
class _Header:
    """One decoded 4-byte frame header."""

    b1: int  # second header byte: version, layer, protection
    version: str
    layer: int
    protected: bool
    bitrate_index: int
    sr_index: int
    sample_rate: int
    padding: int
    mono: bool
    channel_mode: str
    length: int  # 0 for free format

    @property
    def samples_per_frame(self) -> int:
        if self.layer == 1:
            return 384
        if self.layer == 2 or self.version == "1":
            return 1152
        return 576

    @property
    def side_info_size(self) -> int:
        if self.version == "1":
            return 17 if self.mono else 32
        return 9 if self.mono else 17

    def same_stream(self, other: _Header) -> bool:
        return (
            self.version == other.version
            and self.layer == other.layer
            and self.sr_index == other.sr_index
            and self.mono == other.mono
        )


def _header_at(buf: Buffer, pos: int) -> _Header | None:
    """Decode the frame header at ``pos``; ``None`` if those bytes cannot be one."""
    if pos + 4 > len(buf) or buf[pos] != 0xFF:
        return None
    b1, b2, b3 = buf[pos + 1], buf[pos + 2], buf[pos + 3]
    if b1 & 0xE0 != 0xE0:
        return None
    version = _VERSIONS.get((b1 >> 3) & 3)
    layer = 4 - ((b1 >> 1) & 3)
    bitrate_index = b2 >> 4
    sr_index = (b2 >> 2) & 3
    if version is None or layer == 4 or bitrate_index == 15 or sr_index == 3 or b3 & 3 == 2:
        return None
    sample_rate = _SAMPLE_RATES[version][sr_index]
    padding = (b2 >> 1) & 1
    kbps = _BITRATES[(version == "1", layer)][bitrate_index]
    if layer == 1:
        length = (12000 * kbps // sample_rate + padding) * 4
    elif layer == 3 and version != "1":
        length = 72000 * kbps // sample_rate + padding
    else:
        length = 144000 * kbps // sample_rate + padding
    mode = b3 >> 6
    return _Header(
        b1=b1,
        version=version,
        layer=layer,
        protected=not b1 & 1,
        bitrate_index=bitrate_index,
        sr_index=sr_index,
        sample_rate=sample_rate,
        padding=padding,
        mono=mode == 3,
        channel_mode=_CHANNEL_MODES[mode],
        length=length if kbps else 0,
    )


_TABLES: dict[tuple[int, int], list[int]] = {}


def _length_table(b1: int, sr_index: int) -> list[int]:
    """Frame length by third header byte, for one stream (0 = not a frame of this stream).

    The hot loop looks up one list entry per frame instead of decoding bit fields.
    """
    key = (b1, sr_index)
    table = _TABLES.get(key)
    if table is None:
        table = [0] * 256
        for b2 in range(256):
            if (b2 >> 2) & 3 == sr_index:
                h = _header_at(bytes((0xFF, b1, b2, 0)), 0)
                if h is not None:
                    table[b2] = h.length
        _TABLES[key] = table
    return table


def _chain_at(buf: Buffer, pos: int, end: int, need: int = _CHAIN) -> _Header | None:
    """The header at ``pos`` if ``need`` frames of one stream follow each other from there.

    A shorter chain counts when it ends exactly at ``end``: a tiny file is still a file.
    """
    first = _header_at(buf, pos)
    if first is None or first.length == 0:
        return None
    h, p = first, pos
    for _ in range(need):
        p += h.length
        if p == end:
            return first
        if p > end:
            return None
        nxt = _header_at(buf, p)
        if nxt is None or nxt.length == 0 or not nxt.same_stream(first):
            return None
        h = nxt
    return first


def _find_chain(buf: Buffer, pos: int, end: int) -> tuple[int, _Header] | None:
    """First offset at or after ``pos`` where a believable chain of frames starts."""
    while True:
        pos = buf.find(b"\xff", pos, end)
        if pos < 0:
            return None
        h = _chain_at(buf, pos, end)
        if h is not None:
            return pos, h
        pos += 1


# --- tags around the audio ------------------------------------------------------------


def _synchsafe(buf: Buffer, pos: int) -> int:
    return (buf[pos] << 21) | (buf[pos + 1] << 14) | (buf[pos + 2] << 7) | buf[pos + 3]


def _id3v2_size(buf: Buffer, pos: int, end: int) -> int:
    """Total size of an ID3v2 tag starting at ``pos`` (header, footer included), or 0."""
    if pos + 10 > end or buf[pos : pos + 3] != b"ID3":
        return 0
    if buf[pos + 3] == 0xFF or any(buf[pos + i] & 0x80 for i in range(6, 10)):
        return 0
    footer = 10 if buf[pos + 3] == 4 and buf[pos + 5] & 0x10 else 0
    return 10 + _synchsafe(buf, pos + 6) + footer


def _skip_leading_tags(buf: Buffer, end: int) -> int:
    pos = 0
    while size := _id3v2_size(buf, pos, end):
        pos += size
    return min(pos, end)


def _bytes(buf: Buffer, start: int, stop: int) -> bytes:
    return buf[max(0, start) : stop] if stop > start else b""


def _nonzero(buf: Buffer, start: int, stop: int) -> bool:
    """Anything but zero bytes in [start, stop)? Zero padding is not worth a warning."""
    return bool(_bytes(buf, start, stop).strip(b"\0"))


def _strip_trailing_tags(buf: Buffer, start: int, end: int) -> int:
    """End of the audio, once ID3v1, APEv2, Lyrics3 and appended ID3v2 tags are cut off."""
    while end > start:
        if end - start >= 128 and _bytes(buf, end - 128, end - 125) == b"TAG":
            end -= 128
            continue
        if end - start >= 32 and _bytes(buf, end - 32, end - 24) == b"APETAGEX":
            size = int.from_bytes(_bytes(buf, end - 20, end - 16), "little")
            flags = int.from_bytes(_bytes(buf, end - 12, end - 8), "little")
            size += 32 if flags & 0x80000000 else 0  # header present
            if 32 <= size <= end - start:
                end -= size
                continue
        if end - start >= 15 and _bytes(buf, end - 9, end) == b"LYRICS200":
            digits = _bytes(buf, end - 15, end - 9)
            if digits.isdigit():
                size = int(digits) + 15
                if size <= end - start and _bytes(buf, end - size, end - size + 11) == (
                    b"LYRICSBEGIN"
                ):
                    end -= size
                    continue
        if end - start >= 20 and _bytes(buf, end - 9, end) == b"LYRICSEND":
            begin = buf.find(b"LYRICSBEGIN", max(start, end - 5100 - 9), end)
            if begin >= 0:
                end = begin
                continue
        if end - start >= 20 and _bytes(buf, end - 10, end - 7) == b"3DI":
            size = _synchsafe(buf, end - 4) + 20
            if size <= end - start:
                end -= size
                continue
        break
    return end


# --- Xing / Info / VBRI / LAME --------------------------------------------------------


@dataclass(frozen=True)
class _TagFrame:
    """A Xing, Info or VBRI frame: the encoder's summary, not audio."""

    kind: str
    frames: int | None
    encoder: str | None = None
    delay: int = 0
    padding: int = 0


def _tag_frame(buf: Buffer, pos: int, h: _Header) -> _TagFrame | None:
    """Parse the summary header inside the frame at ``pos``, if it is a tag frame."""
    crc = 2 if h.protected else 0
    for off in (4 + crc + h.side_info_size, 4 + h.side_info_size):
        x = pos + off
        kind = _bytes(buf, x, x + 4)
        if kind in (b"Xing", b"Info"):
            return _parse_xing(buf, x, pos + h.length, kind.decode())
    v = pos + 36
    if _bytes(buf, v, v + 4) == b"VBRI":
        return _TagFrame("VBRI", int.from_bytes(_bytes(buf, v + 14, v + 18), "big"))
    return None


def _parse_xing(buf: Buffer, x: int, frame_end: int, kind: str) -> _TagFrame:
    flags = int.from_bytes(_bytes(buf, x + 4, x + 8), "big")
    p = x + 8
    frames = None
    if flags & 1:
        frames = int.from_bytes(_bytes(buf, p, p + 4), "big")
        p += 4
    p += 4 if flags & 2 else 0  # byte count
    p += 100 if flags & 4 else 0  # seek table
    p += 4 if flags & 8 else 0  # quality
    # The LAME extension follows; ffmpeg's encoder writes it too, as "Lavc"/"Lavf".
    encoder = _bytes(buf, p, p + 9)
    if p + 24 <= frame_end and encoder[:4] in (b"LAME", b"Lavc", b"Lavf", b"L3.9"):
        raw = int.from_bytes(_bytes(buf, p + 21, p + 24), "big")
        name = encoder.rstrip(b"\x00 ").decode("ascii", "replace")
        return _TagFrame(kind, frames, name, raw >> 12, raw & 0xFFF)
    return _TagFrame(kind, frames)


# --- side information: cheap silence detection ---------------------------------------

# Largest quantised value each Huffman table can code (ISO 11172-3, table B.7): tables
# 16-31 add "linbits" escape bits on top of 15.
_LINBITS = (1, 2, 3, 4, 6, 8, 10, 13, 4, 5, 6, 7, 8, 9, 11, 13)
_TABLE_MAX = (
    0,
    1,
    2,
    2,
    0,
    3,
    3,
    5,
    5,
    5,
    7,
    7,
    7,
    15,
    0,
    15,
    *(15 + (1 << b) - 1 for b in _LINBITS),
)
# A granule counts as silent when no spectral line can exceed this (about -80 dBFS).
_SILENT_AMPLITUDE = 1e-4


def _is_silent(buf: Buffer, pos: int, h: _Header) -> bool:
    """True when no granule of this Layer III frame can carry an audible spectral line.

    Without decoding, the side info bounds every line: global_gain sets the step size
    (2^((gain-210)/4)), and the Huffman tables chosen bound the quantised values (|q|,
    heard as |q|^(4/3)). Scalefactors only ever attenuate, so the bound holds. CBR
    encoders stuff silence with bits at a tiny step size, so bit counts alone can't tell.
    """
    start = pos + 4 + (2 if h.protected else 0)
    size = h.side_info_size
    bits = int.from_bytes(_bytes(buf, start, start + size), "big")
    total = size * 8
    channels = 1 if h.mono else 2
    if h.version == "1":
        at, granules, per, sfc = 9 + (5 if h.mono else 3) + 4 * channels, 2, 59, 4
    else:
        at, granules, per, sfc = 8 + (1 if h.mono else 2), 1, 63, 9

    def field(offset: int, width: int) -> int:
        return (bits >> (total - offset - width)) & ((1 << width) - 1)

    for _ in range(granules * channels):
        if field(at, 12) == 0:  # part2_3_length: nothing coded at all, so all zeros
            at += per
            continue
        big_values = field(at + 12, 9)
        gain = field(at + 21, 8)
        q = 1  # the count1 region holds values of at most 1
        if big_values:
            ts = at + 21 + 8 + sfc
            tables = 2 if field(ts, 1) else 3
            first_table = ts + (4 if tables == 2 else 1)
            q = max(_TABLE_MAX[field(first_table + 5 * k, 5)] for k in range(tables))
            q = max(q, 1)
        if 2 ** ((gain - 210) / 4) * q ** (4 / 3) > _SILENT_AMPLITUDE:
            return False
        at += per
    return True


# --- identifying what is not MP3 ------------------------------------------------------

_WAV_CODECS = {1: "PCM", 3: "floating-point PCM", 6: "A-law", 7: "µ-law", 0x11: "ADPCM"}


def identify(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, when it is a well-known non-MP3."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        fmt = head.find(b"fmt ", 12)
        tag = int.from_bytes(head[fmt + 8 : fmt + 10], "little") if fmt > 0 else 0
        if tag in (0x55, 0x50):
            return (
                "a WAV (RIFF/WAVE) file wrapping MPEG audio, not a bare MP3; "
                "extract it with: ffmpeg -i IN.wav -c:a copy OUT.mp3"
            )
        codec = _WAV_CODECS.get(tag, "audio")
        return f"a WAV (RIFF/WAVE) file with {codec} audio, not an MP3"
    if head[:4] == b"RIFF":
        return "a RIFF file, not an MP3"
    if head[:4] == b"fLaC":
        return "a FLAC file, not an MP3"
    if head[:4] == b"OggS":
        codec = "Opus" if b"OpusHead" in head else "Vorbis" if b"vorbis" in head else "audio"
        return f"an Ogg {codec} file, not an MP3"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace").strip()
        return f"an MP4/M4A file (brand {brand!r}), not an MP3"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "an AIFF file, not an MP3"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a Matroska/WebM file, not an MP3"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "a WMA/ASF file, not an MP3"
    if head[:5] == b"#!AMR":
        return "an AMR file, not an MP3"
    if head[:4] == b"MThd":
        return "a MIDI file, not an MP3"
    if head[:4] == b"caff":
        return "a Core Audio (CAF) file, not an MP3"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page, not an MP3 (often an error or login page saved in place of the audio)"
    if text.startswith(b"<?xml") or text.startswith(b"<error"):
        if b"<error>" in text or text.startswith(b"<error"):
            code = ""
            i = text.find(b"<code>")
            if i >= 0:
                code = " " + head.lstrip()[i + 6 :].split(b"<", 1)[0].decode("ascii", "replace")
            return f"an XML error document{code and ' (' + code.strip() + ')'}, not an MP3"
        return "an XML document, not an MP3"
    if text.startswith((b"{", b"[")) and _is_text(head):
        return "a JSON document, not an MP3"
    if text.startswith(b"#extm3u") or text.startswith(b"[playlist]"):
        return "a playlist (M3U/PLS), not the audio it points to"
    if head and _is_text(head):
        return "a text file, not an MP3"
    return None


def _is_text(head: bytes) -> bool:
    sample = head[:1024]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # only a cut multibyte char at the end is fine
            return False
    return not any(b < 9 or 13 < b < 32 for b in sample)


def _adts_chain(buf: Buffer, pos: int, end: int) -> bool:
    """ADTS AAC shares MPEG audio's sync word; its 'layer' bits are 00."""
    for _ in range(3):
        if pos + 7 > end or buf[pos] != 0xFF or buf[pos + 1] & 0xF6 != 0xF0:
            return False
        length = ((buf[pos + 3] & 3) << 11) | (buf[pos + 4] << 3) | (buf[pos + 5] >> 5)
        if length < 7:
            return False
        pos += length
    return True


def _free_format(buf: Buffer, start: int, end: int) -> bool:
    """Layer III headers with bitrate index 0 (free format) that keep repeating."""
    stop = min(end, start + 65536)
    pos = buf.find(b"\xff", start, stop)
    while pos >= 0:
        h = _header_at(buf, pos)
        if h is not None and h.layer == 3 and h.bitrate_index == 0:
            sync = _bytes(buf, pos, pos + 2)
            third = buf[pos + 2] & 0xFD  # the padding bit may change
            hits, p = 0, pos + 1
            while hits < 3:
                p = buf.find(sync, p, min(end, p + 8192))
                if p < 0 or p + 2 >= end or buf[p + 2] & 0xFD != third:
                    break
                hits, p = hits + 1, p + 1
            if hits >= 3:
                return True
        pos = buf.find(b"\xff", pos + 1, stop)
    return False


def _describe_not_mp3(buf: Buffer, start: int, end: int) -> NotMP3:
    head = _bytes(buf, 0, 4096)
    what = identify(head) or identify(_bytes(buf, start, start + 4096))
    if what:
        return NotMP3(f"this is {what}")
    if _free_format(buf, start, end):
        return FreeFormatMP3(
            "MP3 with a free-format bitrate: most decoders (ffmpeg among them) cannot play it; "
            "re-encode at a standard bitrate"
        )
    if _adts_chain_anywhere(buf, start, end):
        return NotMP3("this is raw AAC audio (ADTS), not an MP3")
    if start > 0 and not _nonzero(buf, start, min(end, start + 65536)):
        return NotMP3("this is an ID3 tag with no audio after it")
    return NotMP3("no MPEG audio frames found: this is not an MP3")


def _adts_chain_anywhere(buf: Buffer, start: int, end: int) -> bool:
    pos = buf.find(b"\xff", start, min(end, start + 65536))
    while pos >= 0:
        if _adts_chain(buf, pos, end):
            return True
        pos = buf.find(b"\xff", pos + 1, min(end, start + 65536))
    return False


# --- the walk ------------------------------------------------------------------------


@dataclass
class _Segment:
    """A run of frames of one stream, from one tag frame (or the start) to the next."""

    first: _Header
    offset: int
    tag: _TagFrame | None = None
    counts: list[int] = field(default_factory=lambda: [0] * 256)
    truncated: bool = False

    @property
    def frames(self) -> int:
        return sum(self.counts)

    def samples(self) -> tuple[int, int, int]:
        """(samples, delay, padding) of this segment.

        The encoder's delay always applies: the start of the stream is the encoder's.
        Its padding applies in full while the end is intact. A header that claims
        *fewer* frames than the walk finds was edited or is stale; its padding still
        describes the real end (ffmpeg agrees, to the sample). When the end is gone
        (a cut frame, or fewer frames than the encoder wrote), the audio is what is
        left, but never more than the encoder's own total: a cut that only removed
        padding loses no music.
        """
        spf = self.first.samples_per_frame
        raw = self.frames * spf
        tag = self.tag
        if tag is None or tag.kind == "VBRI":
            return raw, 0, 0
        delay = min(tag.delay, raw)
        cut = self.truncated or (tag.frames is not None and tag.frames > self.frames)
        if not cut:
            padding = min(tag.padding, raw - delay)
        elif tag.frames is not None:
            encoded = tag.frames * spf - tag.delay - tag.padding
            padding = max(0, (raw - delay) - max(0, encoded))
        else:
            padding = 0
        return raw - delay - padding, delay, padding


def _walk(buf: Buffer, pos: int, limit: int, b1: int, table: list[int], counts: list[int]) -> int:
    """Hop from frame to frame while headers match the stream; returns where it stopped.

    The hot loop of the whole tool: one comparison pair and one table lookup per frame.
    """
    while pos + 4 <= limit:
        if buf[pos] != 0xFF or buf[pos + 1] != b1:
            break
        b2 = buf[pos + 2]
        length = table[b2]
        if not length or pos + length > limit:
            break
        counts[b2] += 1
        pos += length
    return pos


def _tag_candidates(buf: Buffer, start: int, end: int, h: _Header) -> list[int]:
    """Offsets where a Xing/Info/VBRI frame of this stream could start, from a text search.

    ``bytes.find`` runs at C speed, so looking for the signatures up front is far cheaper
    than asking every frame in the walk whether it is a tag frame.
    """
    found: list[int] = []
    xing = (4 + h.side_info_size, 6 + h.side_info_size)  # without and with a CRC
    for sig, offsets in ((b"Xing", xing), (b"Info", xing), (b"VBRI", (36,))):
        i = buf.find(sig, start, end)
        while i >= 0:
            found.extend(i - o for o in offsets if i - o >= start)
            i = buf.find(sig, i + 4, end)
    return sorted(set(found))


def analyze(buf: Buffer) -> AudioInfo:
    """Walk the whole stream in ``buf``; raise :class:`NotMP3` when there is none."""
    size = len(buf)
    start = _skip_leading_tags(buf, size)
    end = _strip_trailing_tags(buf, start, size)
    head = _bytes(buf, 0, 16)
    # A RIFF-wrapped MP3 holds a perfectly good frame chain; judge the container first.
    if identify(head) is not None and not head.startswith(b"ID3"):
        raise _describe_not_mp3(buf, start, end)
    found = _find_chain(buf, start, end)
    if found is None:
        raise _describe_not_mp3(buf, start, end)
    pos, first = found
    if first.layer != 3:
        kind = {1: "MPEG Layer I (MP1)", 2: "MPEG Layer II (MP2)"}[first.layer]
        raise NotMP3(f"this is {kind} audio, not MP3 (Layer III); re-encode it as MP3")

    findings: list[Finding] = []
    if pos > start and _nonzero(buf, start, pos):
        findings.append(
            Finding(
                "junk_before_audio",
                f"{pos - start} bytes of unrecognised data at byte {start}, before the first "
                f"frame (byte {pos})",
                start,
            )
        )

    segments, walked = _walk_stream(buf, pos, first, end, scan=False)
    lead = segments[0]
    if walked or lead.tag is None or lead.tag.frames != lead.frames:
        # Something is odd (or the stream has no summary to check it against): walk again,
        # this time stopping wherever a second encoder header could hide mid-stream.
        segments, walked = _walk_stream(buf, pos, first, end, scan=True)
    return _summarise(buf, segments, findings + walked, end)


def _walk_stream(
    buf: Buffer, pos: int, first: _Header, end: int, *, scan: bool
) -> tuple[list[_Segment], list[Finding]]:
    """Walk every frame from ``pos`` to ``end``, splitting where a new encoding starts."""
    findings: list[Finding] = []
    candidates = _tag_candidates(buf, pos, end, first) if scan else []
    segments: list[_Segment] = []
    seg = _open_segment(buf, pos, first, segments)
    pos += first.length if seg.tag is not None else 0
    joined = False  # a mid-stream ID3 tag already told the user that files were joined
    while True:
        while candidates and candidates[0] < pos:
            candidates.pop(0)
        # Stop the walk at the next place a tag frame could start: a new encoding begins there.
        limit = min(candidates[0], end) if candidates else end
        b1 = buf[pos + 1] if pos + 1 < end else 0
        pos = _walk(buf, pos, limit, b1, _length_table(b1, seg.first.sr_index), seg.counts)
        if pos >= end:
            break
        here = _header_at(buf, pos)
        if here is not None and here.length and here.same_stream(seg.first):
            if pos + here.length > end:
                seg.truncated = True
                findings.append(
                    Finding(
                        "truncated_frame",
                        f"the last frame, at byte {pos}, is cut short ({end - pos} of "
                        f"{here.length} bytes): "
                        "the file was truncated; that frame is not counted",
                        pos,
                    )
                )
                break
            if pos == limit and _tag_frame(buf, pos, here) is not None:
                seg = _open_segment(buf, pos, here, segments)
                if not joined:
                    findings.append(_joined(seg, "a new encoder header"))
                joined = False
                pos += here.length
                continue
            # A change of the CRC bit, or a frame running past a false candidate: count it.
            seg.counts[buf[pos + 2]] += 1
            pos += here.length
            continue
        if tag_size := _id3v2_size(buf, pos, end):
            findings.append(
                Finding(
                    "appended_stream",
                    f"an ID3 tag sits in the middle of the audio at byte {pos}: "
                    "files were joined end to end; all their audio is counted",
                    pos,
                )
            )
            joined = True
            pos += tag_size
        resync = _find_chain(buf, pos, end)
        if resync is None:
            if _nonzero(buf, pos, min(end, pos + 65536)):
                findings.append(
                    Finding(
                        "junk_in_stream",
                        f"{end - pos} bytes of unrecognised data at byte {pos}, after the "
                        "last frame",
                        pos,
                    )
                )
            break
        nxt, nh = resync
        if nxt > pos and _nonzero(buf, pos, nxt):
            findings.append(
                Finding(
                    "junk_in_stream",
                    f"{nxt - pos} bytes of unrecognised data at byte {pos}, between frames "
                    "(players skip it, but it can click)",
                    pos,
                )
            )
        if nh.layer != 3:
            findings.append(
                Finding(
                    "junk_in_stream",
                    f"MPEG Layer {nh.layer} audio from byte {nxt} on is not MP3; not counted",
                    nxt,
                )
            )
            break
        if not nh.same_stream(seg.first) or _tag_frame(buf, nxt, nh) is not None:
            seg = _open_segment(buf, nxt, nh, segments)
            if not joined:
                findings.append(_joined(seg, _describe(nh)))
            joined = False
            pos = nxt + (nh.length if seg.tag is not None else 0)
            candidates = _tag_candidates(buf, pos, end, nh) if scan else []
            continue
        pos = nxt
    return segments, findings


def _joined(seg: _Segment, what: str) -> Finding:
    return Finding(
        "appended_stream",
        f"a second stream starts at byte {seg.offset} ({what}): files were joined end to end; "
        "all their audio is counted",
        seg.offset,
    )


def _open_segment(buf: Buffer, pos: int, h: _Header, segments: list[_Segment]) -> _Segment:
    tag = _tag_frame(buf, pos, h)
    seg = _Segment(first=h, offset=pos, tag=tag)
    segments.append(seg)
    return seg


def _describe(h: _Header) -> str:
    mode = "mono" if h.mono else "stereo"
    return f"MPEG-{h.version} Layer III, {h.sample_rate} Hz {mode}"


def _summarise(
    buf: Buffer, segments: Sequence[_Segment], findings: list[Finding], end: int
) -> AudioInfo:
    first = segments[0]
    h = first.first
    spf = h.samples_per_frame
    frames = 0
    audio_bytes = 0
    samples = 0
    seconds = 0.0
    bitrates: set[int] = set()
    for seg in segments:
        sh = seg.first
        table = _length_table(sh.b1, sh.sr_index)  # the CRC bit does not change lengths
        n, delay, padding = seg.samples()
        for b2, count in enumerate(seg.counts):
            if count:
                bitrates.add(b2 >> 4)
                audio_bytes += count * table[b2]
        frames += seg.frames
        samples += n
        seconds += n / sh.sample_rate
    delay, padding = first.samples()[1:]

    tag = first.tag
    header_seconds = None
    if tag is not None and tag.frames is not None:
        claimed = max(0, tag.frames * spf - tag.delay - tag.padding)
        header_seconds = claimed / h.sample_rate
        explained = (tag.kind == "VBRI" or first.truncated) and tag.frames == first.frames + 1
        # Frames lost that held only padding cost no audio: nothing worth a warning.
        same_audio = first.samples()[0] == claimed
        if tag.frames != first.frames and not explained and not same_audio:
            findings.append(
                Finding(
                    "header_mismatch",
                    f"{tag.kind} header says {header_seconds:.1f} s ({tag.frames} frames), "
                    f"stream is {first.samples()[0] / h.sample_rate:.1f} s "
                    f"({first.frames} frames); the walked stream wins",
                    first.offset,
                )
            )
    audio_seconds = frames * spf / h.sample_rate
    kbps = (audio_bytes * 8 / audio_seconds / 1000) if audio_seconds else 0.0
    fmt = AudioFormat(
        mpeg_version=h.version,
        layer=3,
        sample_rate=h.sample_rate,
        channels=1 if h.mono else 2,
        channel_mode=h.channel_mode,
        bitrate_mode="CBR" if len(bitrates) <= 1 else "VBR",
        bitrate_kbps=round(kbps, 1),
        frame_count=frames,
        crc_protected=h.protected,
    )
    return AudioInfo(
        format=fmt,
        samples=samples,
        duration_seconds=seconds,
        audio_offset=first.offset,
        audio_bytes=audio_bytes,
        encoder=tag.encoder if tag else None,
        encoder_delay=delay,
        encoder_padding=padding,
        header=tag.kind if tag else None,
        header_seconds=header_seconds,
        leading_silence_seconds=_leading_silence(buf, first, end),
        findings=tuple(findings),
    )


def _leading_silence(buf: Buffer, seg: _Segment, end: int) -> float:
    """Seconds of digital silence at the start; stops at the first frame with sound."""
    h = seg.first
    pos = seg.offset + (h.length if seg.tag is not None else 0)
    silent = 0
    limit = 30 * h.sample_rate // h.samples_per_frame  # never look past 30 s
    while silent < limit:
        here = _header_at(buf, pos)
        if here is None or not here.length or pos + here.length > end:
            break
        if not _is_silent(buf, pos, here):
            break
        silent += 1
        pos += here.length
    samples = silent * h.samples_per_frame - seg.samples()[1]
    return max(0.0, samples / h.sample_rate)
