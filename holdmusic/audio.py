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

import itertools
import math
import mmap
import re
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
    "leading_tag_size",
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
    error: bool = False  # the stream is unusable (no_audio, corrupt_audio), not just odd


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


class _Header:
    """One decoded 4-byte frame header, with what the walk and the side-info checks derive
    from it computed once (a stream repeats a handful of headers; see ``_HEADERS``)."""

    __slots__ = (
        "b1",
        "bitrate_index",
        "capacity",
        "channel_mode",
        "granules",
        "layer",
        "lead_shifts",
        "leads",
        "length",
        "mdb_shift",
        "mono",
        "padding",
        "protected",
        "reservoir",
        "sample_rate",
        "samples_per_frame",
        "side_info_size",
        "side_info_start",
        "sr_index",
        "version",
    )

    def __init__(
        self,
        b1: int,  # second header byte: version, layer, protection
        version: str,
        layer: int,
        protected: bool,
        bitrate_index: int,
        sr_index: int,
        sample_rate: int,
        padding: int,
        mono: bool,
        channel_mode: str,
        length: int,  # 0 for free format
    ) -> None:
        self.b1 = b1
        self.version = version
        self.layer = layer
        self.protected = protected
        self.bitrate_index = bitrate_index
        self.sr_index = sr_index
        self.sample_rate = sample_rate
        self.padding = padding
        self.mono = mono
        self.channel_mode = channel_mode
        self.length = length
        mpeg1 = version == "1"
        self.samples_per_frame = 384 if layer == 1 else 1152 if layer == 2 or mpeg1 else 576
        if mpeg1:
            self.side_info_size = 17 if mono else 32
        else:
            self.side_info_size = 9 if mono else 17
        self.side_info_start = 6 if protected else 4  # after the header and its CRC
        # Bytes of main data the frame carries after its header, CRC and side information.
        self.capacity = length - self.side_info_start - self.side_info_size
        # Largest main_data_begin (bytes reaching back into earlier frames): 9 bits in
        # MPEG-1, 8 after.
        self.reservoir = 511 if mpeg1 else 255
        # Where the granules' fields start in the side information, how many granules a
        # frame holds, the bits per granule and channel, the width of scalefac_compress
        # (ISO 11172-3 2.4.1.7, ISO 13818-3 2.4.1.7), and the channels.
        channels = 1 if mono else 2
        if mpeg1:
            self.granules = (9 + (5 if mono else 3) + 4 * channels, 2, 59, 4, channels)
        else:
            self.granules = (8 + (1 if mono else 2), 1, 63, 9, channels)
        # For the decodability checks: main_data_begin is the first 9 (MPEG-1) or 8 bits of
        # the side information, and each granule and channel starts with part2_3_length,
        # big_values, global_gain, scalefac_compress, the window-switching flag and (when
        # switching) the block type: ``leads`` bits, read in one piece from these shifts.
        at, granules, per, sfc, _ = self.granules
        total = self.side_info_size * 8
        self.mdb_shift = total - (9 if mpeg1 else 8)
        self.leads = 32 + sfc
        self.lead_shifts = tuple(
            total - at - k * per - self.leads for k in range(granules * channels)
        )

    def same_stream(self, other: _Header) -> bool:
        return (
            self.version == other.version
            and self.layer == other.layer
            and self.sr_index == other.sr_index
            and self.mono == other.mono
        )


# Decoded headers by their bits: a stream repeats a handful, so each is decoded once. The
# key drops the bits no field here depends on (mode extension, copyright, original), which
# bounds the cache to the ~16,000 distinct valid headers whatever the input.
_HEADERS: dict[int, _Header | None] = {}


def _header_at(buf: Buffer, pos: int) -> _Header | None:
    """Decode the frame header at ``pos``; ``None`` if those bytes cannot be one."""
    if pos + 4 > len(buf) or buf[pos] != 0xFF:
        return None
    key = buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3] & 0xC3
    try:
        return _HEADERS[key]
    except KeyError:
        h = _HEADERS[key] = _decode_header(key >> 16, (key >> 8) & 0xFF, key & 0xFF)
        return h


def _decode_header(b1: int, b2: int, b3: int) -> _Header | None:
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
                h = _decode_header(b1, b2, 0)
                if h is not None:
                    table[b2] = h.length
        _TABLES[key] = table
    return table


# A frame header the regex engine can find at C speed: 0xFF, then a second byte with the
# rest of the sync and a valid version and layer, a third byte with a real bitrate (not free
# format, not 15) and sample rate, a fourth without the reserved emphasis. Scanning byte by
# byte in Python made 10 MB of 0xFF take 20 s; this skips everything that cannot be a frame.
def _byte_class(ok: Sequence[int]) -> bytes:
    """A regex class of these byte values, written as runs of raw bytes: compiling it at
    start-up costs a fraction of one with an escaped literal per byte."""
    runs: list[list[int]] = []
    for b in sorted(ok):
        if runs and runs[-1][1] == b - 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return (
        b"["
        + b"".join(re.escape(bytes((lo,))) + b"-" + re.escape(bytes((hi,))) for lo, hi in runs)
        + b"]"
    )


_B1 = _byte_class([b for b in range(256) if b >= 0xE0 and (b >> 3) & 3 != 1 and (b >> 1) & 3])
_B2 = _byte_class([b for b in range(256) if 0 < b >> 4 < 15 and (b >> 2) & 3 != 3])
_B3 = _byte_class([b for b in range(256) if b & 3 != 2])
_SYNC = re.compile(b"\\xff" + _B1 + _B2 + _B3)
# The same, anchored on the third byte: re finds the 0xFF above with memchr, fast where
# 0xFF is rare, but in a run of 0xFF every byte starts a partial match; this one is slower
# on ordinary data and four times faster there.
_SYNC_DENSE = re.compile(_B2 + b"(?<=\\xff" + _B1 + _B2 + b")" + _B3)
_WINDOW = 1 << 16
_PROBE = 1024


def _search_sync(buf: Buffer, pos: int, end: int) -> int:
    """Offset of the first possible frame header in [pos, end), or -1."""
    while pos < end:
        stop = min(end, pos + _WINDOW)
        if _bytes(buf, pos, min(stop, pos + _PROBE)).count(b"\xff") > _PROBE >> 4:
            m = _SYNC_DENSE.search(buf, pos + 2, min(end, stop + 3))
            at = m.start() - 2 if m is not None else -1
        else:
            m = _SYNC.search(buf, pos, min(end, stop + 3))
            at = m.start() if m is not None else -1
        if 0 <= at < stop:
            return at
        pos = stop
    return -1


# How many candidate sync words one file may cost. A real stream needs a handful to find its
# first frame and one per resync; only crafted input (sync words that never chain, packed
# every few bytes) comes near. Past it, the rest is reported as unrecognised data: bounded
# time on any input, and decoders give up far sooner (libmpg123 resyncs over 1 KB at most).
_SEARCH_BUDGET = 5_000


class _Budget:
    """Candidate sync words left to try, shared by every search in one analysis."""

    __slots__ = ("left",)

    def __init__(self, left: int = _SEARCH_BUDGET) -> None:
        self.left = left


def _chain_at(buf: Buffer, pos: int, end: int, *, short_ok: bool) -> _Header | None:
    """The header at ``pos`` if ``_CHAIN`` frames of one stream follow each other from there.

    A shorter chain that runs into the end of the data (exactly, or into a cut last frame,
    which decoders still play) counts only where ``short_ok`` says a stream may start, and
    only with Layer III side information a decoder would accept: a lone header whose
    length happens to land on the end of the file is no evidence (an FLV was "MP1 audio").
    """
    first = _header_at(buf, pos)
    if first is None or first.length == 0:
        return None
    h, p = first, pos
    for _ in range(_CHAIN):
        p += h.length
        if p + 4 > end:  # at the end, or 1-3 stray bytes short of another header
            if not short_ok or first.layer != 3:
                return None
            return first if _short_chain_sane(buf, pos, end) else None
        nxt = _header_at(buf, p)
        if nxt is None or nxt.length == 0 or not nxt.same_stream(first):
            return None
        h = nxt
    return first


def _short_chain_sane(buf: Buffer, pos: int, end: int) -> bool:
    """A short chain holds a whole frame, and every whole frame is a tag frame or has side
    information a decoder accepts (a cut last frame alone is too little to go on)."""
    available = 0
    whole = 0
    while pos + 4 <= end:
        h = _header_at(buf, pos)
        if h is None or not h.length:
            return False
        if pos + h.length > end:
            break
        if _tag_frame(buf, pos, h) is None:
            if _side_info_fault(buf, pos, h, available) is not None:
                return False
            available = min(h.reservoir, available + h.capacity)
        whole += 1
        pos += h.length
    return whole > 0


def _find_chain(
    buf: Buffer, pos: int, end: int, budget: _Budget, short_at: int = -1
) -> tuple[int, _Header] | None:
    """First offset at or after ``pos`` where a believable chain of frames starts."""
    while budget.left > 0:
        at = _search_sync(buf, pos, end)
        if at < 0:
            return None
        budget.left -= 1
        h = _chain_at(buf, at, end, short_ok=at == short_at)
        if h is not None:
            return at, h
        pos = at + 1
    return None


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


def leading_tag_size(head: bytes, size: int) -> int:
    """Bytes of the ID3v2 tag that ``head`` (a file's first bytes) starts with, or 0; at
    most the file's ``size``."""
    return min(_id3v2_size(head, 0, len(head)), size)


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


class _TagFrame:
    """A Xing, Info or VBRI frame: the encoder's summary, not audio."""

    __slots__ = ("delay", "encoder", "frames", "kind", "padding", "stream_bytes")

    def __init__(
        self,
        kind: str,
        frames: int | None,
        encoder: str | None = None,  # set when a LAME extension gives gapless delay, padding
        delay: int = 0,
        padding: int = 0,
        stream_bytes: int | None = None,  # the Xing byte count, when present
    ) -> None:
        self.kind = kind
        self.frames = frames
        self.encoder = encoder
        self.delay = delay
        self.padding = padding
        self.stream_bytes = stream_bytes


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
    stream_bytes = None
    if flags & 2:
        stream_bytes = int.from_bytes(_bytes(buf, p, p + 4), "big")
        p += 4
    p += 100 if flags & 4 else 0  # seek table
    p += 4 if flags & 8 else 0  # quality
    # The LAME extension follows; ffmpeg's encoder writes it too, as "Lavc"/"Lavf". These
    # three are the ones ffmpeg honours (libavformat/mp3dec.c), so the same ones here.
    encoder = _bytes(buf, p, p + 9)
    if p + 24 <= frame_end and encoder[:4] in (b"LAME", b"Lavc", b"Lavf"):
        raw = int.from_bytes(_bytes(buf, p + 21, p + 24), "big")
        name = encoder.rstrip(b"\x00 ").decode("ascii", "replace")
        return _TagFrame(kind, frames, name, raw >> 12, raw & 0xFFF, stream_bytes)
    return _TagFrame(kind, frames, stream_bytes=stream_bytes)


# --- side information: what a decoder checks first -----------------------------------


def _side_info_fault(buf: Buffer, pos: int, h: _Header, available: int | None) -> str | None:
    """Why a decoder would refuse this Layer III frame's side information, or ``None``.

    The checks ffmpeg and libmpg123 make before decoding (ISO 11172-3 2.4.1.7): big_values
    is at most 288 (576 lines in pairs); a granule that switches windows has a block type
    other than 0; main_data_begin reaches back no further than the frames before it hold
    (``available``; ``None`` when unknown, after a resync); and the bits the granules claim
    (part2_3_length) fit in what this frame and the reservoir carry. Random bytes behind a
    valid header fail one of these in nine frames out of ten; a real encoder never does.
    """
    start = pos + h.side_info_start
    bits = int.from_bytes(buf[start : start + h.side_info_size])  # big-endian
    mdb = bits >> h.mdb_shift
    if available is not None and mdb > available:
        return f"main_data_begin reaches {mdb} bytes back, but only {available} came before"
    used = 0
    width = h.leads
    mask = (1 << width) - 1
    for shift in h.lead_shifts:
        lead = (bits >> shift) & mask  # small ints from here on: cheaper than the whole
        used += lead >> (width - 12)
        big_values = (lead >> (width - 21)) & 0x1FF
        if big_values > 288:
            return f"big_values {big_values} is over 288"
        if lead & 4 and not lead & 3:
            return "a window-switching granule with block type 0"
    budget = (mdb + h.capacity) * 8
    if used > budget:
        return f"its granules claim {used} bits of data, but only {budget} are there"
    return None


# --- side information: how loud a frame can play ----------------------------------------

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
# Where the long-block scalefactor bands start (ISO 11172-3 table B.8, ISO 13818-3 table
# B.2; MPEG-2.5 as libmpg123 and ffmpeg decode it): region0_count and region1_count count
# these bands, so they say which Huffman table codes which spectral lines.
# fmt: off
_BANDS_MPEG2 = (0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284,
                336, 396, 464, 522, 576)
_LONG_BANDS = {
    44100: (0, 4, 8, 12, 16, 20, 24, 30, 36, 44, 52, 62, 74, 90, 110, 134, 162, 196, 238,
            288, 342, 418, 576),
    48000: (0, 4, 8, 12, 16, 20, 24, 30, 36, 42, 50, 60, 72, 88, 106, 128, 156, 190, 230,
            276, 330, 384, 576),
    32000: (0, 4, 8, 12, 16, 20, 24, 30, 36, 44, 54, 66, 82, 102, 126, 156, 194, 240, 296,
            364, 448, 550, 576),
    22050: _BANDS_MPEG2,
    24000: (0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 114, 136, 162, 194, 232, 278, 332,
            394, 464, 540, 576),
    16000: _BANDS_MPEG2,
    11025: _BANDS_MPEG2,
    12000: _BANDS_MPEG2,
    8000: (0, 12, 24, 36, 48, 60, 72, 88, 108, 132, 160, 192, 232, 280, 336, 400, 476, 566,
           568, 570, 572, 574, 576),
}
# fmt: on
# The loudest sample one spectral line of value 1.0 decodes to, full scale being 1.0:
# 1.0102 in a long block, 1.1043 in a short one, 1.094 for the same line repeated granule
# after granule (a steady tone). Measured by decoding hand-built frames that each carry a
# single line, every one of the 576, through ffmpeg (docs/validator.md).
_LINE_PEAK = 1.11
# Many small lines at random phases: the peak of Gaussian noise over a minute of samples is
# about 5.3 times its RMS, and its RMS is 0.71 times the lines' root sum of squares.
_NOISE_PEAK = 4.0
# Below -80 dBFS a frame counts as digital silence (leading silence, "every frame is
# digital silence"); below -60 dBFS nobody hears it on a phone line ("plays as silence").
_SILENT_AMPLITUDE = 1e-4
_INAUDIBLE_AMPLITUDE = 1e-3


def _granule_levels(buf: Buffer, pos: int, h: _Header) -> list[tuple[float, float, float, bool]]:
    """How loud each granule of this Layer III frame can play, from its side information
    alone, channels added up: ``(line, likely, most, transient)``, full scale 1.0.

    global_gain sets the step (2^((gain-210)/4)), and the Huffman table of each region
    bounds its quantised values (|q|, heard as |q|^(4/3)); scalefactors, subblock gain and
    pre-emphasis only attenuate, so leaving them out keeps the levels high. What the side
    information cannot say is how the lines add up in time, so there are two levels:

    - ``most``, a true bound: every line that can be nonzero at its largest value, all in
      phase (an impulse). The granule's bits cap how many lines are nonzero: each costs
      two bits or more (its sign and its share of a Huffman code).
    - ``line``, its loudest spectral line: what "digital silence" is measured by (below
      -80 dBFS), the leading silence included.
    - ``likely``, for a long block of an encoder that codes transients in short blocks
      (``transient``: window switching; there ``likely`` is ``most``): the loudest line
      (a tone), plus the lines coded as 0 or +-1 (the count1 region, table 1) adding up as
      noise. Lines that need bigger tables are tonal peaks in practice.

    CBR encoders stuff silence with bits at a tiny step size, so bit counts alone can't tell.
    """
    start = pos + h.side_info_start
    size = h.side_info_size
    bits = int.from_bytes(_bytes(buf, start, start + size), "big")
    at, granules, per, sfc, channels = h.granules
    bands = _LONG_BANDS[h.sample_rate]
    shift = size * 8 - at
    out: list[tuple[float, float, float, bool]] = []
    for _ in range(granules):
        line = likely = most = 0.0
        transient = False
        for _ in range(channels):
            coded = (bits >> (shift - 12)) & 0xFFF  # part2_3_length: 0 means all zeros
            if coded:
                big = 2 * min(288, (bits >> (shift - 21)) & 0x1FF)
                step = _LINE_PEAK * 2 ** ((((bits >> (shift - 29)) & 0xFF) - 210) / 4)
                ts = shift - 29 - sfc  # the window-switching flag, then the tables
                regions = [(576 - big, 1)]  # (lines, largest value); count1 lines are 0 or 1
                if (bits >> (ts - 1)) & 1:
                    transient = True
                    q = _TABLE_MAX[(bits >> (ts - 9)) & 31]
                    regions.append((big, max(q, _TABLE_MAX[(bits >> (ts - 14)) & 31])))
                else:
                    r0 = (bits >> (ts - 20)) & 15
                    r1 = (bits >> (ts - 23)) & 7
                    b1 = min(bands[min(r0 + 1, 22)], big)
                    b2 = min(max(bands[min(r0 + r1 + 2, 22)], b1), big)
                    for n, table in ((b1, ts - 6), (b2 - b1, ts - 11), (big - b2, ts - 16)):
                        regions.append((n, _TABLE_MAX[(bits >> table) & 31]))
                regions.sort(key=lambda r: r[1], reverse=True)
                left = coded // 2
                lines = 0.0
                loudest = ones = 0
                for n, q in regions:
                    if n and q:
                        loudest = max(loudest, q)
                        ones += n if q == 1 else 0
                        n = min(n, left)
                        lines += n * q ** (4 / 3)
                        left -= n
                most += step * lines
                line = max(line, step * loudest ** (4 / 3))
                if not transient:
                    noise = _NOISE_PEAK * min(ones, coded // 2) ** 0.5
                    likely += step * (loudest ** (4 / 3) + noise)
            shift -= per
        out.append((line, most if transient else likely, most, transient))
    return out


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
        if tag == 0xFFFE and fmt > 0:  # WAVE_FORMAT_EXTENSIBLE: the codec is in the GUID
            tag = int.from_bytes(head[fmt + 32 : fmt + 34], "little")
        bits = int.from_bytes(head[fmt + 22 : fmt + 24], "little") if fmt > 0 else 0
        codec = _WAV_CODECS.get(tag)
        if codec is None:
            return f"a WAV (RIFF/WAVE) file (audio format 0x{tag:04x}), not an MP3"
        depth = f"{bits}-bit " if bits and tag in (1, 3) else ""
        return f"a WAV (RIFF/WAVE) file with {depth}{codec} audio, not an MP3"
    if head[:4] == b"RIFF":
        return "a RIFF file, not an MP3"
    if head[:4] == b"FLV\x01":
        return "an FLV (Flash video) file, not an MP3"
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


_FREE_SYNC = re.compile(
    b"\\xff"
    + _byte_class([b for b in range(256) if b >= 0xE0 and (b >> 3) & 3 != 1 and (b >> 1) & 3 == 1])
    + _byte_class([b for b in range(256) if b >> 4 == 0 and (b >> 2) & 3 != 3])
)


def _free_format(buf: Buffer, start: int, end: int) -> bool:
    """Layer III headers with bitrate index 0 (free format) that keep repeating."""
    stop = min(end, start + 65536)
    m = _FREE_SYNC.search(buf, start, stop)
    while m is not None:
        pos = m.start()
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
        m = _FREE_SYNC.search(buf, pos + 1, stop)
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


_ADTS_SYNC = re.compile(b"\\xff[\\xf0\\xf1\\xf8\\xf9]")


def _adts_chain_anywhere(buf: Buffer, start: int, end: int) -> bool:
    stop = min(end, start + 65536)
    m = _ADTS_SYNC.search(buf, start, stop)
    while m is not None:
        if _adts_chain(buf, m.start(), end):
            return True
        m = _ADTS_SYNC.search(buf, m.start() + 1, stop)
    return False


# --- the walk ------------------------------------------------------------------------

# Decoders (libmpg123, and ffmpeg after it) output each frame 529 samples late: the
# synthesis filterbank's delay. Gapless players skip the encoder's delay *plus* these.
_DECODER_DELAY = 529

# A warning that repeats (a thousand joins in a crafted file) is listed this often, then
# summed up in one more line: the output stays readable and memory stays bounded.
_MAX_SAME_FINDINGS = 5

# Past this many segments (joins, new encoder headers) a crafted file gets no more: the
# rest is walked as the frames a decoder plays, and the findings already say files were
# joined. Each segment costs a search; a thousand of them made the walk crawl.
_MAX_SEGMENTS = 64

# Side information checked per stream: every frame of a short one, an even spread of a
# long one (and all of them as soon as the spread finds a bad frame).
_SIDE_INFO_SAMPLE = 64
# "Every frame", up to this many (a 10 MB file of 8 kbit/s frames has 139,000): past it,
# an even spread of this many, so that any input stays well under a second.
_SIDE_INFO_ALL = 10_000
# Walk findings that say the stream was damaged, so every frame's side info is checked.
_DAMAGE = frozenset({"junk_before_audio", "junk_in_stream", "truncated_frame", "header_mismatch"})


class _Segment:
    """A run of frames of one stream, from one tag frame (or the start) to the next."""

    __slots__ = ("first", "frames", "offset", "tag")

    def __init__(self, first: _Header, offset: int, tag: _TagFrame | None = None) -> None:
        self.first = first
        self.offset = offset
        self.tag = tag
        self.frames = 0  # frames a decoder decodes: a cut last frame counts, a leading tag not

    @property
    def samples(self) -> int:
        return self.frames * self.first.samples_per_frame


class _Walk:
    """Everything one pass over the stream collects; linear in the number of frames."""

    __slots__ = ("audio_bytes", "findings", "positions", "segments")

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.findings: list[Finding] = []
        self.positions: list[int] = []  # offset of every decoded frame
        self.audio_bytes = 0  # of the decoded frames, as far as the file holds them

    def open(self, buf: Buffer, pos: int, h: _Header, tag: _TagFrame | None) -> _Segment:
        if len(self.segments) >= _MAX_SEGMENTS:
            # A crafted file: frames of a stream seen before go on that segment's count.
            for seg in self.segments[1:]:
                if seg.first.same_stream(h):
                    return seg
        seg = _Segment(first=h, offset=pos, tag=tag)
        self.segments.append(seg)
        return seg

    def count(self, seg: _Segment, pos: int, h: _Header, size: int) -> None:
        self.positions.append(pos)
        self.audio_bytes += size
        seg.frames += 1


def _walk(buf: Buffer, pos: int, limit: int, b1: int, table: list[int], at: list[int]) -> int:
    """Hop from frame to frame while headers match the stream; returns where it stopped.

    The hot loop of the whole tool: two comparisons, a table lookup and an append per frame.
    Until the last few frames before ``limit`` no frame can run past it, so that check is
    left out of the first loop.
    """
    append = at.append
    safe = limit - max(table) - 4
    while pos <= safe:
        if buf[pos] != 0xFF or buf[pos + 1] != b1:
            return pos
        length = table[buf[pos + 2]]
        if not length:
            return pos
        append(pos)
        pos += length
    last = limit - 4
    while pos <= last:
        if buf[pos] != 0xFF or buf[pos + 1] != b1:
            break
        length = table[buf[pos + 2]]
        if not length or pos + length > limit:
            break
        append(pos)
        pos += length
    return pos


class _Candidates:
    """Where a Xing/Info/VBRI frame could start: the walk stops there to ask whether a new
    encoding begins.

    ``bytes.find`` runs at C speed, far cheaper than asking every frame; each signature's
    next occurrence is remembered, so the searches together read the file once, and a
    payload that repeats 'Info' 250 times a frame costs one stop per frame, not per word.
    """

    def __init__(self, buf: Buffer, end: int) -> None:
        self.buf, self.end = buf, end
        self.found: dict[bytes, tuple[int, int]] = {}  # signature -> (searched from, found at)

    def _find(self, sig: bytes, start: int) -> int:
        since, at = self.found.get(sig, (self.end, self.end))
        if not since <= start <= at:
            at = self.buf.find(sig, start, self.end)
            at = self.end if at < 0 else at
            self.found[sig] = (start, at)
        return at

    def next(self, pos: int, h: _Header) -> int:
        best = self.end
        xing = (4 + h.side_info_size, 6 + h.side_info_size)  # without and with a CRC
        for sig, offsets in ((b"Xing", xing), (b"Info", xing), (b"VBRI", (36,))):
            for o in offsets:
                at = self._find(sig, pos + o)
                if at < self.end:
                    best = min(best, at - o)
        return best


def analyze(buf: Buffer) -> AudioInfo:
    """Walk the whole stream in ``buf``; raise :class:`NotMP3` when there is none."""
    size = len(buf)
    start = _skip_leading_tags(buf, size)
    end = _strip_trailing_tags(buf, start, size)
    head = _bytes(buf, 0, 16)
    # A RIFF-wrapped MP3 holds a perfectly good frame chain; judge the container first.
    if identify(head) is not None and not head.startswith(b"ID3"):
        raise _describe_not_mp3(buf, start, end)
    budget = _Budget()
    found = _find_chain(buf, start, end, budget, short_at=start)
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

    walk = _walk_stream(buf, pos, first, end, budget, scan=False)
    lead = walk.segments[0]
    odd = walk.findings or lead.tag is None or lead.tag.frames != lead.frames
    if odd and _Candidates(buf, end).next(pos + first.length, first) < end:
        # Something is odd (or the stream has no summary to check it against) and a second
        # encoder header could hide mid-stream: walk again, stopping wherever one could start.
        walk = _walk_stream(buf, pos, first, end, _Budget(budget.left), scan=True)
    findings += walk.findings
    findings += _check_side_info(buf, walk)
    return _summarise(buf, walk, _cap(findings), end)


def _walk_stream(
    buf: Buffer, pos: int, first: _Header, end: int, budget: _Budget, *, scan: bool
) -> _Walk:
    """Walk every frame from ``pos`` to ``end``, splitting where a new encoding starts.

    Every frame after the first is decoded by a player, tag frames included (ffmpeg and
    libmpg123 read a Xing/Info header only at the start), so every one is counted; the
    segments only tell where the user should hear about a join.
    """
    w = _Walk()
    seg = w.open(buf, pos, first, _tag_frame(buf, pos, first))
    if seg.tag is None:
        w.count(seg, pos, first, first.length)
    pos += first.length
    candidates = _Candidates(buf, end)
    candidate = candidates.next(pos, first) if scan else end
    joined = False  # a mid-stream ID3 tag already told the user that files were joined
    while True:
        if candidate < pos:
            candidate = candidates.next(pos, seg.first) if scan else end
        limit = min(candidate, end)
        # Hop only over frames of this segment's stream (the CRC bit may change).
        b1 = buf[pos + 1] if pos + 1 < end else 0
        if b1 | 1 != seg.first.b1 | 1:
            b1 = 0
        sr = seg.first.sr_index
        n, start = len(w.positions), pos
        pos = _walk(buf, pos, limit, b1, _length_table(b1, sr), w.positions)
        seg.frames += len(w.positions) - n
        w.audio_bytes += pos - start
        if pos >= end:
            break
        here = _header_at(buf, pos)
        if here is not None and here.length and here.same_stream(seg.first):
            if pos + here.length > end:
                # Cut short: ffmpeg still decodes it as a whole frame, so it counts.
                w.count(seg, pos, here, end - pos)
                w.findings.append(
                    Finding(
                        "truncated_frame",
                        f"the last frame, at byte {pos}, is cut short ({end - pos} of "
                        f"{here.length} bytes): the file was truncated",
                        pos,
                    )
                )
                break
            if pos == limit and (tag := _tag_frame(buf, pos, here)) is not None:
                seg = w.open(buf, pos, here, tag)
                if not joined:
                    w.findings.append(_joined(seg, "a new encoder header"))
                joined = False
                if len(w.segments) >= _MAX_SEGMENTS:
                    scan = False
                    candidate = end
            # A tag frame mid-stream is decoded like any frame, as is a CRC bit change or a
            # frame running past a false candidate.
            w.count(seg, pos, here, here.length)
            pos += here.length
            continue
        if tag_size := _id3v2_size(buf, pos, end):
            w.findings.append(
                Finding(
                    "appended_stream",
                    f"an ID3 tag sits in the middle of the audio at byte {pos}: "
                    "files were joined end to end; all their audio is counted",
                    pos,
                )
            )
            joined = True
            pos += tag_size
        resync = _find_chain(buf, pos, end, budget, short_at=pos)
        if resync is None:
            if pos < end and _nonzero(buf, pos, min(end, pos + 65536)):
                why = "" if budget.left > 0 else " (too many false frame headers to search on)"
                w.findings.append(
                    Finding(
                        "junk_in_stream",
                        f"{end - pos} bytes of unrecognised data at byte {pos}, after the "
                        f"last frame{why}",
                        pos,
                    )
                )
            break
        nxt, nh = resync
        if nxt > pos and _nonzero(buf, pos, nxt):
            w.findings.append(
                Finding(
                    "junk_in_stream",
                    f"{nxt - pos} bytes of unrecognised data at byte {pos}, between frames "
                    "(players skip it, but it can click)",
                    pos,
                )
            )
        if nh.layer != 3:
            w.findings.append(
                Finding(
                    "junk_in_stream",
                    f"MPEG Layer {nh.layer} audio from byte {nxt} on is not MP3; not counted",
                    nxt,
                )
            )
            break
        pos = nxt
        tag = _tag_frame(buf, nxt, nh)
        if not nh.same_stream(seg.first) or (scan and tag is not None):
            seg = w.open(buf, nxt, nh, tag)
            if not joined:
                what = "a new encoder header" if seg.tag else _describe(nh)
                w.findings.append(_joined(seg, what))
            joined = False
            w.count(seg, pos, nh, nh.length)
            pos += nh.length
            candidate = candidates.next(pos, nh) if scan else end
    return w


def _joined(seg: _Segment, what: str) -> Finding:
    return Finding(
        "appended_stream",
        f"a second stream starts at byte {seg.offset} ({what}): files were joined end to end; "
        "all their audio is counted",
        seg.offset,
    )


def _describe(h: _Header) -> str:
    mode = "mono" if h.mono else "stereo"
    return f"MPEG-{h.version} Layer III, {h.sample_rate} Hz {mode}"


def _cap(findings: list[Finding]) -> list[Finding]:
    """At most a few findings of each code, then one line that counts the rest."""
    seen: dict[str, int] = {}
    out: list[Finding] = []
    for f in findings:
        n = seen[f.code] = seen.get(f.code, 0) + 1
        if n <= _MAX_SAME_FINDINGS:
            out.append(f)
    for code, n in seen.items():
        if n > _MAX_SAME_FINDINGS:
            more = n - _MAX_SAME_FINDINGS
            out.append(Finding(code, f"... and {more} more like this ({n} in all)"))
    return out


# --- side information, frame by frame ------------------------------------------------


def _check_side_info(buf: Buffer, w: _Walk) -> list[Finding]:
    """``corrupt_audio`` when most frames would not decode; ``corrupt_frames`` for some.

    Checking a frame costs more than walking it, so a clean-looking stream gets an even
    spread of frames checked (enough to tell a stream of garbage for sure); every frame is
    checked (up to 10,000) when the spread finds a bad one, or when the walk already saw
    damage (junk, a cut, a header that disagrees). A lone bad frame in an otherwise intact
    file can slip through: it plays as a click, and the duration stays right.
    """
    positions = w.positions
    n = len(positions)
    if n == 0:
        return []
    step = max(1, n // _SIDE_INFO_SAMPLE)
    sample = range(0, n, step)
    bad = _bad_frames(buf, w, sample)
    damaged = any(f.code in _DAMAGE for f in w.findings)
    if step > 1 and len(bad) * 2 <= len(sample) and (bad or damaged):
        sample = range(0, n, max(1, n // _SIDE_INFO_ALL))
        bad = _bad_frames(buf, w, sample)
    if not bad:
        return []
    checked = len(sample)
    first_pos, why = bad[0]
    if len(bad) * 2 > checked:
        return [
            Finding(
                "corrupt_audio",
                f"{len(bad)} of {checked} frames checked would not decode (the first, at byte "
                f"{first_pos}: {why}): valid-looking frame headers over damaged or random data",
                first_pos,
                error=True,
            )
        ]
    where = ", ".join(f"byte {p}" for p, _ in bad[:5]) + (", ..." if len(bad) > 5 else "")
    return [
        Finding(
            "corrupt_frames",
            f"{len(bad)} of {n} frames would not decode and play as a gap or a click "
            f"({where}; the first: {why})",
            first_pos,
        )
    ]


def _bad_frames(buf: Buffer, w: _Walk, indexes: range) -> list[tuple[int, str]]:
    positions = w.positions
    # The bit reservoir: main data the frames decoded just before can hold. Junk between
    # frames does not empty it (the decoder never sees junk); only the very start of a
    # file without a tag frame may reach back into frames that were cut away.
    tagged = w.segments[0].tag is not None
    size = len(buf)
    bad: list[tuple[int, str]] = []
    last = -2
    reservoir = prev_capacity = 0
    headers = _HEADERS
    for i in indexes:
        pos = positions[i]
        h = headers.get(buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3] & 0xC3)
        if h is None and (h := _header_at(buf, pos)) is None:
            last = -2
            continue
        if pos + h.length > size:
            continue  # a cut last frame: its side info may be all there is
        most = h.reservoir
        if i == last + 1:  # checking every frame: keep a running sum
            reservoir += prev_capacity
        elif i:  # from the offsets: junk between frames only makes the bound looser
            overhead = h.length - h.capacity
            reservoir = pos - positions[i - 1] - overhead
            if reservoir < most:  # look further back only as far as main_data_begin needs
                start = pos + h.side_info_start
                mdb = buf[start] << 1 | buf[start + 1] >> 7 if most > 255 else buf[start]
                j = i - 1
                while mdb > reservoir < most and j > 0:
                    reservoir += positions[j] - positions[j - 1] - overhead
                    j -= 1
        else:
            reservoir = 0
        if reservoir > most:
            reservoir = most
        last, prev_capacity = i, h.capacity
        why = _side_info_fault(buf, pos, h, reservoir if tagged or reservoir >= most else None)
        if why is not None:
            bad.append((pos, why))
    return bad


def _summarise(buf: Buffer, w: _Walk, findings: list[Finding], end: int) -> AudioInfo:
    first = w.segments[0]
    h = first.first
    spf = h.samples_per_frame
    raw = sum(seg.samples for seg in w.segments)
    frames = sum(seg.frames for seg in w.segments)
    audio_bytes = w.audio_bytes
    # CBR or VBR from an even spread of frames: a VBR encoder varies the bitrate all along
    positions = w.positions
    step = max(1, len(positions) // _SIDE_INFO_SAMPLE)
    bitrates = {buf[p + 2] >> 4 for p in itertools.islice(positions, 0, None, step)}
    if positions:
        bitrates.add(buf[positions[-1] + 2] >> 4)

    # What a decoder outputs (ffmpeg 5.1 and libmpg123 agree): with a LAME tag, skip the
    # encoder delay plus the decoder's own 529 samples, and drop the samples from
    # frames*spf - padding + 529 up to frames*spf of the tagged count: so padding under 529
    # trims nothing at the end, and a cut file keeps only what its frames decode to.
    tag = first.tag
    skip = 0
    drop_from = drop_to = 0
    lame = tag is not None and tag.encoder is not None
    if tag is not None and tag.encoder is not None:
        skip = tag.delay + _DECODER_DELAY
        total = len(buf) - first.offset  # as ffmpeg measures: from the tag frame on
        concatenated = (
            tag.stream_bytes is not None
            and total > tag.stream_bytes
            and total - tag.stream_bytes > tag.stream_bytes >> 4
        )
        # ffmpeg ignores the frame count of a file much longer than the Xing byte count
        # says ("invalid concatenated file"): nothing is then dropped at the end.
        if tag.frames is not None and not concatenated:
            drop_to = tag.frames * spf
            drop_from = drop_to - tag.padding + _DECODER_DELAY
    kept = max(0, raw - skip)
    if drop_from < drop_to:
        kept -= max(0, min(drop_to, raw) - max(drop_from, skip))
    removed = raw - kept
    seconds = sum(seg.samples / seg.first.sample_rate for seg in w.segments)
    seconds = max(0.0, seconds - removed / h.sample_rate)

    header_seconds = None
    if tag is not None and tag.frames is not None:
        if lame:
            claimed = max(0, tag.frames * spf - tag.delay - max(tag.padding, _DECODER_DELAY))
        else:
            claimed = tag.frames * spf
        header_seconds = claimed / h.sample_rate
        walked = first.frames
        explained = tag.kind == "VBRI" and tag.frames == walked + 1  # VBRI counts itself
        # Frames lost that held only padding cost (almost) no audio: not worth a warning.
        lead = max(0, walked * spf - skip) if lame else walked * spf
        if tag.frames != walked and not explained and abs(lead - claimed) >= spf:
            findings.append(
                Finding(
                    "header_mismatch",
                    f"{tag.kind} header says {header_seconds:.1f} s ({tag.frames} frames), "
                    f"stream is {lead / h.sample_rate:.1f} s ({walked} frames); the walked "
                    "stream wins",
                    first.offset,
                )
            )
    audio_seconds = sum(seg.samples / seg.first.sample_rate for seg in w.segments)
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
    quiet = _quiet_start(buf, w, end, skip)
    if len(positions) == 1 and kept:
        # ffmpeg's demuxer starts on a frame only once it has seen the next one's header, and
        # libmpg123 plays no frame cut short: a stream of a single audio frame plays nothing
        # (libmpg123 at most that frame, a few milliseconds, after a LAME tag).
        kept, seconds = 0, 0.0
        findings.append(
            Finding(
                "no_audio",
                f"no audio: the stream ends within its first audio frame (byte {positions[0]}); "
                "a decoder needs a second frame header to start, so it plays nothing: "
                "callers would hear silence",
                positions[0],
                error=True,
            )
        )
    elif quiet.everything_silent and kept:
        findings.append(
            Finding(
                "no_audio",
                "every frame is digital silence (nothing above -80 dBFS): callers would hear "
                "nothing",
                first.offset,
                error=True,
            )
        )
    elif quiet.everything_inaudible and kept:
        findings.append(
            Finding(
                "no_audio",
                "plays as silence (below -60 dBFS): by the side information of every frame, "
                f"nothing in it is louder than about {_dbfs(quiet.loudest)} dBFS (dither, "
                "hiss or near-silence); callers would hear nothing",
                first.offset,
                error=True,
            )
        )
    return AudioInfo(
        format=fmt,
        samples=kept,
        duration_seconds=seconds,
        audio_offset=first.offset,
        audio_bytes=audio_bytes,
        encoder=tag.encoder if tag else None,
        encoder_delay=tag.delay if lame and tag else 0,
        encoder_padding=tag.padding if lame and tag else 0,
        header=tag.kind if tag else None,
        header_seconds=header_seconds,
        leading_silence_seconds=quiet.silence_seconds,
        findings=tuple(findings),
    )


# Far enough to judge any file Daily accepts (under 60 s) as silent from start to end.
_SILENCE_HORIZON_SECONDS = 61


class _Quiet:
    """What the frames from the start say about silence (see :func:`_quiet_start`)."""

    __slots__ = ("everything_inaudible", "everything_silent", "loudest", "silence_seconds")

    def __init__(self, silence: float, silent: bool, inaudible: bool, loudest: float) -> None:
        self.silence_seconds = silence  # digital silence (below -80 dBFS) at the start
        self.everything_silent = silent  # the whole stream is digital silence
        self.everything_inaudible = inaudible  # the whole stream stays below -60 dBFS
        self.loudest = loudest  # the loudest level seen, full scale 1.0


def _quiet_start(buf: Buffer, w: _Walk, end: int, skip: int) -> _Quiet:
    """Walk the frames from the start: the leading digital silence (no spectral line above
    -80 dBFS, as before issue 17), and whether the whole stream is inaudible (below -60 dBFS
    by :func:`_granule_levels`) or, on top of that, digital silence.

    Every frame is judged, in order, until the leading silence has ended and a frame could
    be heard, so music stops the loop within a frame or two, and a file is called silent
    only when every frame (up to a minute of them) was judged. A granule's sound spreads
    over the two granules after it, so around a transient three granules are added up.
    """
    h = w.segments[0].first
    spf = h.samples_per_frame
    limit = _SILENCE_HORIZON_SECONDS * h.sample_rate // spf
    positions = w.positions
    silent = judged = cut = 0
    loudest = 0.0
    leading = True  # digital silence in every frame so far, from the start
    inaudible = True  # nothing could be heard so far
    recent: list[tuple[float, bool]] = [(0.0, False), (0.0, False)]  # two granules before
    # An impulse coded in long blocks can play 30 dB louder than its loudest line: only an
    # encoder that codes transients in short blocks earns the "likely" level of a long block.
    # LAME does (its own tag says LAME), and so does any stream seen switching windows.
    tag = w.segments[0].tag
    switches = tag is not None and (tag.encoder or "").startswith("LAME")
    for pos in itertools.islice(positions, limit):
        here = _header_at(buf, pos)
        if here is None or not here.length or pos + here.length > end:
            cut += 1  # a cut last frame: too little to judge, and no sound to speak of
            continue
        frame = lines = 0.0
        for line, likely, most, transient in _granule_levels(buf, pos, here):
            switches = switches or transient
            level = likely if switches else most
            (a, ta), (b, tb) = recent
            frame = max(frame, a + b + level if transient or ta or tb else level)
            lines = max(lines, line)
            recent = [(b, tb), (level, transient)]
        loudest = max(loudest, frame)
        inaudible = inaudible and frame < _INAUDIBLE_AMPLITUDE
        quiet = lines < _SILENT_AMPLITUDE
        leading = leading and quiet
        silent += leading
        judged += 1
        if not (leading or inaudible):
            break
    samples = silent * spf - skip
    everything = inaudible and judged > 0 and judged + cut == len(positions)
    return _Quiet(max(0.0, samples / h.sample_rate), everything and leading, everything, loudest)


def _dbfs(level: float) -> str:
    """A level (full scale 1.0) in whole dBFS, as a person reads it: "-68"."""
    return "-inf" if level <= 0 else f"{20 * math.log10(level):.0f}"
