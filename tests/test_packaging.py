"""The wheel a user installs: built with ``python -m build``, installed into a fresh
virtual environment WITHOUT extras, it must run the main job and carry honest metadata.

Building (the build backend) and installing (the dependencies) come from the package
index, hence the ``network`` marker: skipped with the reason when it is unreachable.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.network


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)], REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (built,) = out.glob("holdmusic-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the wheel (and what it depends on) installed."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    r = _run([sys.executable, "-m", "venv", str(venv)], REPO)
    assert r.returncode == 0, r.stderr
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)]
    r = _run(pip, REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return venv


def test_the_wheel_holds_the_package_and_the_license_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "holdmusic/cli/validate.py" in names
    assert "holdmusic/py.typed" in names
    # the JSON Schemas ship with the package (issue 18)
    assert {"holdmusic/schemas/validate.schema.json", "holdmusic/schemas/defs.schema.json"} <= set(
        names
    )
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    # development aids stay out of what users install
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "benchmarks/"))]


def test_installed_wheel_without_extras_validates_the_samples(fresh_venv: Path) -> None:
    holdmusic = str(fresh_venv / "bin" / "holdmusic")
    r = _run([holdmusic, "validate", "samples/"], REPO)
    # samples/ holds bad files on purpose: exit 1, and every file judged
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Checking samples/welcome-mono.mp3: PASSED (45.000 s" in r.stdout
    assert "Checking samples/error-page.mp3: FAILED" in r.stdout
    assert " files checked: " in r.stdout.splitlines()[-1]
    assert r.stderr == ""


def test_metadata_is_filled_in(wheel: Path, fresh_venv: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = zf.read(meta).decode()
    for line in (
        "License-Expression: MIT",
        "License-File: LICENSE",
        "Author: holdmusic contributors",
        "Classifier: Topic :: Communications :: Telephony",
        "Requires-Python: >=3.11",
    ):
        assert line in metadata.splitlines(), line
    assert any(line.startswith("Keywords: ") for line in metadata.splitlines())
    python = str(fresh_venv / "bin" / "python")
    r = _run([python, "-m", "pip", "show", "holdmusic"], REPO)
    assert r.returncode == 0, r.stderr
    assert "Author: holdmusic contributors" in r.stdout
    requires = next(x for x in r.stdout.splitlines() if x.startswith("Requires: "))
    for dependency in ("boto3", "click", "httpcore", "httpx", "mutagen", "rich", "tenacity"):
        assert dependency in requires
    # no extra was asked for, so no development tool came with it
    installed = _run([python, "-m", "pip", "list"], REPO).stdout.lower()
    assert "pytest" not in installed and "seaweedfs" not in installed
