"""Shared test helpers for the BBj checker: a stand-in for BASIS's proprietary `bbjcpl`."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _write_fake_bbjcpl(directory: Path, *, sleep: float = 0.0, stream: str = "stderr") -> Path:
    """A `bbjcpl` stand-in: flags every line containing BROKEN in real bbjcpl format, exits 0.

    It also records its argv so tests can check the `-N` flag and that no shell was involved.
    """
    script = directory / "bbjcpl"
    script.write_text(
        f"""#!{sys.executable}
import sys, time
time.sleep({sleep})
args = sys.argv[1:]
open({str(directory / "argv.txt")!r}, "w").write("\\n".join(args))
path = args[-1]
for n, line in enumerate(open(path, encoding="utf-8").read().split("\\n"), start=1):
    if "BROKEN" in line:
        sys.{stream}.write(f"{{path}}: error at line {{n * 10}} ({{n}}): {{line}}\\n")
sys.exit(0)
""",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture
def fake_bbjcpl() -> Callable[..., Path]:
    """Factory: `fake_bbjcpl(directory, sleep=0.0, stream="stderr")` writes an executable `bbjcpl` there."""
    return _write_fake_bbjcpl


# Real BASIS-written BBj (test data only), beside the clone as CI has it: <repo>/../shared/bbj-real
REPO_ROOT = Path(__file__).resolve().parents[2]


def _main_checkout(root: Path) -> Path:
    """The main checkout of a git worktree (its `.git` is a file naming .../.git/worktrees/X)."""
    dot_git = root / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if gitdir.parent.name == "worktrees":
                return gitdir.parent.parent.parent
    return root


BBJ_REAL = next(
    (
        p
        for p in (
            REPO_ROOT.parent / "shared" / "bbj-real",
            _main_checkout(REPO_ROOT).parent / "shared" / "bbj-real",
        )
        if (p / "README.md").is_file()
    ),
    REPO_ROOT.parent / "shared" / "bbj-real",
)


@pytest.fixture
def bbj_real() -> Path:
    """The development set of real BBj; the test is skipped (with the reason) when it is absent."""
    if not (BBJ_REAL / "README.md").is_file():
        pytest.skip(
            f"real BBj development set not found at {BBJ_REAL} (expected ../shared/bbj-real beside the repo)"
        )
    return BBJ_REAL
