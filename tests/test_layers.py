"""The layout the design promises (docs/design.md, docs/app-layer.md), checked on the source:
no import circles anywhere, interfaces on top of the application layer, stages below it.

Every import counts: module level, inside functions, and under ``TYPE_CHECKING`` (a
circle through a type annotation is still a circle a reader has to untangle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "holdmusic"

# What an interface may import besides itself: the application layer and the plain
# helpers every layer shares (text escaping, JUnit rendering, the package version).
INTERFACE_MAY_IMPORT = {"holdmusic", "holdmusic.app", "holdmusic.text", "holdmusic.junit"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every holdmusic module ``path`` imports (``from holdmusic import app`` counts as
    ``holdmusic.app`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("holdmusic"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("holdmusic"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if _exists(sub) else base)
    out.discard(here)
    return {m for m in out if _exists(m)}


def _exists(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_import_circles() -> None:
    g = graph()
    # A package's __init__ importing its own submodules (and they it) is how a package
    # re-exports; a circle is anything else.
    edges = {
        m: {d for d in deps if not (d.startswith(m + ".") or m.startswith(d + "."))}
        for m, deps in g.items()
    }
    seen: dict[str, int] = {}  # 1: on the stack, 2: done
    circles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        for d in sorted(edges.get(m, ())):
            if seen.get(d) == 1:
                circles.append([*stack[stack.index(d) :], d])
            elif d not in seen:
                visit(d, [*stack, d])
        seen[m] = 2

    for m in sorted(edges):
        if m not in seen:
            visit(m, [m])
    assert circles == []


def test_interfaces_import_the_application_layer_not_the_stages() -> None:
    bad = {}
    for m, deps in graph().items():
        if m == "holdmusic.cli" or m.startswith("holdmusic.cli."):
            wrong = {
                d
                for d in deps
                if d not in INTERFACE_MAY_IMPORT
                and not d.startswith("holdmusic.cli")
                # `holdmusic serve` is the command that starts the web interface: the one
                # place where one interface imports the other (tests/test_web.py checks
                # that the web imports the application layer only).
                and not (m == "holdmusic.cli.serve" and d.startswith("holdmusic.web"))
            }
            if wrong:
                bad[m] = sorted(wrong)
    assert bad == {}


def test_nothing_below_the_interfaces_imports_them() -> None:
    bad = {
        m: sorted(d for d in deps if d.startswith(("holdmusic.cli", "holdmusic.web")))
        for m, deps in graph().items()
        if not m.startswith(("holdmusic.cli", "holdmusic.web")) and m != "holdmusic.__main__"
    }
    assert {m: d for m, d in bad.items() if d} == {}


def test_the_application_layer_imports_nothing_heavy() -> None:
    """``holdmusic validate`` must stay fast: importing the application layer (as the CLI
    does for every command) loads no boto3, httpx, rich, click or PyAV."""
    code = (
        "import sys, holdmusic.app; "
        "print(sorted(m for m in ('boto3', 'botocore', 'httpx', 'rich', 'click', 'av') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_the_edges_read_holdmusic_variables() -> None:
    """The environment is read at the edges (the CLI, the app's Environment): a stage
    takes what it needs as arguments. netguard keeps one fallback for library callers that
    pass nothing (documented there)."""
    allowed = {"holdmusic.app.env", "holdmusic.netguard", "holdmusic.cli._common"}
    readers = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "os.getenv" in text:
            readers.add(module_name(path))
    assert readers <= allowed, sorted(readers - allowed)


def test_validate_loads_no_run_machinery() -> None:
    """`holdmusic validate FILE` stays fast: the app layer is lazy, and validate needs
    neither the run's vocabulary (record, progress, secrets, tempfiles) nor the network."""
    code = (
        "import sys, runpy; sys.argv = ['holdmusic', 'validate', "
        f"{str(REPO / 'samples' / 'welcome-mono.mp3')!r}]\n"
        "try:\n    runpy.run_module('holdmusic', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('holdmusic.record', 'holdmusic.progress', 'holdmusic.app.runs', 'httpx', "
        "'boto3', 'rich', 'av', 'mutagen')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr


def test_a_dry_run_never_imports_boto3() -> None:
    """A dry run plans the URL (app.PlanningStore); Daily is read through a mock."""
    code = f"""
import sys, httpx
from holdmusic import app
from holdmusic.daily import DailyClient

def answer(request):
    config = {{"hold_music_url": None, "phone_number": "+15550000000"}}
    return httpx.Response(200, json={{"id": "cfg-1", "type": "pinless_dialin", "config": config}})

client = DailyClient("k" * 32, "https://api.daily.example/v1",
                     transport=httpx.MockTransport(answer))
env = app.Environment()
result = app.publish({str(REPO / "samples" / "welcome-mono.mp3")!r},
                     app.Selection(config_ids=("cfg-1",)),
                     env.storage_settings(bucket="music"), env=env, dry_run=True, client=client)
assert result.ok, result.to_dict()
assert result.url.startswith("https://music.s3."), result.url
print("boto3" in sys.modules, "botocore" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
