"""pytest side of the MP3 factory: the ``mp3s`` fixture and the session's build cache.

The only module of :mod:`testkit.mp3` that imports pytest.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from testkit.mp3.recipes import FIXTURE_SETS, Made, build_all, cache_key


def _cache_dir(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is None:  # -p no:cacheprovider: a scratch folder for this session
        folder = Path(tempfile.mkdtemp(prefix="holdmusic-mp3s-"))
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        return folder
    root = Path(cache.mkdir("mp3factory"))
    key = cache_key()
    for old in root.iterdir():  # drop builds made by older versions of this module
        if old.name != key and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return root / key


_BUILT = pytest.StashKey[dict[str, Made]]()


def built(config: pytest.Config) -> dict[str, Made]:
    """Every fixture by name, built once per session (at collection when a test is
    parametrized over them), cached in .pytest_cache across runs (key: the factory's
    modules + tools)."""
    if _BUILT not in config.stash:
        missing = [tool for tool in ("sox", "lame", "ffmpeg") if shutil.which(tool) is None]
        if missing:  # fail, not skip: silently untested validation is worse than a red build
            pytest.fail(f"MP3 fixtures need {', '.join(missing)}: apt-get install sox lame ffmpeg")
        config.stash[_BUILT] = build_all(_cache_dir(config))
    return config.stash[_BUILT]


def fixture_names(config: pytest.Config, kind: str) -> list[str]:
    keep = FIXTURE_SETS[kind]
    return sorted(n for n, m in built(config).items() if keep(m))


@pytest.fixture(scope="session")
def mp3s(request: pytest.FixtureRequest) -> dict[str, Made]:
    """Every fixture by name (see :func:`built`)."""
    return built(request.config)


__all__ = ["FIXTURE_SETS", "built", "fixture_names", "mp3s"]
