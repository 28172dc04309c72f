"""Test support for holdmusic: real stand-ins and fixture factories, shared by the test
suite, ``scripts/playground.py``, ``benchmarks/`` and ``samples/make_samples.py``.

Not part of the shipped package (the wheel holds ``holdmusic`` only); import it from a
clone, with the repository root on ``sys.path``.  Layers, lowest first:

- :mod:`testkit.daily`: Daily's dial-in REST API on loopback: ``faults`` (switches),
  ``api`` (Daily's rules and state), ``server`` (the HTTP server), ``plugin`` (fixtures).
- :mod:`testkit.mp3`: MP3s with exactly known truth: ``bitstream`` (frame/bit oracle),
  ``tags`` (ID3/APE/... builders), ``recipes`` (lame/ffmpeg/sox fixtures), ``plugin``.
- :mod:`testkit.s3`: SeaweedFS ``weed mini`` on loopback; fixtures in ``s3_plugin``.
- :mod:`testkit.adversarial`: worst-case inputs for the validator's speed.

Only the ``plugin`` modules import pytest; everything else runs without it.
"""
