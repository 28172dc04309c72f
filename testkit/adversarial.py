"""Crafted inputs that once made the validator slow or wrong, shared by tests and benchmarks.

Each builder takes a size in bytes and returns that many bytes (or a little less): the
scaling test times size N against 2N, and benchmarks/bench_validate.py times them at just
under Daily's 10 MB limit. Nothing here imports holdmusic: these are the attacker's files.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# MPEG-1 Layer III, 44.1 kHz, mono: 320 kbit/s frames are 1044 bytes (1045 padded),
# 128 kbit/s ones 417 bytes.
HEADER_320 = b"\xff\xfb\xe0\xc4"
HEADER_128 = b"\xff\xfb\x90\xc4"
SIDE_INFO_MONO = 17


def ff_soup(size: int) -> bytes:
    """Nothing but 0xFF: every byte starts a sync word that is never a header."""
    return b"\xff" * size


def sync_soup(size: int) -> bytes:
    """A valid 128 kbit/s header every 4 bytes: 417 is not a multiple of 4, nothing chains."""
    return (HEADER_128 * (size // 4 + 1))[:size]


def sync_every_frame_plus_one(size: int) -> bytes:
    """A valid header every 418 bytes, one more than its frame length: never two in a row."""
    frame = HEADER_128 + bytes(418 - 4)
    return (frame * (size // 418 + 1))[:size]


def _frame(header: bytes, length: int, payload: bytes) -> bytes:
    # zero side info (a silent but decodable frame), then the payload, cut to the length
    body = bytes(SIDE_INFO_MONO) + payload
    return header + (body * (length // max(1, len(body)) + 1))[: length - 4]


def info_frames(size: int) -> bytes:
    """320 kbit/s frames whose payload is 'Info' over and over: every frame looks like the
    start of a new encoding, at every offset a tag could sit."""
    frame = HEADER_320 + bytes(SIDE_INFO_MONO) + (b"Info" * 300)[: 1044 - 4 - SIDE_INFO_MONO]
    return (frame * (size // 1044 + 1))[:size]


def rate_switching(size: int, every: int = 4) -> bytes:
    """Valid silent frames that switch sample rate (44.1/48/32 kHz) every few frames."""
    out = bytearray()
    rates = ((0x90, 417), (0x94, 384), (0x98, 576))  # 128 kbit/s at 44.1, 48, 32 kHz
    i = 0
    while len(out) < size:
        b2, length = rates[(i // every) % 3]
        out += _frame(bytes((0xFF, 0xFB, b2, 0xC4)), length, b"")
        i += 1
    return bytes(out[:size])


def headers_over_noise(size: int, seed: int = 7) -> bytes:
    """Valid 128 kbit/s headers at exactly frame distance over random bytes: a perfect chain
    that decoders refuse frame after frame ("big_values too big", "invalid block type")."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += HEADER_128 + rng.randbytes(413)
    return bytes(out[:size])


def tiny_frames_cut(size: int) -> bytes:
    """The most frames 10 MB can hold: 72-byte MPEG-2.5 8 kbit/s frames (139,000 of them),
    silent, the last one cut, so every check that runs per frame runs on all of them."""
    frame = b"\xff\xe3\x18\xc4" + bytes(68)
    return (frame * (size // 72 + 1))[: size - 30]


def random_bytes(size: int, seed: int = 11) -> bytes:
    return random.Random(seed).randbytes(size)


WORST: dict[str, Callable[[int], bytes]] = {
    "0xFF soup": ff_soup,
    "sync word every 4 bytes": sync_soup,
    "sync word every 418 bytes": sync_every_frame_plus_one,
    "'Info' in every frame": info_frames,
    "sample rate switching every 4 frames": rate_switching,
    "sample rate switching every 8 frames": lambda size: rate_switching(size, every=8),
    "headers over noise": headers_over_noise,
    "139,000 tiny frames, cut": tiny_frames_cut,
    "random bytes": random_bytes,
}
