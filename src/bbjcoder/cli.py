"""The `bbjcoder` command line: one Typer app, each sub-command a thin call into one package.

Heavy imports (torch, transformers, llama_cpp) happen inside the commands that need them, so
`bbjcoder --help` and `bbjcoder check` start fast. UserErrors print in one or two lines, exit 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from bbjcoder.errors import UserError

app = typer.Typer(
    name="bbjcoder",
    help="Turn an open code LLM into a model that writes correct BBj (BASIS Business BASIC).\n\n"
    "Pipeline: data -> train -> eval -> export -> serve. Each stage reads the files the previous "
    "one wrote; `bbjcoder demo` runs them all on a tiny CPU model.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Training data: validate, convert, import, split, stats, corpus.", no_args_is_help=True)
runs_app = typer.Typer(help="The run registry under runs/: list, show, compare.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")

err_console = Console(stderr=True)


# --- check (bbj/) -------------------------------------------------------------------------------

# --- data (data/) -------------------------------------------------------------------------------

# --- train (train/) and runs (runs.py) ----------------------------------------------------------

# --- eval and review (evaluate/) ----------------------------------------------------------------

# --- export, serve, mcp (export/, serve/) -------------------------------------------------------

# --- demo (pipeline.py) -------------------------------------------------------------------------


def main() -> None:
    """Console-script entry: run the app, turning UserErrors into a short message and exit 2."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
