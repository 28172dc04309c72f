"""Hand-built tags and containers for MP3 fixtures: ID3v1/v2, Lyrics3, APEv2, junk,
Layer I frames, sync-salted noise.  Standard library only.
"""

from __future__ import annotations

import random
import struct

from testkit.mp3.bitstream import parse_header

# --------------------------------------------------------------------------------------------
# Hand-built tags and containers
# --------------------------------------------------------------------------------------------


def synchsafe(n: int) -> bytes:
    assert 0 <= n < 1 << 28
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def id3v2_frame(frame_id: str, body: bytes, version: int) -> bytes:
    size = synchsafe(len(body)) if version == 4 else struct.pack(">I", len(body))
    return frame_id.encode("ascii") + size + b"\x00\x00" + body


def id3v2_text(frame_id: str, text: str, version: int) -> bytes:
    # UTF-8 (3) exists only in v2.4; v2.3 gets UTF-16 with BOM (1)
    if version == 4:
        return id3v2_frame(frame_id, b"\x03" + text.encode("utf-8"), version)
    return id3v2_frame(frame_id, b"\x01" + text.encode("utf-16"), version)


def id3v2_tag(frames: bytes, *, version: int, footer: bool = False, pad: int = 0) -> bytes:
    """An ID3v2.3/2.4 tag.  A v2.4 footer ("3DI") forbids padding, per the spec."""
    assert not (footer and pad)
    body = frames + b"\x00" * pad
    flags = 0x10 if footer else 0
    head = b"ID3" + bytes((version, 0, flags)) + synchsafe(len(body))
    foot = b"3DI" + bytes((version, 0, flags)) + synchsafe(len(body)) if footer else b""
    return head + body + foot


def id3v2_apic(picture: bytes, version: int) -> bytes:
    body = b"\x00" + b"image/jpeg\x00" + b"\x03" + b"Cover\x00" + picture
    return id3v2_frame("APIC", body, version)


def id3v1(title: str = "Hold music", artist: str = "holdmusic tests") -> bytes:
    def field(s: str, n: int) -> bytes:
        return s.encode("latin-1")[:n].ljust(n, b"\x00")

    # ID3v1.1: comment 28 bytes + zero + track number; genre 255 = none
    return (
        b"TAG"
        + field(title, 30)
        + field(artist, 30)
        + field("Tests", 30)
        + b"2024"
        + field("generated", 28)
        + b"\x00\x01"
        + b"\xff"
    )


def lyrics3v2(lyrics: str) -> bytes:
    """A Lyrics3 v2.00 block; it must be followed by an ID3v1 tag."""
    fields = b""
    for fid, value in (("IND", b"10"), ("ETT", b"Hold music"), ("LYR", lyrics.encode("latin-1"))):
        fields += fid.encode() + f"{len(value):05d}".encode() + value
    body = b"LYRICSBEGIN" + fields
    return body + f"{len(body):06d}".encode() + b"LYRICS200"


def apev2(items: list[tuple[str, bytes, bool]]) -> bytes:
    """APEv2 tag with header and footer.  items: (key, value, is_binary)."""
    blob = b""
    for key, value, binary in items:
        flags = 1 << 1 if binary else 0  # bits 1-2: 0 = UTF-8 text, 1 = binary
        blob += struct.pack("<II", len(value), flags) + key.encode("ascii") + b"\x00" + value
    size = len(blob) + 32  # the size field counts items + footer, not the header
    has_header = 1 << 31
    head = b"APETAGEX" + struct.pack("<IIII", 2000, size, len(items), has_header | 1 << 29)
    foot = b"APETAGEX" + struct.pack("<IIII", 2000, size, len(items), has_header)
    return head + b"\x00" * 8 + blob + foot + b"\x00" * 8


def fake_jpeg(size: int, seed: int) -> bytes:
    """JPEG-looking bytes salted with MPEG sync words, as real pictures often are."""
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(size))
    buf[:4] = b"\xff\xd8\xff\xe0"
    for pos in range(64, size - 8, 997):
        buf[pos : pos + 4] = b"\xff\xfb\x90\x64"
    buf[-2:] = b"\xff\xd9"
    return bytes(buf)


def junk_without_chain(size: int, seed: int, following: bytes) -> bytes:
    """Random bytes with salted 0xFF/sync words in which no two frame headers chain up.

    ``following`` is what comes after the junk (the real stream): a fake header inside the
    junk must not point exactly at a real frame either, or the junk would extend the chain.
    Offset 0 carries no header at all, so a real frame just before the junk does not run
    into a plausible one-frame "continuation".
    """
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(size))
    for pos in range(0, size - 4, 61):
        buf[pos] = 0xFF
    for pos in range(7, size - 4, 293):
        buf[pos : pos + 4] = b"\xff\xfb\x90\x64"  # lone plausible headers (417-byte frames)
    while True:
        whole = bytes(buf) + following[:2000]
        bad = [
            pos
            for pos in range(size)
            if (h := parse_header(whole, pos)) is not None
            and (pos == 0 or parse_header(whole, pos + h.size) is not None)
        ]
        if not bad:
            return bytes(buf)
        for pos in bad:
            buf[pos + 1] = 0x00  # break the header, keep the 0xFF


def layer1_silence(frames: int) -> bytes:
    """MPEG-1 Layer I, 44.1 kHz mono 128 kbit/s frames with all bit allocations zero (silence).

    No tool here encodes Layer I, but a zero-allocation frame is trivially valid; ffmpeg's mp1
    decoder accepts it (checked at build time).
    """
    out = bytearray()
    acc = 0
    for _ in range(frames):
        # slot = 4 bytes; 12 * 128000 / 44100 = 34.83 slots: pad when the remainder carries
        acc += 12 * 128000 % 44100
        pad = acc >= 44100
        acc -= 44100 if pad else 0
        size = (12 * 128000 // 44100 + pad) * 4
        header = bytes((0xFF, 0xFF, 0x40 | (0x02 if pad else 0), 0xC0))
        out += header + b"\x00" * (size - 4)
    return bytes(out)


def sync_salted_random(size: int, seed: int) -> bytes:
    """Random bytes with FF FB 90 64 every ~400 bytes, never exactly one frame (417) apart."""
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(size))
    pos = 100
    while pos < size - 4:
        buf[pos : pos + 4] = b"\xff\xfb\x90\x64"
        pos += rng.choice((389, 397, 401, 409, 431))
    data = bytes(buf)
    chained = [
        p
        for p in range(size)
        if (h := parse_header(data, p)) is not None and parse_header(data, p + h.size)
    ]
    assert not chained, f"seed {seed} produced a frame chain at {chained[:3]}"
    return data
