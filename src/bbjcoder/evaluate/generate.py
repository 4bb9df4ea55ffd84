"""Generation backends behind one protocol, and the resumable sampling loop that feeds samples.jsonl.

SPECs: `hf:PATH` (transformers, batched, merged model or PEFT adapter dir), `gguf:PATH`
(llama-cpp-python), `openai:MODEL@BASE_URL` (any OpenAI-compatible server), `run:ID` (a run's
final adapter on its base model) and `base` (that run's untouched base model).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bbjcoder.config import EvalSection, RunSection, llama_threads
from bbjcoder.errors import DependencyError, ModelError, ServerError, UserError
from bbjcoder.evaluate.extract import truncate_at_stop
from bbjcoder.evaluate.prompts import CONTROL_STOPS, Prompt
from bbjcoder.evaluate.samples import SampleRow, SampleStore
from bbjcoder.records.export_manifest import ExportManifest
from bbjcoder.records.run import RunRecord
from bbjcoder.runs import check_adapter, resolve_run

if TYPE_CHECKING:
    from bbjcoder.evaluate.llamacpp import Request

_EVAL = EvalSection()  # the defaults live in the config's [eval] section


@dataclass(frozen=True)
class SamplingParams:
    """The sampling settings every backend honours identically (defaults: `config.EvalSection`,
    the seed: the run's)."""

    n: int = _EVAL.n_samples
    temperature: float = _EVAL.temperature
    top_p: float = _EVAL.top_p
    max_new_tokens: int = _EVAL.max_new_tokens
    stop: tuple[str, ...] = tuple(_EVAL.stop)
    seed: int = RunSection().seed
    batch_size: int = _EVAL.batch_size

    @property
    def all_stops(self) -> tuple[str, ...]:
        return (*self.stop, *CONTROL_STOPS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_seed(base: int, task_id: str, index: int) -> int:
    """A per-sample seed stable across runs and resumes (hash of base seed, task id, index)."""
    digest = hashlib.sha256(f"{base}\0{task_id}\0{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class Backend(Protocol):
    """Generates one completion per prompt; `seeds[i]` seeds prompt i where the backend can.

    A backend may also have `stream(prompts, params, seeds)` yielding (index, text) as each
    sample finishes (gguf: several decoded at once); generate_samples stores each at once."""

    label: str
    description: dict[str, Any]

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, seeds: Sequence[int]
    ) -> list[str]: ...

    def close(self) -> None: ...


# --- SPEC parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # hf | gguf | openai | run | base
    target: str  # path, run id, or model name
    base_url: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "openai":
            return f"openai:{self.target}@{self.base_url}"
        if self.kind == "base":
            return f"base:{self.target}"
        return f"{self.kind}:{self.target}"


def parse_spec(spec: str, *, run: str | None = None) -> ModelSpec:
    """Parse a model SPEC; `base` needs `run` (the run under test) to know which base model."""
    if spec == "base":
        if run is None:
            raise ModelError(
                "'base' means the base model of the run under test; the model under test is not a run:"
            )
        return ModelSpec("base", run)
    kind, sep, rest = spec.partition(":")
    if not sep or not rest or kind not in ("hf", "gguf", "openai", "run"):
        raise ModelError(
            f"bad model SPEC {spec!r}", hint="use hf:PATH, gguf:PATH, openai:MODEL@BASE_URL, run:ID or base"
        )
    if kind == "openai":
        for scheme in ("@http://", "@https://"):
            i = rest.find(scheme)
            if i > 0:
                return ModelSpec("openai", rest[:i], rest[i + 1 :].rstrip("/"))
        raise ModelError(f"bad SPEC {spec!r}: expected openai:MODEL@http(s)://HOST[:PORT]/v1")
    return ModelSpec(kind, rest)


# --- hf -------------------------------------------------------------------------------------------


class HFBackend:
    """Local transformers model, batched with left padding. A dir with adapter_config.json is a
    PEFT adapter: it is loaded on its base model and merged for fast generation."""

    batched = True

    def __init__(
        self, path: Path, *, label: str, adapter: Path | None = None, device: str | None = None
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise DependencyError("the hf backend needs the [train] extra (torch, transformers)") from exc
        path = Path(path)
        if adapter is None and (path / "adapter_config.json").exists():
            adapter = path
            cfg = json.loads((path / "adapter_config.json").read_text())
            path = Path(cfg.get("base_model_name_or_path") or "")
        if not (path / "config.json").exists():
            raise ModelError("not a Hugging Face model directory (no config.json)", path=path)
        self.label = label
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        tok_dir = adapter if adapter is not None and (adapter / "tokenizer_config.json").exists() else path
        self.tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        self.model = model.to(self.device).eval()  # type: ignore[arg-type]
        # Stop on ChatML's end of turn and the end of text, whatever the checkpoint's generation
        # config says (a Base model's names only <|endoftext|>: chat samples would run to the limit).
        from bbjcoder.data.tokens import end_token_ids

        self.end_ids = end_token_ids(self.tokenizer)
        self.description = {"backend": "hf", "path": str(path), "adapter": str(adapter) if adapter else None}

    def _render(self, prompt: Prompt) -> str:
        if prompt.raw is not None:
            return prompt.raw
        return str(
            self.tokenizer.apply_chat_template(prompt.chat(), tokenize=False, add_generation_prompt=True)
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams, seeds: Sequence[int]) -> list[str]:
        import torch

        texts = [self._render(p) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        # One generator per batch: HF samples a batch from one RNG stream, so a batch is seeded by
        # its first sample's seed (reproducible for the same batch size).
        torch.manual_seed(seeds[0] if seeds else params.seed)
        sample = params.temperature > 0
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=None,
                max_new_tokens=params.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.end_ids,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        specials = [t for t in self.tokenizer.all_special_tokens if t]
        results = []
        for row in new:
            # Decode with special tokens so stops like <|im_end|> cut the text where they occur,
            # then drop any control token left inside the kept part (padding, stray FIM tokens).
            text = truncate_at_stop(
                str(self.tokenizer.decode(row, skip_special_tokens=False)), params.all_stops
            )
            for tok in specials:
                text = text.replace(tok, "")
            results.append(text)
        return results

    def close(self) -> None:
        self.model = None


# --- gguf -----------------------------------------------------------------------------------------


class GGUFBackend:
    """llama-cpp-python: chat completion with the GGUF's own chat template; raw prompts for FIM."""

    def __init__(self, path: Path, *, label: str, n_ctx: int = 4096) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise DependencyError("the gguf backend needs llama-cpp-python (the [export] extra)") from exc
        from bbjcoder.integrity import check_gguf

        check_gguf(path)  # a truncated file: one line naming it, not llama.cpp's traceback
        self.label = label
        from bbjcoder.evaluate.llamacpp import LlamaEngine

        threads = llama_threads()  # generation and prompts (and parallel steps: batches) alike
        self.llm = Llama(
            model_path=str(path), n_ctx=n_ctx, verbose=False, n_threads=threads, n_threads_batch=threads
        )
        self.engine = LlamaEngine(self.llm)
        self.description = {"backend": "gguf", "path": str(path)}

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams, seeds: Sequence[int]) -> list[str]:
        texts = dict(self.stream(prompts, params, seeds))
        return [texts[i] for i in range(len(prompts))]

    def stream(
        self, prompts: Sequence[Prompt], params: SamplingParams, seeds: Sequence[int]
    ) -> Iterator[tuple[int, str]]:
        """(prompt index, text) as each sample is finished. `params.batch_size` > 1 decodes that
        many prompts at once (LlamaEngine.generate_parallel); 1 is the loop `bbjcoder serve` runs."""
        from bbjcoder.data.fim import FIM_STOPS
        from bbjcoder.data.tokens import CHAT_END_TOKENS
        from bbjcoder.evaluate.llamacpp import Request

        stops = [s for s in params.all_stops if s]
        groups: dict[tuple[str, ...], list[tuple[int, Request]]] = {}
        for i, (prompt, seed) in enumerate(zip(prompts, seeds, strict=True)):
            # The same rules as `bbjcoder serve`: the GGUF's chat template (or the FIM prompt),
            # ended by the model's end-token ids, named explicitly.
            if prompt.raw is not None:
                text, ends = prompt.raw, FIM_STOPS
            else:
                text, ends = self.engine.render_chat(prompt.chat()), CHAT_END_TOKENS
            tokens = self.engine.tokenize(text)
            budget = max(1, min(params.max_new_tokens, self.engine.n_ctx - len(tokens)))
            groups.setdefault(tuple(ends), []).append((i, Request(tokens, budget, seed)))
        for ends, items in groups.items():  # chat and FIM prompts end on different ids
            end_ids = self.engine.end_ids(ends)
            if params.batch_size > 1:
                finished = (
                    (items[k][0], text)
                    for k, text, _ in self.engine.generate_parallel(
                        [r for _, r in items],
                        slots=params.batch_size,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        stop=stops,
                        end_ids=end_ids,
                    )
                )
            else:
                finished = ((i, self._one(r, params, stops, end_ids)) for i, r in items)
            for i, text in finished:
                yield i, truncate_at_stop(text, params.all_stops)

    def _one(self, request: Request, params: SamplingParams, stops: list[str], end_ids: list[int]) -> str:
        pieces = self.engine.generate(
            request.prompt,
            max_tokens=request.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=stops,
            end_ids=end_ids,
            seed=request.seed,
        )
        return "".join(p for p, _ in pieces)

    def close(self) -> None:
        self.engine.close()
        self.llm.close()


# --- openai-compatible ----------------------------------------------------------------------------


def api_key_for(base_url: str) -> str:
    """The API key for an OpenAI-compatible server: OPENAI_API_KEY only for OpenAI's own API,
    BBJCODER_API_KEY for every other server (a `bbjcoder serve`, vLLM, llama.cpp): a developer's
    OpenAI key is never sent to another server, and no key silently stands in for another."""
    from urllib.parse import urlparse

    host = (urlparse(base_url).hostname or "").lower()
    if host == "api.openai.com" or host.endswith(".openai.com"):
        return os.environ.get("OPENAI_API_KEY") or "none"
    return os.environ.get("BBJCODER_API_KEY") or "none"


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint. Transient failures (connection, timeout, 429, 5xx) are
    retried with exponential backoff; after `max_retries` a ServerError says what failed."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        label: str,
        timeout_s: float = _EVAL.request_timeout_s,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        log: Callable[[str], None] | None = None,
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise DependencyError("the openai backend needs the [serve] extra (openai)") from exc
        self._openai = openai
        key = api_key_for(base_url)
        # Our own retry loop (max_retries=0 in the client) so the bound and backoff are ours.
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=key,
            timeout=timeout_s,  # per request: connect, read and write each bounded
            max_retries=0,
        )
        self.model, self.base_url, self.label = model, base_url, label
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.timeout_s = timeout_s
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.description = {"backend": "openai", "model": model, "base_url": base_url}
        self.log(f"{label}: requests to {base_url}, timeout {timeout_s:g} s each")

    def _one(self, prompt: Prompt, params: SamplingParams, seed: int) -> str:
        openai = self._openai
        last: Exception | None = None
        timeouts = 0
        for attempt in range(self.max_retries + 1):
            try:
                resp = self.client.chat.completions.create(
                    model=self.model,
                    messages=prompt.chat(),  # type: ignore[arg-type]
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=params.max_new_tokens,
                    stop=list(params.stop)[:4] or None,  # the OpenAI API accepts at most 4
                    seed=seed,
                )
                return truncate_at_stop(resp.choices[0].message.content or "", params.all_stops)
            except openai.APITimeoutError as exc:
                # A server that accepts the connection but never answers: one more try, not five.
                timeouts += 1
                if timeouts >= 2:
                    raise ServerError(
                        f"model server {self.base_url} did not answer within {self.timeout_s:g} s "
                        f"({timeouts} requests timed out)",
                        hint="is the server stuck or overloaded? check it, or allow more time per "
                        "request with --request-timeout (or [eval] request_timeout_s)",
                    ) from exc
                self.log(
                    f"{self.label}: no answer from {self.base_url} within {self.timeout_s:g} s; trying once more"
                )
                last = exc
                continue
            except openai.APIConnectionError as exc:
                last = exc
            except openai.APIStatusError as exc:
                if exc.status_code != 429 and exc.status_code < 500:
                    raise ServerError(
                        f"{self.base_url} refused the request (HTTP {exc.status_code}): {exc.message}",
                        hint="check the model name and the API key: BBJCODER_API_KEY for this server "
                        "(OPENAI_API_KEY is sent only to api.openai.com)",
                    ) from exc
                last = exc
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise ServerError(
            f"model server {self.base_url} failed {self.max_retries + 1} times: {type(last).__name__}: {last}",
            hint="is the server running and reachable? (start it, or check BASE_URL in the SPEC)",
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams, seeds: Sequence[int]) -> list[str]:
        """A batch is sent as concurrent requests (servers batch them); results keep prompt order."""
        from concurrent.futures import ThreadPoolExecutor

        if len(prompts) <= 1:
            return [self._one(p, params, s) for p, s in zip(prompts, seeds, strict=True)]
        with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
            return list(
                pool.map(lambda ps: self._one(ps[0], params, ps[1]), zip(prompts, seeds, strict=True))
            )

    def close(self) -> None:
        self.client.close()


def make_backend(
    spec: ModelSpec,
    *,
    runs_dir: Path = RunSection().runs_dir,
    timeout_s: float = _EVAL.request_timeout_s,
    log: Callable[[str], None] | None = None,
) -> Backend:
    """Build the backend a SPEC names (loading the model now, so errors surface before sampling)."""
    if spec.kind == "hf":
        return HFBackend(Path(spec.target), label=spec.label)
    if spec.kind == "gguf":
        return GGUFBackend(Path(spec.target), label=spec.label)
    if spec.kind == "openai":
        assert spec.base_url is not None
        return OpenAIBackend(spec.target, spec.base_url, label=spec.label, timeout_s=timeout_s, log=log)
    run = resolve_run(spec.target, runs_dir)
    if spec.kind == "run":
        adapter = run.final_adapter()
        check_adapter(adapter)
        gguf = cpu_gguf_for(run, base=False)
        if gguf is not None:
            return GGUFBackend(gguf, label=spec.label)
        return HFBackend(run.base_model(), label=spec.label, adapter=adapter)
    gguf = cpu_gguf_for(run, base=True)
    if gguf is not None:
        return GGUFBackend(gguf, label=spec.label)
    return HFBackend(run.base_model(), label=spec.label)


def cpu_gguf_for(run: RunRecord, *, base: bool) -> Path | None:
    """On a machine without CUDA, the GGUF that evaluates `run:ID` (or its `base`) fastest, if one exists.

    Measured on 2 cores with the real 0.5B (benchmarks/eval_backends.py): llama.cpp samples faster
    than batched transformers, and it evaluates what is deployed. `run:` uses the run's export
    (the quantization its Modelfile names) when it is newer than the adapter; `base` uses the GGUF
    the base was imported from (`bbjcoder models import`). Otherwise None: the hf backend is used.
    $BBJCODER_EVAL_BACKEND=hf turns this off.
    """
    if os.environ.get("BBJCODER_EVAL_BACKEND", "").lower() == "hf":
        return None
    try:
        import torch

        if torch.cuda.is_available():
            return None
    except ImportError:
        pass
    if base:
        if run.base_model_dir is None:
            return None
        from bbjcoder.records.imported import ImportedFrom

        note = ImportedFrom.of(run.base_model_dir)
        return note.source if note is not None else None
    try:
        manifest = ExportManifest.find(run.export_dir)
    except UserError:  # not exported, or an unreadable manifest: the hf backend evaluates the run
        return None
    gguf = manifest.gguf_files.get(manifest.quant)
    weights = run.adapter_dir / "adapter_model.safetensors"
    if (
        gguf is None
        or not gguf.is_file()
        or not weights.exists()
        or gguf.stat().st_mtime < weights.stat().st_mtime
    ):
        return None  # no export, or one older than the adapter it should contain
    return gguf


# --- the resumable sampling loop ------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One thing to sample: an id (case id) and its prompt."""

    id: str
    prompt: Prompt
    extra: dict[str, Any] = field(default_factory=dict)


def generate_samples(
    backend: Backend,
    tasks: Sequence[Task],
    params: SamplingParams,
    store: SampleStore,
    *,
    postprocess: Callable[[Task, str], str],
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Sample every missing (task, index) for `backend.label`, appending each result to `store`.

    Keys already in the store are skipped, so a killed run resumes with no duplicates or gaps.
    `postprocess(task, text)` gives the code a record is judged by (extracted from the text).
    Returns how many samples were generated now.
    """
    todo = [(t, i) for t in tasks for i in range(params.n) if (backend.label, t.id, i) not in store]
    done = 0

    def keep(task: Task, index: int, seed: int, text: str, seconds: float) -> None:
        store.append(
            SampleRow(
                model=backend.label,
                case_id=task.id,
                sample=index,
                seed=seed,
                text=text,
                code=postprocess(task, text),
                seconds=round(seconds, 4),
            )
        )

    stream = getattr(backend, "stream", None)
    if stream is not None:  # samples arrive one by one as each finishes: store each at once
        seeds = [sample_seed(params.seed, t.id, i) for t, i in todo]
        last = time.perf_counter()
        for k, text in stream([t.prompt for t, _ in todo], params, seeds):
            now = time.perf_counter()
            task, index = todo[k]
            keep(task, index, seeds[k], text, now - last)  # wall time since the previous sample
            last, done = now, done + 1
            if progress is not None:
                progress(done, len(todo))
        return done
    # The others: hf answers a padded batch at once; openai answers one prompt per call, so each
    # sample is stored (and reported) as soon as it exists and a slow model shows steady progress.
    step = params.batch_size if getattr(backend, "batched", False) else 1
    for start in range(0, len(todo), step):
        batch = todo[start : start + step]
        seeds = [sample_seed(params.seed, t.id, i) for t, i in batch]
        t0 = time.perf_counter()
        texts = backend.generate([t.prompt for t, _ in batch], params, seeds)
        per_sample = (time.perf_counter() - t0) / len(batch)
        for (task, index), text, seed in zip(batch, texts, seeds, strict=True):
            keep(task, index, seed, text, per_sample)
            done += 1
        if progress is not None:
            progress(start + len(batch), len(todo))
    return done
