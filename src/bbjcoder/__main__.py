"""`python -m bbjcoder ...` runs the CLI, e.g. under `accelerate launch -m bbjcoder train ...`."""

from bbjcoder.cli import main

main()
