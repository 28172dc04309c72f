"""The JSON Schema of every command's ``--json`` output, shipped with the package.

``<command>.schema.json`` per command (``configs-check`` for ``configs check``), each
``anyOf`` the command's result and the failure object ``{"ok": false, "error": {...}}``;
``defs.schema.json`` holds the shared definitions (a problem, a verdict, a report item).
Each file's ``$id`` is ``urn:holdmusic:schema:<name>``, and references use those ids, so a
validator needs every file in its registry (see tests/test_json_contract.py).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

ID_PREFIX = "urn:holdmusic:schema:"


def names() -> list[str]:
    """Every schema's name (``validate``, ``configs-check``, ``defs``...)."""
    folder = resources.files(__name__)
    return sorted(
        p.name.removesuffix(".schema.json")
        for p in folder.iterdir()
        if p.name.endswith(".schema.json")
    )


def load(name: str) -> dict[str, Any]:
    """One schema, parsed."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
