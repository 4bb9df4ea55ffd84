"""The CLI's error contract: a UserError prints as one or two plain lines on stderr and exits 2."""

from __future__ import annotations

import subprocess
import sys

# A command added to the real app for this test only, so the check covers `main()` itself.
RAISING_APP = """
import sys
from bbjcoder import cli
from bbjcoder.errors import DataError

@cli.app.command("boom")
def boom() -> None:
    raise DataError("bad [meta] field", path="runs/x/run.json", line=3, hint="pip install -e '.[serve]'")

sys.argv = ["bbjcoder", "boom"]
cli.main()
"""


def test_user_error_prints_location_message_and_hint_verbatim_and_exits_2() -> None:
    out = subprocess.run([sys.executable, "-c", RAISING_APP], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: runs/x/run.json:3: bad [meta] field",
        "  hint: pip install -e '.[serve]'",
    ]
    assert "Traceback" not in out.stderr


def test_unknown_backend_is_a_usage_error_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "check", "--backend", "nope", "-"],
        input="",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: unknown --backend 'nope'")
