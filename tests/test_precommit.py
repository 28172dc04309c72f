"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real pre-commit in a
temporary git repository, the way a team that adds holdmusic to its
``.pre-commit-config.yaml`` would run them.

pre-commit installs a hook repository by cloning it at a commit. Pointing it at this
checkout directly would test HEAD, not the working tree (``try-repo`` adds uncommitted
changes to tracked files, but never untracked ones, so a new .pre-commit-hooks.yaml
would be invisible until committed). So the session first copies the working tree (the
files git would consider: tracked and untracked-but-not-ignored) into a throwaway git
repository, commits it, and uses that as ``repo:`` with ``rev: <sha>``. Nothing is
written to this checkout.

pre-commit then builds a virtualenv and pip-installs holdmusic from that commit (PyPI
is needed for the build backend and the dependencies). ``PRE_COMMIT_HOME`` is one temp
directory for the session, so that happens once; both hooks share the environment.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
HOOK_IDS = ("holdmusic-validate", "holdmusic-validate-strict")

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("pre_commit") is None,
        reason="pre-commit is not installed (pip install -e '.[dev]')",
    ),
]

PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
# The tests that let pre-commit build the hooks' environment pip-install holdmusic's
# dependencies from the package index: skipped (with the reason) when it is unreachable.
needs_index = pytest.mark.network

# The README's ``repo: local`` alternative, verbatim: holdmusic from the environment.
LOCAL_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: holdmusic-validate
        name: holdmusic validate
        entry: holdmusic validate
        language: system
        files: (?i)\\.mp3$
        require_serial: true
"""


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str  # stdout and stderr interleaved, as a terminal shows them


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> Run:
    p = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(p.returncode, p.stdout)


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    r = _run(["git", *args], cwd, env, timeout=60)
    assert r.exit_code == 0, f"git {' '.join(args)} failed:\n{r.output}"
    return r.output


def _git_init(path: Path, env: dict[str, str]) -> None:
    _git(path, env, "init", "-q", "-b", "main", ".")
    _git(path, env, "config", "user.name", "holdmusic tests")
    _git(path, env, "config", "user.email", "tests@holdmusic.invalid")
    _git(path, env, "config", "commit.gpgsign", "false")


@pytest.fixture(scope="session")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for git and pre-commit: the session's PRE_COMMIT_HOME, and no git
    settings from this machine (a global core.hooksPath, commit signing, or GIT_DIR
    inherited from a git hook running pytest would change what git does)."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    gitconfig = tmp_path_factory.mktemp("gitconfig") / "config"
    gitconfig.write_text("")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT")) and k != "SKIP"
    }
    env.update(
        PRE_COMMIT_HOME=str(home),
        PRE_COMMIT_COLOR="never",
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="session")
def hook_repo(
    tmp_path_factory: pytest.TempPathFactory, hook_env: dict[str, str]
) -> tuple[Path, str]:
    """A committed copy of this working tree: (path, commit sha) for ``repo:``/``rev:``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    if listed.returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout: {listed.stderr.decode().strip()}")
    snapshot = tmp_path_factory.mktemp("holdmusic-hook-repo")
    for name in listed.stdout.decode().split("\0"):
        src = REPO / name
        if not name or not src.is_file():  # deleted from the working tree, or a submodule
            continue
        dst = snapshot / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file(), "no .pre-commit-hooks.yaml"
    _git_init(snapshot, hook_env)
    _git(snapshot, hook_env, "add", "-A")
    _git(snapshot, hook_env, "commit", "-q", "--no-verify", "-m", "snapshot for tests")
    sha = _git(snapshot, hook_env, "rev-parse", "HEAD").strip()
    return snapshot, sha


class WorkRepo:
    """A team's repository: git, a .pre-commit-config.yaml using the holdmusic hooks."""

    def __init__(self, path: Path, env: dict[str, str], hook_repo: tuple[Path, str]):
        self.path = path
        self.env = env
        self.hook_repo_path, self.rev = hook_repo
        path.mkdir(parents=True, exist_ok=True)
        _git_init(path, env)
        self.configure()

    def configure(self, args: dict[str, list[str]] | None = None) -> None:
        """The README's example: both hooks from the holdmusic repository, pinned."""
        lines = ["repos:", f"  - repo: {self.hook_repo_path}", f"    rev: {self.rev}", "    hooks:"]
        for hook_id in HOOK_IDS:
            lines.append(f"      - id: {hook_id}")
            if args and hook_id in args:
                lines.append("        args: [" + ", ".join(f'"{a}"' for a in args[hook_id]) + "]")
        self.write_config("\n".join(lines) + "\n")

    def write_config(self, text: str) -> None:
        (self.path / ".pre-commit-config.yaml").write_text(text)
        self.git("add", ".pre-commit-config.yaml")

    def add(self, name: str, sample: str | None = None, text: str | None = None) -> None:
        """Stage ``name`` with the bytes of samples/``sample``, or with ``text``."""
        dst = self.path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if sample is not None:
            shutil.copyfile(SAMPLES / sample, dst)
        else:
            dst.write_text(text or "")
        self.git("add", "--", name)

    def git(self, *args: str) -> str:
        return _git(self.path, self.env, *args)

    def pre_commit(self, *args: str, timeout: float = 300) -> Run:
        return _run([*PRE_COMMIT, *args], self.path, self.env, timeout=timeout)

    def run_hook(self, hook_id: str, *files: str) -> Run:
        """``pre-commit run HOOK --verbose --files ...``: verbose shows holdmusic's own
        output even when the hook passes."""
        return self.pre_commit("run", hook_id, "--verbose", "--files", *files)


@pytest.fixture(scope="session")
def hook_installed(
    tmp_path_factory: pytest.TempPathFactory, hook_env: dict[str, str], hook_repo: tuple[Path, str]
) -> None:
    """Build the hooks' environment once for the session (the slow part: a virtualenv
    and a pip install of holdmusic and its dependencies from PyPI)."""
    work = WorkRepo(tmp_path_factory.mktemp("prime"), hook_env, hook_repo)
    r = work.pre_commit("install-hooks", timeout=900)
    assert r.exit_code == 0, f"pre-commit could not install the holdmusic hooks:\n{r.output}"


@pytest.fixture
def work(tmp_path: Path, hook_env: dict[str, str], hook_repo, hook_installed) -> WorkRepo:
    return WorkRepo(tmp_path / "team-repo", hook_env, hook_repo)


def _status_line(output: str, hook_name: str) -> str:
    """pre-commit's ``name.....Passed`` line for a hook."""
    for line in output.splitlines():
        if re.match(re.escape(hook_name) + r"\.{3,}", line):
            return line
    raise AssertionError(f"no status line for {hook_name!r} in:\n{output}")


def test_manifest_is_valid_for_pre_commit(tmp_path: Path, hook_env: dict[str, str]) -> None:
    manifest = str(REPO / ".pre-commit-hooks.yaml")
    r = _run([*PRE_COMMIT, "validate-manifest", manifest], tmp_path, hook_env)
    assert r.exit_code == 0, r.output


@needs_index
def test_good_mp3_passes(work: WorkRepo) -> None:
    work.add("audio/good.mp3", "welcome-mono.mp3")
    r = work.run_hook("holdmusic-validate", "audio/good.mp3")
    assert r.exit_code == 0, r.output
    assert _status_line(r.output, "holdmusic validate").endswith("Passed")
    assert "Checking audio/good.mp3: PASSED (45.000 s, 225,360 bytes" in r.output
    assert "1 file checked: 1 passed, 0 failed" in r.output


@needs_index
@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("not-really.mp3", ["error [not_mp3]", "WAV (RIFF/WAVE)"]),
        ("too-long.mp3", ["error [too_long]", "75.096 s"]),
        ("lying-header.mp3", ["error [too_long]", "warning [header_mismatch]"]),
    ],
)
def test_bad_mp3_fails_and_says_why(work: WorkRepo, sample: str, expected: list[str]) -> None:
    work.add("hold.mp3", sample)
    r = work.run_hook("holdmusic-validate", "hold.mp3")
    assert r.exit_code == 1, r.output
    assert _status_line(r.output, "holdmusic validate").endswith("Failed")
    assert "Checking hold.mp3: FAILED" in r.output
    for text in expected:
        assert text in r.output


@needs_index
@pytest.mark.parametrize("name", ["BAD.MP3", "music/Bad.Mp3"])
def test_extension_in_any_case_is_checked(work: WorkRepo, name: str) -> None:
    work.add(name, "not-really.mp3")
    r = work.run_hook("holdmusic-validate", name)
    assert r.exit_code == 1, r.output
    assert f"Checking {name}: FAILED" in r.output
    assert "error [not_mp3]" in r.output


@needs_index
def test_files_that_are_not_mp3_are_left_alone(work: WorkRepo) -> None:
    # Bad audio under other names: the hook must not even see these.
    names = ["not-really.wav", "notes.mp3.txt", "song.mp3.bak", "mp3", "readme_mp3"]
    for name in names:
        work.add(name, "not-really.mp3")
    r = work.run_hook("holdmusic-validate", *names)
    assert r.exit_code == 0, r.output
    assert _status_line(r.output, "holdmusic validate").endswith("(no files to check)Skipped")

    # Alongside an MP3, only the MP3 reaches holdmusic.
    work.add("good.mp3", "welcome-mono.mp3")
    r = work.run_hook("holdmusic-validate", *names, "good.mp3")
    assert r.exit_code == 0, r.output
    assert "1 file checked: 1 passed, 0 failed" in r.output
    for name in names:
        assert f"Checking {name}" not in r.output


@needs_index
def test_strict_hook_fails_on_warnings(work: WorkRepo) -> None:
    work.add("jingle.mp3", "jingle-stereo.mp3")
    lenient = work.run_hook("holdmusic-validate", "jingle.mp3")
    assert lenient.exit_code == 0, lenient.output
    assert "Checking jingle.mp3: PASSED, with warnings" in lenient.output
    assert "warning [stereo]" in lenient.output

    strict = work.run_hook("holdmusic-validate-strict", "jingle.mp3")
    assert strict.exit_code == 1, strict.output
    assert _status_line(strict.output, "holdmusic validate --strict").endswith("Failed")
    assert "Checking jingle.mp3: FAILED" in strict.output
    assert "warning [stereo]" in strict.output


@needs_index
def test_args_from_the_config_reach_holdmusic(work: WorkRepo) -> None:
    # A team whose greeting must stay under 30 s; the strict hook keeps --strict when
    # the team adds its own args.
    work.configure(
        {
            "holdmusic-validate": ["--max-seconds", "30"],
            "holdmusic-validate-strict": ["--max-seconds", "50"],
        }
    )
    work.add("welcome.mp3", "welcome-mono.mp3")  # 45.000 s, mono: no warnings
    work.add("jingle.mp3", "jingle-stereo.mp3")  # 30.000 s, stereo: a warning

    r = work.run_hook("holdmusic-validate", "welcome.mp3")
    assert r.exit_code == 1, r.output
    assert "error [too_long]" in r.output
    assert "45.000 s is not under the 30 s limit" in r.output

    r = work.run_hook("holdmusic-validate-strict", "welcome.mp3", "jingle.mp3")
    assert r.exit_code == 1, r.output
    assert "Checking welcome.mp3: PASSED" in r.output  # 45 s < 50 s
    assert "Checking jingle.mp3: FAILED" in r.output  # still strict
    assert "1 passed, 1 failed" in r.output


@needs_index
def test_many_files_are_checked_in_one_holdmusic_run(work: WorkRepo) -> None:
    # require_serial: pre-commit hands every file to one holdmusic process (which has
    # its own worker pool) instead of splitting them over parallel copies.
    names = [f"prompts/{i:02d}.mp3" for i in range(20)]
    for name in names:
        work.add(name, "welcome-mono.mp3")
    work.add("prompts/zz-bad.mp3", "error-page.mp3")
    r = work.run_hook("holdmusic-validate", *names, "prompts/zz-bad.mp3")
    assert r.exit_code == 1, r.output
    assert re.findall(r"\d+ files? checked: .*", r.output) == [
        "21 files checked: 20 passed, 1 failed"
    ]
    assert "Checking prompts/zz-bad.mp3: FAILED" in r.output


@needs_index
def test_installed_hook_blocks_a_commit_with_a_bad_mp3(work: WorkRepo) -> None:
    r = work.pre_commit("install")
    assert r.exit_code == 0, r.output
    work.add("hold.mp3", "not-really.mp3")
    work.add("README.txt", text="hold music for the support line\n")

    blocked = _run(["git", "commit", "-m", "add hold music"], work.path, work.env)
    assert blocked.exit_code != 0, blocked.output
    assert "error [not_mp3]" in blocked.output
    assert _run(["git", "rev-parse", "--verify", "HEAD"], work.path, work.env).exit_code != 0

    work.add("hold.mp3", "calm-vbr.mp3")
    done = _run(["git", "commit", "-m", "add hold music"], work.path, work.env)
    assert done.exit_code == 0, done.output
    assert _status_line(done.output, "holdmusic validate").endswith("Passed")
    assert work.git("ls-tree", "--name-only", "HEAD").split() == [
        ".pre-commit-config.yaml",
        "README.txt",
        "hold.mp3",
    ]


@needs_index
def test_try_repo_on_a_committed_checkout(
    tmp_path: Path, hook_env: dict[str, str], hook_repo: tuple[Path, str]
) -> None:
    """``pre-commit try-repo PATH`` (how a team tries the hooks before adopting them).
    try-repo builds its own environment in a throwaway store, so this is slow-ish."""
    work = WorkRepo(tmp_path / "team-repo", hook_env, hook_repo)
    work.add("good.mp3", "welcome-mono.mp3")
    work.add("bad.MP3", "too-long.mp3")
    r = work.pre_commit(
        "try-repo",
        str(hook_repo[0]),
        "holdmusic-validate",
        "--verbose",
        "--files",
        "good.mp3",
        "bad.MP3",
        timeout=900,
    )
    assert r.exit_code == 1, r.output
    assert "Checking good.mp3: PASSED" in r.output
    assert "Checking bad.MP3: FAILED" in r.output
    assert "error [too_long]" in r.output


def test_local_hook_uses_the_installed_holdmusic(
    tmp_path: Path, hook_env: dict[str, str], hook_repo: tuple[Path, str]
) -> None:
    # language: system runs `holdmusic` from PATH: the one installed beside this Python,
    # so this one needs no package index.
    work = WorkRepo(tmp_path / "team-repo", hook_env, hook_repo)
    work.env = {
        **work.env,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), work.env.get("PATH", "")]),
    }
    work.write_config(LOCAL_CONFIG)
    work.add("good.mp3", "welcome-mono.mp3")
    r = work.run_hook("holdmusic-validate", "good.mp3")
    assert r.exit_code == 0, r.output
    assert "Checking good.mp3: PASSED (45.000 s" in r.output

    work.add("LOUD.MP3", "error-page.mp3")
    work.add("notes.txt", "error-page.mp3")
    r = work.run_hook("holdmusic-validate", "good.mp3", "LOUD.MP3", "notes.txt")
    assert r.exit_code == 1, r.output
    assert "Checking LOUD.MP3: FAILED" in r.output
    assert "error [not_mp3]: this is an HTML page" in r.output
    assert "2 files checked: 1 passed, 1 failed" in r.output
