"""A self-distilled general-code mix: the base model's own answers to general programming requests.

Stage 2 mixes general code into the BBj examples against catastrophic forgetting. Hand-written
snippets in another style than the model's own pull its general answers toward that style; the
model's own answers (self-distillation) keep its general behaviour where it was and only cost it
the BBj it learns beside them. `bbjcoder data distill-general` asks a model (normally the base of
the run to be trained) every prompt of `train/general_prompts.jsonl` (our own requests: Python
function stubs and short chat tasks, none of them a HumanEval problem) and keeps an answer when:

- a function request's answer holds a ```python block that parses and defines the function;
- a chat request's answer is not empty and every ```python block in it parses;
- no text of it shares `CONTAMINATION_THRESHOLD` of its 8-grams with a forgetting-check problem.

The code is parsed, never executed. Every rejected prompt is reported with its reason. Answers are
appended to `<out>.partial.jsonl` as they come, so an interrupted job resumes where it stopped; the
accepted records are written atomically to `<out>` at the end.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bbjcoder.data.fences import fenced_blocks, has_unclosed_fence
from bbjcoder.data.overlap import CONTAMINATION_THRESHOLD, NGRAM, ngram_overlap, ngrams
from bbjcoder.errors import DataError
from bbjcoder.evaluate.extract import LANGUAGE_ALIASES
from bbjcoder.evaluate.prompts import GENERAL_SYSTEM_PROMPT, Prompt, general_prompt
from bbjcoder.fileio import atomic_write_jsonl, numbered_jsonl

GENERAL_PROMPTS = Path(__file__).parents[1] / "train" / "general_prompts.jsonl"


@dataclass(frozen=True)
class GeneralPrompt:
    """One general-code request: a Python function stub to complete, or a free chat task."""

    id: str
    kind: Literal["function", "chat"]
    prompt: str
    entry_point: str | None = None

    def request(self) -> Prompt:
        """The model input: a function stub is asked exactly as the forgetting check asks it."""
        if self.kind == "function":
            return general_prompt(self.prompt)
        return Prompt((("system", GENERAL_SYSTEM_PROMPT), ("user", self.prompt)))


def read_general_prompts(path: Path = GENERAL_PROMPTS) -> list[GeneralPrompt]:
    """The prompts of a JSONL file; DataError names path:line on a bad or repeated one."""
    if not path.is_file():
        raise DataError("general prompts file not found", path=path)
    out: list[GeneralPrompt] = []
    seen: set[str] = set()
    for line, obj in numbered_jsonl(path):
        pid, kind, text, entry = obj.get("id"), obj.get("kind"), obj.get("prompt"), obj.get("entry_point")
        if not isinstance(pid, str) or not pid or not isinstance(text, str) or not text.strip():
            raise DataError("a prompt needs a non-empty 'id' and 'prompt'", path=path, line=line)
        if kind not in ("function", "chat"):
            raise DataError(f"'kind' must be 'function' or 'chat', not {kind!r}", path=path, line=line)
        if kind == "function" and (not isinstance(entry, str) or f"def {entry}(" not in text):
            raise DataError(
                "a function prompt needs 'entry_point', the name its stub defines", path=path, line=line
            )
        if pid in seen:
            raise DataError(f"prompt id {pid!r} appears twice", path=path, line=line)
        seen.add(pid)
        out.append(GeneralPrompt(pid, kind, text, entry if kind == "function" else None))
    if not out:
        raise DataError("the general prompts file holds no prompts", path=path)
    return out


def _python_blocks(answer: str) -> list[str]:
    return [body for info, body in fenced_blocks(answer) if info in LANGUAGE_ALIASES["python"]]


def _parse_error(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    return None


def _defines(code: str, name: str) -> bool:
    tree = ast.parse(code)
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in tree.body)


@dataclass(frozen=True)
class ForbiddenText:
    """A text the mix must not overlap (a forgetting-check problem's prompt or solution)."""

    source: str
    grams: frozenset[tuple[str, ...]]


def forgetting_texts(suites: Sequence[str | Path]) -> list[ForbiddenText]:
    """The prompts and reference solutions of the forgetting suites (`humaneval` or a directory)."""
    from bbjcoder.evaluate.forgetting import load_problems

    out = []
    for suite in suites:
        for p in load_problems(suite):
            for text in (p.prompt, p.reference or ""):
                grams = ngrams(text)
                if grams:
                    out.append(ForbiddenText(p.id, grams))
    return out


def judge(p: GeneralPrompt, answer: str, forbidden: Sequence[ForbiddenText] = ()) -> str | None:
    """Why an answer cannot join the mix, or None when it can."""
    if not answer.strip():
        return "empty answer"
    blocks = _python_blocks(answer)
    if p.kind == "function":
        if not blocks:
            return "no ```python block in the answer"
        code = "\n".join(blocks)
        err = _parse_error(code)
        if err:
            return f"the Python does not parse ({err})"
        assert p.entry_point is not None
        if not _defines(code, p.entry_point):
            return f"the answer does not define {p.entry_point}()"
    else:
        for body in blocks:
            err = _parse_error(body)
            if err:
                return f"a ```python block does not parse ({err})"
    grams = ngrams(answer)
    for t in forbidden:
        share = ngram_overlap(grams, t.grams)
        if share >= CONTAMINATION_THRESHOLD:
            return f"{100 * share:.0f}% {NGRAM}-gram overlap with forgetting problem {t.source}"
    return None


def mix_record(p: GeneralPrompt, answer: str, source: str) -> dict[str, Any]:
    """The training record (the format of `train/general_mix.jsonl`)."""
    messages = [*p.request().chat(), {"role": "assistant", "content": answer}]
    return {"messages": messages, "meta": {"id": f"general/{p.id}", "type": "general", "source": source}}


@dataclass
class DistillReport:
    accepted: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (prompt id, reason)
    resumed: int = 0  # answers read back from the partial file instead of generated


def close_fence(answer: str) -> str:
    """A function answer stopped at its closing fence gets the fence back (the stop removes it)."""
    text = answer.rstrip()
    return text + "\n```" if has_unclosed_fence(text) else text


def distill(
    generate: Callable[[GeneralPrompt], str],
    prompts: Sequence[GeneralPrompt],
    out: Path,
    *,
    source: str,
    forbidden: Sequence[ForbiddenText] = (),
    on_answer: Callable[[GeneralPrompt, str | None], None] | None = None,
) -> DistillReport:
    """Ask `generate` every prompt not already answered in `<out>.partial.jsonl`, judge each answer,
    and write the accepted records to `out` (atomically, in prompt order)."""
    partial = out.with_name(out.name + ".partial.jsonl")
    done: dict[str, str] = {}
    if partial.is_file():
        for _, obj in numbered_jsonl(partial):
            if isinstance(obj.get("id"), str) and isinstance(obj.get("answer"), str):
                done[obj["id"]] = obj["answer"]
    report = DistillReport(resumed=sum(1 for p in prompts if p.id in done))
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for p in prompts:
        if p.id not in done:
            answer = generate(p)
            with partial.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"id": p.id, "answer": answer}, ensure_ascii=False) + "\n")
            done[p.id] = answer
        answer = done[p.id]
        reason = judge(p, answer, forbidden)
        if reason is None:
            records.append(mix_record(p, answer.strip(), source))
            report.accepted += 1
        else:
            report.rejected.append((p.id, reason))
        if on_answer is not None:
            on_answer(p, reason)
    if not records:
        raise DataError("no answer was accepted; nothing written", path=out)
    atomic_write_jsonl(out, records)
    partial.unlink()
    return report


def distill_command(
    model: str,
    out: Path,
    *,
    prompts_path: Path = GENERAL_PROMPTS,
    forgetting_suites: Sequence[str | Path] = ("humaneval", "evals/general-code"),
    max_new_tokens: int = 512,
    runs_dir: Path = Path("runs"),
    console: Any = None,
) -> DistillReport:
    """`bbjcoder data distill-general`: greedy answers of MODEL (a SPEC) to every prompt, judged,
    with a progress bar; prints every rejection with its reason."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bbjcoder.evaluate.forgetting import is_humaneval
    from bbjcoder.evaluate.generate import SamplingParams, make_backend, parse_spec
    from bbjcoder.evaluate.prompts import CHAT_STOPS

    console = console or Console(stderr=True)
    prompts = read_general_prompts(prompts_path)
    forbidden = forgetting_texts([s for s in forgetting_suites if is_humaneval(s) or Path(s).exists()])
    spec = parse_spec(model)
    backend = make_backend(spec, runs_dir=runs_dir)
    source = f"self-distilled: {spec.label}, greedy, {prompts_path.name}"

    def generate(p: GeneralPrompt) -> str:
        # A function answer ends with its code block (what the forgetting check asks for); a chat
        # answer ends where the model ends it.
        stops = CHAT_STOPS if p.kind == "function" else ()
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, stop=stops, batch_size=1)
        text = backend.generate([p.request()], params, [0])[0]
        return close_fence(text) if p.kind == "function" else text

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"distilling {spec.label}", total=len(prompts))

            def on_answer(p: GeneralPrompt, reason: str | None) -> None:
                if reason:
                    bar.console.print(f"[yellow]rejected[/] {p.id}: {reason}")
                bar.advance(task)

            report = distill(
                generate,
                prompts,
                out,
                source=source,
                forbidden=forbidden,
                on_answer=on_answer,
            )
    finally:
        backend.close()
    console.print(
        f"{report.accepted} of {len(prompts)} answers accepted -> {out}"
        + (f" ({report.resumed} resumed from the partial file)" if report.resumed else "")
        + (f"; {len(report.rejected)} rejected (listed above)" if report.rejected else "")
    )
    return report
