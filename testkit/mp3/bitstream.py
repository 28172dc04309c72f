"""The MP3 factory's own frame/bit oracle: header parsing, frame walking, Xing/LAME tags.

holdmusic must not be checked against itself, so this is an independent implementation;
standard library only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Minimal MPEG audio Layer III frame walker.  The factory needs its own (holdmusic must not be
# imported here: the fixtures are the independent ground truth for it).
# --------------------------------------------------------------------------------------------

_BITRATES_V1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_VERSION_NAMES = {3: "1", 2: "2", 0: "2.5"}


@dataclass(frozen=True)
class FrameHeader:
    offset: int
    version: str  # "1", "2", "2.5"
    bitrate: int  # bit/s, 0 for free format
    sample_rate: int
    padding: bool
    protected: bool  # a 16-bit CRC follows the header
    channels: int
    size: int  # bytes, 0 for free format

    @property
    def samples(self) -> int:
        return 1152 if self.version == "1" else 576

    @property
    def side_info(self) -> int:
        if self.version == "1":
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17


def parse_header(data: bytes, offset: int, *, allow_free: bool = False) -> FrameHeader | None:
    """Decode a Layer III frame header at ``offset`` or return None."""
    if offset + 4 > len(data):
        return None
    (word,) = struct.unpack_from(">I", data, offset)
    if word >> 21 != 0x7FF:
        return None
    version_bits = (word >> 19) & 3
    layer_bits = (word >> 17) & 3
    bitrate_index = (word >> 12) & 15
    rate_index = (word >> 10) & 3
    if version_bits == 1 or layer_bits != 1 or bitrate_index == 15 or rate_index == 3:
        return None
    if (word & 3) == 2:  # reserved emphasis
        return None
    if bitrate_index == 0 and not allow_free:
        return None
    version = _VERSION_NAMES[version_bits]
    table = _BITRATES_V1_L3 if version == "1" else _BITRATES_V2_L3
    bitrate = table[bitrate_index] * 1000
    rate = _SAMPLE_RATES[version_bits][rate_index]
    padding = bool((word >> 9) & 1)
    per_frame = 144 if version == "1" else 72
    size = per_frame * bitrate // rate + padding if bitrate else 0
    return FrameHeader(
        offset=offset,
        version=version,
        bitrate=bitrate,
        sample_rate=rate,
        padding=padding,
        protected=not (word >> 16) & 1,
        channels=1 if (word >> 6) & 3 == 3 else 2,
        size=size,
    )


def id3v2_size(data: bytes, offset: int = 0) -> int:
    """Total size of an ID3v2 tag at ``offset`` (header + body + optional footer), else 0."""
    if data[offset : offset + 3] != b"ID3" or len(data) < offset + 10:
        return 0
    s = data[offset + 6 : offset + 10]
    body = (s[0] << 21) | (s[1] << 14) | (s[2] << 7) | s[3]
    footer = 10 if data[offset + 5] & 0x10 else 0
    return 10 + body + footer


def walk(data: bytes, start: int) -> list[FrameHeader]:
    """Follow the frame chain from ``start`` while headers are valid and frames complete."""
    frames: list[FrameHeader] = []
    pos = start
    while (h := parse_header(data, pos)) is not None and pos + h.size <= len(data):
        frames.append(h)
        pos += h.size
    return frames


@dataclass(frozen=True)
class LameInfo:
    tag: bytes  # b"Xing" or b"Info"
    tag_offset: int  # absolute offset of the Xing/Info marker
    frames: int | None  # Xing frame count (excludes the Xing frame itself)
    frames_offset: int | None
    encoder: bytes | None  # e.g. b"LAME3.100"
    lame_offset: int | None
    delay: int | None
    padding: int | None


def read_xing(data: bytes, frame: FrameHeader) -> LameInfo | None:
    """Read a Xing/Info header (and LAME extension) from ``frame``.

    LAME places the tag right after the side info and ignores the 2-byte CRC even in CRC
    protected files (ffmpeg and mutagen read it at the same place), so try that offset first.
    """
    for extra in (0, 2):
        at = frame.offset + 4 + frame.side_info + extra
        tag = data[at : at + 4]
        if tag in (b"Xing", b"Info"):
            break
    else:
        return None
    (flags,) = struct.unpack_from(">I", data, at + 4)
    pos = at + 8
    frames = frames_offset = None
    if flags & 1:
        frames_offset = pos
        (frames,) = struct.unpack_from(">I", data, pos)
        pos += 4
    pos += 4 if flags & 2 else 0
    pos += 100 if flags & 4 else 0
    pos += 4 if flags & 8 else 0
    encoder = data[pos : pos + 9]
    if not encoder[:4].isalpha():
        return LameInfo(tag, at, frames, frames_offset, None, None, None, None)
    d = data[pos + 21 : pos + 24]
    delay = (d[0] << 4) | (d[1] >> 4)
    padding = ((d[1] & 0x0F) << 8) | d[2]
    return LameInfo(tag, at, frames, frames_offset, encoder, pos, delay, padding)


def crc16_arc(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC (poly 0x8005 reflected), the checksum LAME stores over its Info frame."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True)
class StreamFacts:
    """What the factory learns from walking one cleanly encoded file."""

    audio_start: int  # offset of the first frame (the Xing/Info frame if any)
    frames: list[FrameHeader]  # every frame, including a Xing/Info frame
    info: LameInfo | None

    @property
    def audio_frames(self) -> int:
        return len(self.frames) - (1 if self.info else 0)

    @property
    def spf(self) -> int:
        return self.frames[0].samples

    def gapless(self) -> int:
        delay = (self.info.delay or 0) if self.info else 0
        padding = (self.info.padding or 0) if self.info else 0
        return self.audio_frames * self.spf - delay - padding


def facts(data: bytes) -> StreamFacts:
    start = 0
    while (n := id3v2_size(data, start)) > 0:
        start += n
    frames = walk(data, start)
    if not frames:
        raise ValueError("no MPEG Layer III frames found")
    return StreamFacts(start, frames, read_xing(data, frames[0]))


def set_xing_frames(data: bytes, frames: int) -> bytes:
    """Rewrite the Xing frame count and re-seal the LAME tag CRC, so the lie looks intact."""
    f = facts(data)
    info = f.info
    assert info and info.frames_offset is not None and info.lame_offset is not None
    buf = bytearray(data)
    struct.pack_into(">I", buf, info.frames_offset, frames)
    first = f.frames[0].offset
    crc_at = info.lame_offset + 34
    struct.pack_into(">H", buf, crc_at, crc16_arc(bytes(buf[first:crc_at])))
    return bytes(buf)


def set_lame_gapless(data: bytes, *, delay: int, padding: int) -> bytes:
    """Rewrite the LAME tag's encoder delay and padding and re-seal its CRC."""
    f = facts(data)
    info = f.info
    assert info and info.lame_offset is not None
    buf = bytearray(data)
    at = info.lame_offset + 21
    buf[at : at + 3] = ((delay << 12) | padding).to_bytes(3, "big")
    first = f.frames[0].offset
    crc_at = info.lame_offset + 34
    struct.pack_into(">H", buf, crc_at, crc16_arc(bytes(buf[first:crc_at])))
    return bytes(buf)


def lame_crc_ok(data: bytes) -> bool:
    f = facts(data)
    assert f.info and f.info.lame_offset is not None
    crc_at = f.info.lame_offset + 34
    stored: int = struct.unpack_from(">H", data, crc_at)[0]
    return stored == crc16_arc(data[f.frames[0].offset : crc_at])


def strip_id3v2(data: bytes) -> bytes:
    start = 0
    while (n := id3v2_size(data, start)) > 0:
        start += n
    return data[start:]
