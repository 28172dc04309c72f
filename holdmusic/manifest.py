"""Read a batch manifest: which file goes to which dial-in config.

CSV with a header row ``config_id,file``::

    config_id,file
    0b6f…,music/spring.mp3

or TOML::

    [[assign]]
    config = "0b6f…"
    file = "music/spring.mp3"

File paths are relative to the manifest's folder. Every problem in the manifest is
collected and reported at once, before anything happens.
"""

from __future__ import annotations

import csv
import io
import os
import tomllib
from dataclasses import dataclass

from holdmusic import configid
from holdmusic.errors import HoldmusicError

CSV_COLUMNS = ("config_id", "file")


class ManifestError(HoldmusicError):
    """The manifest is unusable; the message lists every bad row. Whatever is wrong with
    it, the CLI exits 1 (like a file that fails validation): the command line was fine."""


class ManifestIdError(ManifestError):
    """The manifest names a config id outside the allowed form."""


@dataclass(frozen=True)
class Assignment:
    config_id: str
    file: str  # resolved path
    given: str  # the path as written in the manifest
    where: str  # "line 3" (CSV) or "assign #3" (TOML)


def read(path: str) -> list[Assignment]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    if path.lower().endswith(".toml"):
        rows, problems = _toml_rows(raw, path)
    else:
        rows, problems = _csv_rows(raw, path)
    assignments: list[Assignment] = []
    seen: dict[str, str] = {}
    bad_ids = False
    for where, config_id, given in rows:
        if not config_id:
            problems.append(f"{where}: no config id")
            continue
        if (why := configid.problem(config_id)) is not None:
            problems.append(f"{where}: {why}")
            bad_ids = True
            continue
        if not given:
            problems.append(f"{where}: no file for config {config_id}")
            continue
        if config_id in seen:
            problems.append(f"{where}: config {config_id} is already assigned at {seen[config_id]}")
            continue
        seen[config_id] = where
        resolved = os.path.normpath(os.path.join(base, os.path.expanduser(given)))
        if not os.path.isfile(resolved):
            problems.append(f"{where}: file not found: {given}")
            continue
        assignments.append(Assignment(config_id, resolved, given, where))
    if not problems and not assignments:
        problems.append("the manifest assigns nothing")
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        error = ManifestIdError if bad_ids else ManifestError
        raise error(f"manifest {path} has {count}: " + "; ".join(problems))
    return assignments


def _csv_rows(raw: bytes, path: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestError(f"manifest {path} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ManifestError(f"manifest {path} is empty: it needs a header row 'config_id,file'")
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        raise ManifestError(
            f"manifest {path}: {'; '.join(parts)} (the header must be 'config_id,file')"
        )
    ci, fi = columns.index("config_id"), columns.index("file")
    rows: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for row in reader:
        where = f"line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue  # blank lines are fine
        if len(row) != len(columns):
            problems.append(f"{where}: {len(row)} fields, expected {len(columns)}")
            continue
        rows.append((where, row[ci].strip(), row[fi].strip()))
    return rows, problems


def _toml_rows(raw: bytes, path: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"manifest {path} is not valid TOML: {exc}") from None
    unknown_top = sorted(set(data) - {"assign"})
    problems = [f"unknown table or key {k!r} (expected [[assign]])" for k in unknown_top]
    entries = data.get("assign", [])
    if not isinstance(entries, list):
        raise ManifestError(f"manifest {path}: 'assign' must be an array of tables [[assign]]")
    rows: list[tuple[str, str, str]] = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"assign #{n}: not a table")
            continue
        unknown = sorted(set(entry) - {"config", "file"})
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            problems.append(f"assign #{n}: unknown key{plural} {', '.join(unknown)}")
            continue
        config, file = entry.get("config", ""), entry.get("file", "")
        if not isinstance(config, str) or not isinstance(file, str):
            problems.append(f"assign #{n}: config and file must be strings")
            continue
        rows.append((f"assign #{n}", config.strip(), file.strip()))
    return rows, problems
