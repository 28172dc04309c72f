"""``holdmusic validate``: what a user sees, scripts parse and CI reads, and its exit codes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.mp3 import Made, ffmpeg_samples
from tests.conftest import SAMPLES, Result

Cli = Callable[..., Result]

SUMMARY = re.compile(
    r"^(\d+) files? checked: (\d+) passed(?: \((\d+) with warnings\))?, (\d+) failed$"
)


def _status_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("Checking ")]


def _summary(out: str) -> tuple[int, int, int, int]:
    last = out.rstrip("\n").splitlines()[-1]
    m = SUMMARY.match(last)
    assert m, f"no summary line at the end: {last!r}"
    total, passed, warned, failed = m.groups()
    return int(total), int(passed), int(warned or 0), int(failed)


# --- text output, in the manner of twine check ------------------------------------------


def test_passed(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = mp3s["cbr_mono_44k"].path
    r = cli("validate", str(path))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"Checking {path}: PASSED (40.000 s, {path.stat().st_size:,} bytes, "
        "MPEG-1 44.1 kHz mono CBR 64 kbit/s)",
        "1 file checked: 1 passed, 0 failed",
    ]


def test_passed_with_warnings(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = mp3s["cbr_stereo_128k"].path
    r = cli("validate", str(path))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Checking {path}: PASSED, with warnings (30.000 s, ")
    assert lines[1].startswith("  warning [stereo]: stereo: phone calls are mono")
    assert lines[2] == "1 file checked: 1 passed (1 with warnings), 0 failed"


def test_failed_shows_the_truth_and_the_lie(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = mp3s["xing_lie"].path
    r = cli("validate", str(path))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Checking {path}: FAILED (90.000 s, ")
    assert lines[1].startswith("  error [too_long]: 90.000 s is not under the 60 s limit")
    assert re.match(r"  warning \[header_mismatch\]: Xing header says 30\.0 s .*90\.0 s", lines[2])
    assert lines[3] == "1 file checked: 0 passed, 1 failed"


def test_not_mp3_failure_has_no_description(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = mp3s["flac"].path
    r = cli("validate", str(path))
    assert r.exit_code == 1
    assert r.stdout.splitlines()[:2] == [
        f"Checking {path}: FAILED",
        "  error [not_mp3]: this is a FLAC file, not an MP3; "
        "`holdmusic fix` makes an MP3 from it that passes",
    ]


def test_mixed_run_keeps_argument_order_and_counts(cli: Cli, mp3s: dict[str, Made]) -> None:
    names = ["xing_lie", "cbr_mono_44k", "cbr_stereo_128k", "html"]
    r = cli("validate", *(str(mp3s[n].path) for n in names))
    assert r.exit_code == 1
    statuses = [line.split(": ", 1)[1].split(" (")[0] for line in _status_lines(r.stdout)]
    assert statuses == ["FAILED", "PASSED", "PASSED, with warnings", "FAILED"]
    assert [line.split(": ", 1)[0][len("Checking ") :] for line in _status_lines(r.stdout)] == [
        str(mp3s[n].path) for n in names
    ]
    assert _summary(r.stdout) == (4, 2, 1, 2)


def test_missing_file_fails_not_crashes(cli: Cli, tmp_path: Path) -> None:
    r = cli("validate", str(tmp_path / "gone.mp3"))
    assert r.exit_code == 1
    assert "  error [not_found]: no such file" in r.stdout


# --- folders, and content over extension ---------------------------------------------------


def test_folder_is_searched_recursively_case_insensitively(
    cli: Cli, mp3s: dict[str, Made], tmp_path: Path
) -> None:
    shutil.copyfile(mp3s["cbr_mono_44k"].path, tmp_path / "a.MP3")
    (tmp_path / "sub").mkdir()
    shutil.copyfile(mp3s["short_10s"].path, tmp_path / "sub" / "b.mp3")
    shutil.copyfile(mp3s["cbr_mono_44k"].path, tmp_path / "c.txt")
    r = cli("validate", str(tmp_path))
    assert r.exit_code == 0, r.output
    checked = [line.split(": ", 1)[0][len("Checking ") :] for line in _status_lines(r.stdout)]
    assert checked == [str(tmp_path / "a.MP3"), str(tmp_path / "sub" / "b.mp3")]
    assert _summary(r.stdout) == (2, 2, 1, 0)


def test_judged_by_content_not_extension(cli: Cli, mp3s: dict[str, Made], tmp_path: Path) -> None:
    wav = tmp_path / "x.mp3"
    shutil.copyfile(mp3s["wav_pcm"].path, wav)
    mp3 = tmp_path / "y.bin"
    shutil.copyfile(mp3s["cbr_mono_44k"].path, mp3)
    r = cli("validate", str(wav), str(mp3))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0] == f"Checking {wav}: FAILED"
    assert lines[1] == (
        "  error [not_mp3]: this is a WAV (RIFF/WAVE) file with 16-bit PCM audio, not an MP3; "
        "`holdmusic fix` makes an MP3 from it that passes"
    )
    assert lines[2].startswith(f"Checking {mp3}: PASSED (40.000 s")
    # in a folder, only *.mp3 names are picked up: y.bin is not
    r = cli("validate", str(tmp_path))
    assert [line.split(":")[0] for line in _status_lines(r.stdout)] == [f"Checking {wav}"]


def test_folder_without_mp3s_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no audio here")
    r = cli("validate", str(tmp_path))
    assert r.exit_code == 2
    assert f"no *.mp3 files found under {tmp_path}" in r.output
    assert "Traceback" not in r.output


# --- exit codes and usage errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Missing argument"),
        (("--bogus", "x.mp3"), "No such option"),
        (("--max-bytes", "ten", "x.mp3"), "--max-bytes"),
        (("--max-bytes", "0", "x.mp3"), "--max-bytes"),
        (("--max-bytes", "-5", "x.mp3"), "--max-bytes"),
        (("--max-seconds", "0", "x.mp3"), "--max-seconds"),
        (("--max-seconds", "-1", "x.mp3"), "--max-seconds"),
        # nan passes every comparison and inf none: either would switch the limit off
        (("--max-seconds", "nan", "x.mp3"), "--max-seconds"),
        (("--max-seconds", "inf", "x.mp3"), "--max-seconds"),
        (("--max-seconds", "-inf", "x.mp3"), "--max-seconds"),
        (("--max-seconds", "1e999", "x.mp3"), "--max-seconds"),
        (("--jobs", "0", "x.mp3"), "--jobs"),
    ],
)
def test_usage_errors_exit_2(run_cli: Cli, args: tuple[str, ...], message: str) -> None:
    r = run_cli("validate", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.output


def test_exit_codes_real_process(run_cli: Cli, mp3s: dict[str, Made]) -> None:
    assert run_cli("validate", str(mp3s["cbr_mono_44k"].path)).exit_code == 0
    assert run_cli("validate", str(mp3s["cbr_stereo_128k"].path)).exit_code == 0
    assert run_cli("validate", str(mp3s["exactly_60"].path)).exit_code == 1
    assert run_cli("validate", "--strict", str(mp3s["cbr_stereo_128k"].path)).exit_code == 1


def test_no_traceback_for_any_input(run_cli: Cli, mp3s: dict[str, Made], tmp_path: Path) -> None:
    targets = [str(m.path) for m in sorted(mp3s.values(), key=lambda m: m.name)]
    targets += [str(tmp_path / "missing.mp3"), "/dev/null"]
    for flags in ((), ("--json",), ("--strict", "-j", "2")):
        r = run_cli("validate", *flags, *targets)
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output
        assert "analysis_failed" not in r.output
        assert r.stderr == ""
        if flags == ("--json",):
            assert [d["path"] for d in json.loads(r.stdout)] == targets
        else:
            checked = [
                line.split(": ", 1)[0][len("Checking ") :] for line in _status_lines(r.stdout)
            ]
            assert checked == targets


# --- limits on the command line ------------------------------------------------------------


def test_max_seconds_option(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = str(mp3s["cbr_stereo_128k"].path)  # 30.000 s
    r = cli("validate", "--max-seconds", "20", path)
    assert r.exit_code == 1
    assert "  error [too_long]: 30.000 s is not under the 20 s limit" in r.stdout
    assert cli("validate", "--max-seconds", "30.001", path).exit_code == 0
    assert cli("validate", "--max-seconds", "30", path).exit_code == 1
    # and the other way: the 90 s liar passes under a 100 s limit, still with its warning
    r = cli("validate", "--max-seconds", "100", str(mp3s["xing_lie"].path))
    assert r.exit_code == 0
    assert "PASSED, with warnings (90.000 s" in r.stdout


def test_max_bytes_option(cli: Cli, mp3s: dict[str, Made]) -> None:
    path = mp3s["cbr_mono_44k"].path
    size = path.stat().st_size
    r = cli("validate", "--max-bytes", str(size), str(path))
    assert r.exit_code == 1
    assert f"  error [too_large]: {size:,} bytes is not under the {size:,}-byte limit" in r.stdout
    assert cli("validate", "--max-bytes", str(size + 1), str(path)).exit_code == 0


def test_daily_limits_by_default(cli: Cli, mp3s: dict[str, Made]) -> None:
    r = cli("validate", *(str(mp3s[n].path) for n in ("just_under_10mb", "too_large")))
    assert r.exit_code == 1
    lines = _status_lines(r.stdout)
    assert ": PASSED" in lines[0] and "9,999,999 bytes" in lines[0]
    assert lines[1].endswith(": FAILED")
    assert (
        "  error [too_large]: 10,000,000 bytes is not under the 10,000,000-byte limit" in r.stdout
    )
    r = cli("validate", *(str(mp3s[n].path) for n in ("just_under_60", "exactly_60")))
    assert "PASSED (59.900 s" in r.stdout
    assert "  error [too_long]: 60.000 s is not under the 60 s limit" in r.stdout


# --- --json ----------------------------------------------------------------------------------


def test_json_is_one_array_with_the_documented_shape(cli: Cli, mp3s: dict[str, Made]) -> None:
    names = ["cbr_stereo_128k", "xing_lie", "m4a_aac"]
    r = cli("validate", "--json", *(str(mp3s[n].path) for n in names))
    assert r.exit_code == 1
    doc = json.loads(r.stdout)  # the whole of stdout is one JSON document
    assert isinstance(doc, list) and len(doc) == 3
    stereo, lie, m4a = doc
    for d, name in zip(doc, names, strict=True):
        assert {"path", "ok", "size_bytes", "duration_seconds", "problems", "format"} <= set(d)
        assert d["path"] == str(mp3s[name].path)
        assert d["size_bytes"] == mp3s[name].path.stat().st_size
    assert stereo["ok"] is True and stereo["duration_seconds"] == 30.0
    assert [(p["code"], p["severity"]) for p in stereo["problems"]] == [("stereo", "warning")]
    assert all(isinstance(p["message"], str) and p["message"] for p in stereo["problems"])
    f = stereo["format"]
    assert f["mpeg_version"] == "1" and f["layer"] == 3
    assert f["sample_rate"] == 44100 and f["channels"] == 2
    assert f["bitrate_mode"] == "CBR" and f["bitrate_kbps"] == pytest.approx(128, abs=0.5)
    assert isinstance(f["frame_count"], int) and f["frame_count"] > 0
    assert lie["ok"] is False and lie["duration_seconds"] == 90.0
    assert lie["format"]["bitrate_mode"] == "VBR"
    assert [p["code"] for p in lie["problems"]] == ["too_long", "header_mismatch"]
    assert m4a["ok"] is False and m4a["format"] is None and m4a["duration_seconds"] is None
    assert [p["code"] for p in m4a["problems"]] == ["not_mp3"]
    assert "MP4/M4A" in m4a["problems"][0]["message"]


def test_json_exact_duration(cli: Cli, mp3s: dict[str, Made]) -> None:
    r = cli("validate", "--json", str(mp3s["gapless_59_98"].path), str(mp3s["mpeg2_22k"].path))
    assert r.exit_code == 0
    gapless, mpeg2 = json.loads(r.stdout)
    assert gapless["duration_seconds"] == round(2_645_118 / 44100, 6)
    assert mpeg2["duration_seconds"] == 30.0
    assert mpeg2["format"]["mpeg_version"] == "2" and mpeg2["format"]["sample_rate"] == 22050


# --- --strict --------------------------------------------------------------------------------


def test_strict_fails_on_warnings(cli: Cli, mp3s: dict[str, Made]) -> None:
    warned, clean = str(mp3s["cbr_stereo_128k"].path), str(mp3s["cbr_mono_44k"].path)
    r = cli("validate", "--strict", warned, clean)
    assert r.exit_code == 1
    lines = _status_lines(r.stdout)
    assert lines[0].startswith(f"Checking {warned}: FAILED (30.000 s")
    assert lines[1].startswith(f"Checking {clean}: PASSED (40.000 s")
    assert _summary(r.stdout) == (2, 1, 0, 1)
    doc = json.loads(cli("validate", "--strict", "--json", warned, clean).stdout)
    assert [d["ok"] for d in doc] == [False, True]
    assert cli("validate", "--strict", clean).exit_code == 0


# --- --junit ---------------------------------------------------------------------------------


def _junit(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(path).getroot()
    cases = {c.get("name", ""): c for c in root.iter("testcase")}
    return root, cases


def test_junit_report(cli: Cli, mp3s: dict[str, Made], tmp_path: Path) -> None:
    names = ["cbr_mono_44k", "cbr_stereo_128k", "exactly_60", "html"]
    paths = [str(mp3s[n].path) for n in names]
    report = tmp_path / "junit.xml"
    r = cli("validate", "--junit", str(report), *paths)
    assert r.exit_code == 1
    assert _status_lines(r.stdout)  # text output still printed
    root, cases = _junit(report)
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    assert list(cases) == paths
    assert cases[paths[0]].find("failure") is None
    assert cases[paths[1]].find("failure") is None  # a warning is not a failure
    long_ = cases[paths[2]].find("failure")
    assert long_ is not None and long_.get("type") == "too_long"
    assert "60.000 s is not under the 60 s limit" in (long_.get("message") or "")
    html = cases[paths[3]].find("failure")
    assert html is not None and "HTML page" in (html.text or "")


def test_junit_strict(cli: Cli, mp3s: dict[str, Made], tmp_path: Path) -> None:
    warned, clean = str(mp3s["cbr_320_stereo"].path), str(mp3s["cbr_mono_44k"].path)
    report = tmp_path / "strict.xml"
    r = cli("validate", "--strict", "--json", "--junit", str(report), warned, clean)
    assert r.exit_code == 1
    assert len(json.loads(r.stdout)) == 2
    root, cases = _junit(report)
    suite = root.find("testsuite") if root.tag != "testsuite" else root
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = cases[warned].find("failure")
    assert failure is not None
    text = failure.text or ""
    for code in ("stereo", "high_bitrate", "short_clip"):
        assert f"[{code}]" in text
    assert cases[clean].find("failure") is None


def test_junit_into_a_missing_folder_is_a_usage_error(
    run_cli: Cli, mp3s: dict[str, Made], tmp_path: Path
) -> None:
    r = run_cli(
        "validate",
        "--junit",
        str(tmp_path / "no" / "such" / "dir.xml"),
        str(mp3s["cbr_mono_44k"].path),
    )
    assert r.exit_code == 2, r.output
    assert "unexpected" not in r.output


# --- start-up cost: validate never imports the upload stack ---------------------------------


def test_validate_imports_nothing_it_does_not_use(mp3s: dict[str, Made]) -> None:
    code = (
        "import sys\n"
        "from holdmusic.cli import main\n"
        f"sys.argv = ['holdmusic', 'validate', {str(mp3s['cbr_mono_44k'].path)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = {'boto3', 'botocore', 'httpx', 'httpcore', 'rich', 's3transfer'}\n"
        # issue 17: what validate's start-up no longer pays for either
        "heavy |= {'holdmusic.record', 'holdmusic.storesettings', 'json', 'pathlib', 'tempfile',"
        " 'secrets', 'traceback', 'concurrent', 'multiprocessing', 'mutagen', 'av'}\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.splitlines()[-1] == "[]", p.stdout


# --- samples/ --------------------------------------------------------------------------------


def _readme_expectations() -> dict[str, tuple[bool, set[str], set[str]]]:
    """file -> (passes, error codes, warning codes), from the table in samples/README.md."""
    out = {}
    for line in (SAMPLES / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*`([^`]+\.mp3)`\s*\|\s*([^|]+)\|", line)
        if not m:
            continue
        name, verdict = m.group(1), m.group(2).strip()
        errors: set[str] = set()
        warnings: set[str] = set()
        for part in verdict.split(","):
            codes = set(re.findall(r"`(\w+)`", part))
            (warnings if "warning" in part else errors).update(codes)
        out[name] = (verdict.startswith("pass"), errors, warnings)
    return out


def test_samples_match_their_readme(cli: Cli) -> None:
    expected = _readme_expectations()
    assert len(expected) == len(list(SAMPLES.glob("*.mp3"))) == 8
    r = cli("validate", "--json", str(SAMPLES))
    assert r.exit_code == 1  # some samples fail on purpose
    got = {Path(d["path"]).name: d for d in json.loads(r.stdout)}
    assert set(got) == set(expected)
    for name, (passes, errors, warnings) in expected.items():
        d = got[name]
        assert d["ok"] is passes, (name, d["problems"])
        assert {p["code"] for p in d["problems"] if p["severity"] == "error"} == errors, name
        assert warnings <= {p["code"] for p in d["problems"] if p["severity"] == "warning"}, name


# Exact lengths: every sample was encoded from exactly this many input samples, and ffmpeg
# (which honours the LAME tag) decodes the same count.
SAMPLE_LENGTHS = [
    ("welcome-mono.mp3", 1_440_000, 32000),
    ("calm-vbr.mp3", 2_205_000, 44100),
    ("jingle-stereo.mp3", 1_323_000, 44100),
    ("too-long.mp3", 2086 * 576, 16000),  # no Info tag: every frame plays in full
    ("lying-header.mp3", 90 * 22050, 22050),  # 3,448 frames*576 - delay 576 - padding 972
]


@pytest.mark.parametrize(("name", "samples", "rate"), SAMPLE_LENGTHS)
def test_sample_durations_are_exact(cli: Cli, name: str, samples: int, rate: int) -> None:
    [d] = json.loads(cli("validate", "--json", str(SAMPLES / name)).stdout)
    assert d["format"]["samples"] == samples
    assert d["format"]["sample_rate"] == rate
    assert d["duration_seconds"] == round(samples / rate, 6)
    if name == "lying-header.mp3":
        assert d["format"]["frame_count"] == 3448
        assert d["format"]["header_seconds"] == pytest.approx(29.9, abs=0.05)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize(("name", "samples", "rate"), SAMPLE_LENGTHS)
def test_sample_lengths_agree_with_ffmpeg(name: str, samples: int, rate: int) -> None:
    channels = 2 if name == "jingle-stereo.mp3" else 1
    assert ffmpeg_samples(SAMPLES / name, channels) == samples


@pytest.mark.parametrize(("name", "samples", "rate"), SAMPLE_LENGTHS)
def test_readme_states_the_exact_length(name: str, samples: int, rate: int) -> None:
    [row] = [line for line in (SAMPLES / "README.md").read_text().splitlines() if name in line]
    assert f"{samples / rate:.3f} s" in row


def test_samples_text_output(cli: Cli) -> None:
    r = cli("validate", str(SAMPLES))
    assert r.exit_code == 1
    assert _summary(r.stdout) == (8, 3, 1, 5)
    passing = [line for line in _status_lines(r.stdout) if ": PASSED" in line]
    assert [Path(line.split(":")[0][len("Checking ") :]).name for line in passing] == [
        "calm-vbr.mp3",
        "jingle-stereo.mp3",
        "welcome-mono.mp3",
    ]


def test_files_without_sound_fail(cli: Cli, mp3s: dict[str, Made], tmp_path: Path) -> None:
    """A lone Info frame (no_audio) and valid headers over noise (corrupt_audio): exit 1."""
    from testkit import adversarial

    data = mp3s["cbr_mono_44k"].path.read_bytes()
    lone, noise = tmp_path / "lone.mp3", tmp_path / "noise.mp3"
    lone.write_bytes(data[:208])  # the Info frame of a 64 kbit/s mono file
    noise.write_bytes(adversarial.headers_over_noise(100_000))
    r = cli("validate", "--json", str(lone), str(noise))
    assert r.exit_code == 1
    lone_v, noise_v = json.loads(r.stdout)
    assert [p["code"] for p in lone_v["problems"] if p["severity"] == "error"] == ["no_audio"]
    assert lone_v["duration_seconds"] == 0.0
    assert "corrupt_audio" in [p["code"] for p in noise_v["problems"]]


def test_files_a_caller_cannot_hear_fail(cli: Cli, mp3s: dict[str, Made]) -> None:
    """Issue 17: a tag + Info frame + a cut frame, and audio below -60 dBFS, both passed;
    each now fails with its own reason."""
    nothing, quiet = mp3s["plays_nothing"].path, mp3s["near_silence"].path
    r = cli("validate", str(nothing), str(quiet), str(mp3s["quiet_audible"].path))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    size = nothing.stat().st_size
    assert lines[0].startswith(f"Checking {nothing}: FAILED (0.000 s, {size:,} bytes, MPEG-1 ")
    assert any(
        line.startswith("  error [no_audio]: no audio: the stream ends within its first audio")
        for line in lines
    )
    assert any(
        line.startswith("  error [no_audio]: plays as silence (below -60 dBFS): ") for line in lines
    )
    assert lines[-1] == "3 files checked: 1 passed, 2 failed"
