"""pytest fixtures for the SeaweedFS S3 server (:mod:`testkit.s3`); the only s3 module
that imports pytest.

``seaweed`` (session)
    a running :class:`~testkit.s3.SeaweedS3`.
``s3_env`` (function)
    sets ``seaweed.env()`` into ``os.environ`` for one test (and removes any
    other ``AWS_*`` / ``S3_*`` variables), returns the :class:`~testkit.s3.SeaweedS3`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit.s3 import SeaweedS3, WeedMini


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """A running SeaweedFS (``weed mini``) S3 server for the whole test session."""
    server = WeedMini()
    try:
        server.start()
        yield SeaweedS3.from_server(server)
    finally:
        server.close()


@pytest.fixture
def s3_env(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """Point ``os.environ`` at the SeaweedFS server for one test.

    Every other ``AWS_*`` and ``S3_*`` variable is removed first, so a
    developer's ``AWS_PROFILE`` or session token cannot leak into the test.
    """
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3_")):
            monkeypatch.delenv(name)
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    return seaweed


__all__ = ["s3_env", "seaweed"]
