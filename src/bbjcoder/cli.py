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


@app.command("check")
def check_cmd(
    paths: list[str] = typer.Argument(
        ..., help="BBj files, directories (searched recursively) or `-` for standard input."
    ),
    backend: str = typer.Option(
        "auto", "--backend", "-b", help="auto (bbjcpl when installed, else builtin), builtin or bbjcpl."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON list of {path, ok, diagnostics}."),
    strict: bool = typer.Option(
        False, "--strict", help="Also check FOR/NEXT, WHILE/WEND, REPEAT/UNTIL, IF/FI, SWITCH/SWEND nesting."
    ),
    ext: list[str] = typer.Option(
        [], "--ext", help="File extension to search in directories (repeatable; default .bbj .src .bbl .bbx .txt)."
    ),
) -> None:
    """Syntax-check BBj source like `bbjcpl -N`. Exit 0: all clean, 1: syntax errors, 2: usage or I/O error."""
    from bbjcoder.bbj import BACKENDS, CheckerUnavailable, get_checker, runner

    if backend.lower() not in BACKENDS:
        raise UserError(f"unknown --backend {backend!r}", hint=f"use one of: {', '.join(BACKENDS)}")
    try:
        checker = get_checker(backend)
        sources = runner.collect_sources(paths, ext or runner.DEFAULT_EXTENSIONS)
        results = runner.check_paths(sources, checker, strict=strict)
    except CheckerUnavailable as exc:
        raise UserError(exc.message, hint=exc.hint) from exc
    except runner.SourceError as exc:
        raise UserError(exc.message, path=exc.path) from exc
    if json_output:
        runner.render_json(results, sys.stdout)
    else:
        runner.render_human(results, sys.stdout)
    err_console.print(runner.summary(results, checker.name), highlight=False)
    # sys.exit, not typer.Exit: main() runs click with standalone_mode=False, where a typer.Exit
    # code is returned from app() and dropped instead of becoming the process exit status.
    sys.exit(runner.exit_code(results))


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
