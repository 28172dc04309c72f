"""holdmusic.rules: verdicts on files, Daily's limits, error codes, bounded memory, and a
property test that no input (however broken) makes the validator itself fail."""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from holdmusic import files, rules
from testkit.mp3 import Made, id3v2_tag, id3v2_text

# Every fixture mp3factory builds (tests/test_audio.py lists the measurable ones).
MB = 1_000_000


# --- every fixture: the verdict a user gets ---------------------------------------------


def test_verdict_of_every_fixture(mp3s: dict[str, Made], any_fixture: str) -> None:
    made = mp3s[any_fixture]
    v = rules.check_path(made.path)
    assert v.path == str(made.path)
    assert v.size_bytes == made.path.stat().st_size
    assert v.ok is made.ok
    codes = [p.code for p in v.problems]
    if made.ok:
        assert v.errors == ()
    else:
        assert made.error_code in [p.code for p in v.errors], v.problems
    assert set(made.warnings) <= {p.code for p in v.warnings}, codes
    if made.expected_samples is None:
        assert v.info is None or made.error_code == "too_large"
        return
    assert v.info is not None
    assert v.info.samples == made.expected_samples
    assert v.info.format.sample_rate == made.sample_rate
    assert v.info.format.channels == made.channels
    assert v.info.format.mpeg_version == made.mpeg_version
    assert v.duration_seconds == pytest.approx(made.expected_samples / made.sample_rate)


@pytest.mark.parametrize("name", ["cbr_mono_44k", "xing_lie", "wav_mp3", "free_format", "text"])
def test_check_bytes_agrees_with_check_path(mp3s: dict[str, Made], name: str) -> None:
    path = mp3s[name].path
    assert rules.check_bytes(path.read_bytes(), str(path)) == rules.check_path(path)


def test_load_keeps_exactly_the_bytes_it_judged(mp3s: dict[str, Made]) -> None:
    path = mp3s["vbr_48k"].path
    verdict, data = rules.load(path)
    assert data == path.read_bytes()
    assert verdict == rules.check_path(path)
    bad, nothing = rules.load(mp3s["too_large"].path)
    assert [p.code for p in bad.errors] == ["too_large"] and nothing is None


def test_a_clean_file_has_no_problems(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["cbr_mono_44k"].path)
    assert v.problems == ()
    assert v.passed(strict=True)


def test_warnings_never_fail_unless_strict(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["cbr_stereo_128k"].path)
    assert [p.code for p in v.problems] == ["stereo"]
    assert v.ok and v.passed() and not v.passed(strict=True)


# --- Daily's limits: strictly under 60.0 s and under 10,000,000 bytes -------------------


def test_exactly_60_seconds_is_too_long(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["exactly_60"].path)
    assert v.info is not None and v.info.samples == 60 * 44100
    assert [p.code for p in v.errors] == ["too_long"]
    assert "60.000 s" in v.errors[0].message


def test_just_under_60_seconds_passes(mp3s: dict[str, Made]) -> None:
    for name, samples in (("just_under_60", 2_641_590), ("gapless_59_98", 2_645_118)):
        v = rules.check_path(mp3s[name].path)
        assert v.ok, v.problems
        assert v.info is not None and v.info.samples == samples


def test_ten_million_bytes_is_too_large(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["too_large"].path)
    assert v.size_bytes == 10_000_000
    assert [p.code for p in v.errors] == ["too_large"]
    assert "10,000,000 bytes" in v.errors[0].message


def test_one_byte_less_passes(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["just_under_10mb"].path)
    assert v.size_bytes == 9_999_999
    assert v.ok, v.problems
    assert v.info is not None and v.info.samples == 20 * 44100


def test_limits_are_configurable(mp3s: dict[str, Made]) -> None:
    thirty = mp3s["cbr_stereo_128k"].path  # 30.000 s, 481,070 bytes
    assert rules.check_path(thirty).ok
    shorter = rules.check_path(thirty, rules.Limits(max_seconds=20))
    assert [p.code for p in shorter.errors] == ["too_long"]
    assert "20 s limit" in shorter.errors[0].message
    # the bound is strict: 30.000 s is not under 30 s
    assert not rules.check_path(thirty, rules.Limits(max_seconds=30)).ok
    assert rules.check_path(thirty, rules.Limits(max_seconds=30.001)).ok
    size = thirty.stat().st_size
    assert [p.code for p in rules.check_path(thirty, rules.Limits(max_bytes=size)).errors] == [
        "too_large"
    ]
    assert rules.check_path(thirty, rules.Limits(max_bytes=size + 1)).ok
    # a longer limit lets a 90 s file through, measured by its frames, not its lying header
    lie = rules.check_path(mp3s["xing_lie"].path, rules.Limits(max_seconds=91))
    assert lie.ok and [p.code for p in lie.warnings] == ["header_mismatch"]


def test_too_large_still_says_what_the_file_is(tmp_path: Path, mp3s: dict[str, Made]) -> None:
    wav = mp3s["wav_pcm"].path
    v = rules.check_path(wav, rules.Limits(max_bytes=1000))
    assert [p.code for p in v.errors] == ["too_large", "not_mp3"]
    assert "WAV" in v.errors[1].message


# --- files that cannot be judged at all ---------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    v = rules.check_path(tmp_path / "nope.mp3")
    assert [(p.code, p.severity) for p in v.problems] == [("not_found", "error")]
    assert v.size_bytes is None and v.info is None and not v.ok


def test_empty_file(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["empty"].path)
    assert [p.code for p in v.problems] == ["empty"]
    assert v.size_bytes == 0
    assert rules.check_bytes(b"", "x").problems == v.problems


def test_directory_is_unreadable(tmp_path: Path) -> None:
    v = rules.check_path(tmp_path)
    assert [p.code for p in v.problems] == ["unreadable"]
    assert "directory" in v.problems[0].message


def test_device_and_fifo_are_unreadable(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    for path in (fifo, Path(os.devnull)):
        v = rules.check_path(path)  # must not block reading a FIFO
        assert [p.code for p in v.problems] == ["unreadable"], path
        assert "not a regular file" in v.problems[0].message


def _check_as_nobody(path: Path) -> rules.Verdict:
    """root reads anything: judge the file from a forked child that dropped to 'nobody'."""
    return _as_nobody(lambda: rules.check_path(path))


def test_file_without_read_permission_is_unreadable(mp3s: dict[str, Made]) -> None:
    # not tmp_path: its parents are private to root, and 'nobody' must reach the file
    folder = Path(tempfile.mkdtemp(prefix="holdmusic-perm-"))
    try:
        folder.chmod(0o755)
        path = folder / "locked.mp3"
        path.write_bytes(mp3s["short_10s"].path.read_bytes())
        path.chmod(0)
        v = rules.check_path(path) if os.geteuid() != 0 else _check_as_nobody(path)
        assert [p.code for p in v.problems] == ["unreadable"]
        assert "permission denied" in v.problems[0].message
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


# --- bounded memory -------------------------------------------------------------------------


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = _sparse(tmp_path / "huge.mp3", 50 * MB, head=b"ID3\x04\x00\x00\x00\x00\x00\x00")
    tracemalloc.start()
    try:
        v = rules.check_path(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.code for p in v.errors] == ["too_large"]
    assert "50,000,000 bytes" in v.errors[0].message
    assert peak < 2 * MB, f"peak {peak:,} bytes while refusing a 50 MB file"


def test_file_above_the_read_limit_is_mapped_not_read(
    tmp_path: Path, mp3s: dict[str, Made]
) -> None:
    """With the size limit raised, a 70 MB file is walked through mmap, not copied in."""
    audio_bytes = mp3s["cbr_mono_44k"].path.read_bytes()
    big = _sparse(tmp_path / "long.mp3", 70 * MB, head=audio_bytes)
    tracemalloc.start()
    try:
        v = rules.check_path(big, rules.Limits(max_bytes=100 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 70 MB where the Info header counts 0.3 MB: ffmpeg takes it for a concatenated file
    # and ignores the header's frame count, so the padding is not trimmed at the end.
    assert v.info is not None and v.info.samples == 1533 * 1152 - 576 - 529 == 40 * 44100 + 911
    assert v.ok and v.size_bytes == 70 * MB  # zero padding after the audio is not junk
    assert [p.code for p in v.warnings] == ["large_tags"]
    assert peak < 5 * MB, f"peak {peak:,} bytes for a 70 MB file"


# --- JSON shape -----------------------------------------------------------------------------


def test_to_dict_shape(mp3s: dict[str, Made]) -> None:
    d = rules.check_path(mp3s["cbr_stereo_128k"].path).to_dict()
    assert d["path"] == str(mp3s["cbr_stereo_128k"].path)
    assert d["ok"] is True
    assert d["size_bytes"] == mp3s["cbr_stereo_128k"].path.stat().st_size
    assert d["duration_seconds"] == 30.0
    assert d["problems"] == [
        {
            "code": "stereo",
            "severity": "warning",
            "message": "stereo: phone calls are mono, so half the bits are wasted and parts of "
            "the mix can cancel out when it is folded down; export mono",
        }
    ]
    f = d["format"]
    assert (f["mpeg_version"], f["layer"], f["sample_rate"], f["channels"]) == ("1", 3, 44100, 2)
    assert f["bitrate_mode"] == "CBR" and f["bitrate_kbps"] == pytest.approx(128, abs=0.5)
    assert f["samples"] == 1_323_000
    assert rules.check_path(mp3s["cbr_stereo_128k"].path).to_dict(strict=True)["ok"] is False
    missing = rules.check_path("/nonexistent/x.mp3").to_dict()
    assert missing["format"] is None and missing["duration_seconds"] is None


# --- many files -----------------------------------------------------------------------------


def test_expand_paths_recursive_case_insensitive_sorted(tmp_path: Path) -> None:
    for rel in ("b.mp3", "a.MP3", "sub/c.Mp3", "sub/deeper/d.mp3", "notes.txt", "z.mp3.bak"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    got = files.expand_paths([str(tmp_path), "https://example.com/x.mp3", "given.bin"])
    rels = [os.path.relpath(p, tmp_path) for p in got[:4]]
    assert rels == ["a.MP3", "b.mp3", "sub/c.Mp3", "sub/deeper/d.mp3"]
    assert got[4:] == ["https://example.com/x.mp3", "given.bin"]


def test_check_many_keeps_order_in_parallel(mp3s: dict[str, Made]) -> None:
    names = sorted(mp3s)[:20]  # more than the serial threshold, so worker processes run
    paths = [str(mp3s[n].path) for n in names]
    parallel = list(files.check_many(paths, jobs=3))
    serial = list(files.check_many(paths, jobs=1))
    assert [v.path for v in parallel] == paths
    assert parallel == serial


# --- property: nothing makes the validator itself fail ------------------------------------

# Byte strings that steer mutations into the parsers' corners.
_MAGIC = [
    b"\xff\xfb\x90\x64",  # MPEG-1 L3 128k 44.1k header
    b"\xff\xf3\x40\xc4",  # MPEG-2 L3 header
    b"\xff\xe3\x18\xc4",  # MPEG-2.5 L3 header
    b"\xff\xfb\x00\x64",  # free format
    b"\xff\xfd\x90\x64",  # Layer II
    b"\xff\xff\x40\xc0",  # Layer I
    b"\xff\xf1\x50\x80",  # ADTS
    b"Xing\x00\x00\x00\x0f",
    b"Info\x00\x00\x00\x01\xff\xff\xff\xff",
    b"VBRI",
    b"LAME3.100",
    b"ID3\x04\x00\x10\x00\x00\x00\x7f",
    b"ID3\x03\x00\x00\x7f\x7f\x7f\x7f",
    b"3DI\x04\x00\x10\x00\x00\x01\x00",
    b"TAG",
    b"APETAGEX\xd0\x07\x00\x00\xff\xff\xff\x7f",
    b"LYRICSBEGIN",
    b"999999LYRICS200",
    b"LYRICSEND",
    b"RIFF\x00\x00\x00\x00WAVEfmt ",
    b"<?xml version='1.0'?><Error><Code>",
    b"\x00" * 64,
    b"\xff" * 64,
]

_BASES = (
    "short_10s",
    "crc_protected",
    "mpeg25_8k",
    "vbr_mpeg25_11k",
    "mpeg2_cbr_small_no_tag",
    "truncated",
    "id3v24_footer",
    "id3v24_appended",
    "lyrics3v2",
    "apev2_trailing",
    "free_format",
    "junk_before",
    "cat_two",
    "xing_lie",
    "mp2_layer2",
    "adts_aac",
)

_chunk = st.one_of(st.sampled_from(_MAGIC), st.binary(min_size=1, max_size=64))
# positions as (region, offset): near the start, near the end, or anywhere
_position = st.tuples(st.sampled_from(["start", "end", "any"]), st.integers(0, 1 << 24))
_mutation = st.one_of(
    st.tuples(st.just("flip"), _position, st.integers(0, 7)),
    st.tuples(st.just("truncate"), _position),
    st.tuples(st.just("insert"), _position, _chunk),
    st.tuples(st.just("overwrite"), _position, _chunk),
    st.tuples(st.just("delete"), _position, st.integers(1, 2000)),
    st.tuples(st.just("duplicate"), _position, _position, st.integers(1, 5000)),
    st.tuples(
        st.just("splice"), _position, st.sampled_from(_BASES), _position, st.integers(1, 20000)
    ),
)


def _at(data: bytes | bytearray, where: tuple[str, int]) -> int:
    region, n = where
    size = len(data)
    if region == "start":
        return min(size, n % 4096)
    if region == "end":
        return max(0, size - n % 4096)
    return n % (size + 1)


def _mutate(data: bytes, ops: list[tuple], corpus: dict[str, bytes]) -> bytes:
    buf = bytearray(data)
    for op in ops:
        kind, where = op[0], op[1]
        pos = _at(buf, where)
        if kind == "flip" and pos < len(buf):
            buf[pos] ^= 1 << op[2]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = op[2]
        elif kind == "overwrite":
            buf[pos : pos + len(op[2])] = op[2]
        elif kind == "delete":
            del buf[pos : pos + op[2]]
        elif kind == "duplicate":
            src = _at(buf, op[2])
            buf[pos:pos] = buf[src : src + op[3]]
        elif kind == "splice":
            other = corpus[op[2]]
            src = _at(other, op[3])
            buf[pos:pos] = other[src : src + op[4]]
    return bytes(buf)


@pytest.fixture(scope="module")
def corpus(mp3s: dict[str, Made]) -> dict[str, bytes]:
    return {n: mp3s[n].path.read_bytes() for n in _BASES}


def _assert_sane(data: bytes) -> None:
    v = rules.check_bytes(data, "fuzz.mp3")
    assert isinstance(v, rules.Verdict)
    failed = [p for p in v.problems if p.code == "analysis_failed"]
    assert not failed, failed[0].message
    assert v.size_bytes == len(data)
    if v.info is not None:
        info = v.info
        assert info.samples >= 0 and info.duration_seconds >= 0
        assert 0 <= info.audio_offset < len(data)
        assert info.format.layer == 3
        if info.format.frame_count == 0:  # a lone Xing/Info frame: nothing to hear
            assert "no_audio" in [p.code for p in v.errors]
        else:
            assert 0 < info.audio_bytes <= len(data)
    if v.ok:
        assert v.info is not None and v.info.duration_seconds < 60.0


_PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_PROPERTY
@given(data=st.binary(max_size=8192))
def test_arbitrary_bytes_never_break_the_validator(data: bytes) -> None:
    _assert_sane(data)


@_PROPERTY
@given(
    head=st.sampled_from(_MAGIC),
    frames=st.lists(st.sampled_from(_MAGIC[:7]), max_size=8),
    tail=st.binary(max_size=2048),
)
def test_header_soup_never_breaks_the_validator(
    head: bytes, frames: list[bytes], tail: bytes
) -> None:
    _assert_sane(head + b"".join(f + b"\x00" * 413 for f in frames) + tail)


@_PROPERTY
@given(base=st.sampled_from(_BASES), ops=st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_fixtures_never_break_the_validator(
    corpus: dict[str, bytes], base: str, ops: list[tuple]
) -> None:
    data = _mutate(corpus[base], ops, corpus)
    assume(data)
    _assert_sane(data)


def test_mmap_input_is_judged_like_bytes(mp3s: dict[str, Made]) -> None:
    path = mp3s["cat_two"].path
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert rules.check_bytes(mapped, "x") == rules.check_bytes(path.read_bytes(), "x")


def test_id3_size_pointing_past_the_end(mp3s: dict[str, Made]) -> None:
    """A tag that claims to be bigger than the file: not MP3, and no crash."""
    tag = id3v2_tag(id3v2_text("TIT2", "x", 4), version=4)
    huge = b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + tag[10:]
    v = rules.check_bytes(huge + mp3s["short_10s"].path.read_bytes()[:5000], "x.mp3")
    assert [p.code for p in v.errors] == ["not_mp3"]


# --- folders that fight back (issue 10) -----------------------------------------------------


def _as_nobody(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` where permissions bite: a forked child that dropped root to 'nobody'
    (or this process, when it is not root). The result comes back pickled."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        out: tuple[str, Any] = ("raised", "nothing")
        try:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                out = ("cannot-drop-root", None)
            else:
                out = ("ok", fn())
        except BaseException as exc:
            out = ("raised", repr(exc))
        finally:
            os.write(write, pickle.dumps(out))
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        status, value = pickle.loads(fh.read())
    os.waitpid(pid, 0)
    if status == "cannot-drop-root":
        pytest.skip("running as root and cannot drop privileges to test permissions")
    assert status == "ok", value
    return value


@pytest.fixture
def locked_tree(mp3s: dict[str, Made]) -> Iterator[Path]:
    """top/a.mp3, top/locked/b.mp3 (folder mode 000), top/open/c.mp3, readable by others."""
    top = Path(tempfile.mkdtemp(prefix="holdmusic-tree-"))
    top.chmod(0o755)
    good = mp3s["cbr_mono_44k"].path.read_bytes()
    for rel in ("a.mp3", "locked/b.mp3", "open/c.mp3"):
        (top / rel).parent.mkdir(exist_ok=True)
        (top / rel).write_bytes(good)
        (top / rel).parent.chmod(0o755)
    (top / "locked").chmod(0)
    try:
        yield top
    finally:
        (top / "locked").chmod(0o755)
        shutil.rmtree(top)


def test_an_unreadable_subfolder_is_an_error_not_a_silent_skip(locked_tree: Path) -> None:
    def judge() -> list[tuple[str, list[str], str]]:
        paths = files.expand_paths([str(locked_tree)])
        return [
            (
                os.path.relpath(v.path, locked_tree),
                [p.code for p in v.errors],
                v.problems[0].message if v.problems else "",
            )
            for v in files.check_many(paths, jobs=1)
        ]

    got = _as_nobody(judge)
    assert [(rel, codes) for rel, codes, _ in got] == [
        ("a.mp3", []),
        ("locked", ["unreadable"]),
        ("open/c.mp3", []),
    ]
    assert got[1][2] == "permission denied: cannot list this folder"


def test_an_unreadable_folder_given_directly_says_permission_denied(locked_tree: Path) -> None:
    from click.testing import CliRunner

    from holdmusic.cli import cli

    def run() -> tuple[int, str]:
        r = CliRunner().invoke(cli, ["validate", str(locked_tree / "locked")])
        return r.exit_code, r.output

    code, output = _as_nobody(run)
    assert code == 1, output
    assert "error [unreadable]: permission denied: cannot list this folder" in output
    assert "no *.mp3 files found" not in output


def test_a_folder_1100_deep_is_walked_without_recursion(
    tmp_path: Path, mp3s: dict[str, Made]
) -> None:
    deep = tmp_path
    try:
        for _ in range(1100):  # os.makedirs itself recurses: one level at a time
            deep = deep / "d"
            deep.mkdir()
        (deep / "deep.mp3").write_bytes(mp3s["cbr_mono_44k"].path.read_bytes())
        (tmp_path / "top.mp3").write_bytes(mp3s["short_10s"].path.read_bytes())
        found = files.expand_paths([str(tmp_path)])
        assert found == [str(deep / "deep.mp3"), str(tmp_path / "top.mp3")]
        assert [v.ok for v in files.check_many(found)] == [True, True]
    finally:  # shutil.rmtree (pytest's clean-up too) recurses: remove it level by level
        (deep / "deep.mp3").unlink(missing_ok=True)
        while deep != tmp_path:
            deep.rmdir()
            deep = deep.parent


def test_symlinked_folders_are_not_followed_into_loops(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.mp3").write_bytes(b"x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    assert files.expand_paths([str(tmp_path)]) == [str(tmp_path / "a" / "x.mp3")]


def test_workers_follow_the_amount_of_work(tmp_path: Path, mp3s: dict[str, Made]) -> None:
    small = tmp_path / "small.mp3"  # a typical file of another project's test suite
    small.write_bytes(mp3s["short_10s"].path.read_bytes()[:30_000])
    assert files.workers_for([str(small)] * 364) == 1  # 364 small files: one process wins
    assert files.workers_for([str(small)] * 3, jobs=4) == 4  # -j wins
    # 300 files of 30 s (144 MB): ~0.15 s of work since issue 17, less than a pool costs
    assert files.workers_for([str(mp3s["cbr_stereo_128k"].path)] * 300) == 1
    big = [str(mp3s["cbr_stereo_128k"].path)] * 1000  # 1,000 of them: 481 MB
    assert files.workers_for(big) == min(2, len(os.sched_getaffinity(0)))


# --- what fills a file that is too large (issue 10) -----------------------------------------


def test_too_large_says_the_cover_art_fills_it(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["too_large"].path)
    [problem] = [p for p in v.errors if p.code == "too_large"]
    assert "the ID3 tag at the start takes 9.8 MB of the 10.0 MB" in problem.message
    assert "a picture (APIC, image/jpeg) of 9.8 MB" in problem.message
    # the same from bytes (a URL's body), which reads only the tag for mutagen
    in_memory = rules.check_bytes(mp3s["too_large"].path.read_bytes(), str(v.path))
    assert in_memory.errors == v.errors


def test_large_tags_is_a_warning_under_the_limit(mp3s: dict[str, Made]) -> None:
    v = rules.check_path(mp3s["just_under_10mb"].path)
    assert v.ok
    [problem] = [p for p in v.warnings if p.code == "large_tags"]
    assert problem.message.startswith("9,839,")  # bytes that are not audio, of 9,999,999
    assert "a picture (APIC, image/jpeg) of 9.8 MB" in problem.message
    assert "large_tags" not in [p.code for p in rules.check_path(mp3s["id3v23_apic"].path).problems]


def test_validate_imports_mutagen_only_for_large_files(mp3s: dict[str, Made]) -> None:
    code = (
        "import sys; from holdmusic import rules; "
        f"rules.check_path({str(mp3s['cbr_mono_44k'].path)!r}); "
        "print('mutagen' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
