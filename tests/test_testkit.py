"""testkit (the test-support package at the repository root) stays usable without pytest.

The playground, the benchmarks and samples/make_samples.py import it as a library; only its
``plugin`` modules (pytest fixtures) may import pytest.  Each check runs in a fresh
interpreter, where nothing else has imported pytest already.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import testkit

REPO = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    names = ["testkit"]
    for info in pkgutil.walk_packages(testkit.__path__, "testkit."):
        names.append(info.name)
    return names


PLUGINS = {"testkit.daily.plugin", "testkit.mp3.plugin", "testkit.s3_plugin"}
LIBRARY = [m for m in _modules() if m not in PLUGINS]


def test_every_layer_is_found() -> None:
    assert set(_modules()) >= PLUGINS | {
        "testkit.daily.faults",
        "testkit.daily.api",
        "testkit.daily.server",
        "testkit.mp3.bitstream",
        "testkit.mp3.tags",
        "testkit.mp3.recipes",
        "testkit.s3",
        "testkit.adversarial",
    }


@pytest.mark.parametrize("module", LIBRARY)
def test_importing_does_not_import_pytest(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest'))\n"
        "print(','.join(leaked))\n"
    )
    # The repository root is put on sys.path by hand, as the scripts do.
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{module} imports {proc.stdout.strip()}"


def test_testkit_is_not_shipped() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'packages = ["holdmusic"]' in text
