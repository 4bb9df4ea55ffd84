"""`bbjcoder --help` and `bbjcoder check` must start fast: no heavy import at CLI load time."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "trl", "llama_cpp", "matplotlib", "fastapi", "mcp")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import sys, bbjcoder.cli\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_check_on_stdin_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from bbjcoder.bbj import check_source\n"
        "assert check_source('print \"hi\"\\n') == []\n"
        "import bbjcoder.data.validate\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_exits_zero_and_lists_every_stage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "--help"], capture_output=True, text=True, check=True
    )
    for verb in ("check", "data", "train", "eval", "export", "serve", "mcp", "review", "runs", "demo"):
        assert verb in out.stdout
