"""Text that another demuxer would claim, hidden in an MP3: the ``polyglot`` error.

An MP3 may carry anything in its ID3 tag or in junk around its frames, and MP3 players
skip it. FFmpeg's probe does not always: it looks at the file's first bytes with every
demuxer it has and picks the highest score. An ID3 tag bigger than the first probe window
whose body starts with an SDP description is read as SDP, and FFmpeg binds UDP sockets
for the RTP streams it names; an HLS playlist right after a small tag, or a concat
script, makes it fetch or open what they list. Daily's player may probe the same way.

So a file that holds such text is refused, whatever the frames around it: there is no
innocent reason for hold music to carry a session description or a playlist. The
signatures are the ones FFmpeg's own probes (and players' playlist parsers) look for,
each at least 7 bytes long, so that compressed audio matching one by chance is not a
real risk (about 10^-10 for a 10 MB file).
"""

from __future__ import annotations

from holdmusic.audio import Buffer

# signature -> what it is (said to the user). Case as FFmpeg's probes compare it.
SIGNATURES: dict[bytes, str] = {
    b"c=IN IP": "an SDP session description (FFmpeg would open network sockets for it)",
    b"#EXTM3U": "an M3U/HLS playlist (a player would fetch what it lists)",
    b"#EXT-X-": "an HLS playlist (a player would fetch what it lists)",
    b"ffconcat version": "an ffconcat script (FFmpeg would open the files it lists)",
    b"dash:profile:": "a DASH manifest (a player would fetch what it lists)",
    b"[playlist]": "a PLS playlist (a player would fetch what it lists)",
    b"xspf.org/ns/": "an XSPF playlist (a player would fetch what it lists)",
}


def scan(data: Buffer) -> str | None:
    """What text format ``data`` holds that another demuxer or player would claim
    (the earliest one in the file), or None."""
    found: tuple[int, str] | None = None
    for signature, what in SIGNATURES.items():
        at = data.find(signature)
        if at >= 0 and (found is None or at < found[0]):
            found = (at, what)
    return None if found is None else f"{found[1]} at byte {found[0]:,}"


def message(data: Buffer) -> str | None:
    """The ``polyglot`` error's message for ``data``, or None when it holds no such text."""
    claimed = scan(data)
    if claimed is None:
        return None
    return (
        f"besides MP3 audio, the file holds {claimed}: a player or FFmpeg probing it may "
        "take it for that instead; hold music has no reason to carry one, so export the "
        "audio again without it (or strip the tags)"
    )
