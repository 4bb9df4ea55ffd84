"""The Ollama `Modelfile` and the export `README.md` written next to the GGUF files.

The Modelfile carries the ChatML template, stop tokens, sampling defaults and the BBj system prompt
(the data stage's, `bbjcoder.data.convert.system_prompt`, as in training);
the README gives the `ollama create` command and hardware tiers from the measured file sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bbjcoder.data.convert import system_prompt
from bbjcoder.data.fim import FIM_MIDDLE, FIM_PREFIX, FIM_STOPS, FIM_SUFFIX

# Ollama Go template. A request with a suffix (IDE completion: Ollama passes it as .Suffix, the code
# before the cursor as .Prompt) gets the FIM prompt of bbjcoder.data.fim, as in training and `serve`.
# Else ChatML: every message in its own <|im_start|>role ... <|im_end|> block; the assistant turn is
# left open, after the last user message or as a pre-filled last assistant message.
FIM_GO_BRANCH = (
    f"{{{{- if .Suffix }}}}{FIM_PREFIX}{{{{ .Prompt }}}}{FIM_SUFFIX}{{{{ .Suffix }}}}{FIM_MIDDLE}"
    "\n{{- else }}"
)
CHATML_GO_TEMPLATE = (
    FIM_GO_BRANCH
    + """
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "assistant" }}<|im_start|>assistant
{{ $m.Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else }}<|im_start|>{{ $m.Role }}
{{ $m.Content }}<|im_end|>
{{ if $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- end }}
{{- end }}"""
)

TEMPLATE_NAME = "chatml+fim"  # what CHATML_GO_TEMPLATE renders (recorded in the export manifest)
# ChatML's end of turn, then the tokens that end a FIM middle.
STOP_TOKENS: tuple[str, ...] = tuple(dict.fromkeys(("<|im_end|>", *FIM_STOPS)))
# Ollama adds a repeat penalty of 1.1 over the last 64 tokens unless told otherwise; neither
# `bbjcoder serve` nor the gguf eval applies one, so the Modelfile turns it off and Ollama samples
# what the eval measured. top_k stays at Ollama's 40 (0 is not "off" in every Ollama sampler): at
# temperature 0.2 the top_p 0.9 nucleus lies well inside the 40 likeliest tokens.
SAMPLING: dict[str, float | int] = {"temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.0, "num_ctx": 4096}


def render_modelfile(gguf_filename: str, *, system: str | None = None) -> str:
    """The Modelfile text for `gguf_filename` (a file in the same directory as the Modelfile)."""
    prompt = system if system is not None else system_prompt()
    if '"""' in prompt or '"""' in CHATML_GO_TEMPLATE:
        raise ValueError('the system prompt must not contain """ (Modelfile string delimiter)')
    lines = [
        f"FROM ./{gguf_filename}",
        "",
        f'TEMPLATE """{CHATML_GO_TEMPLATE}"""',
        "",
        *(f'PARAMETER stop "{s}"' for s in STOP_TOKENS),
        *(f"PARAMETER {k} {v}" for k, v in SAMPLING.items()),
        "",
        f'SYSTEM """{prompt}"""',
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class ModelShape:
    """What the hardware tiers need: parameter count and the KV-cache geometry."""

    n_params: int
    n_layers: int
    n_kv_heads: int
    head_dim: int

    def kv_cache_bytes(self, n_ctx: int) -> int:
        # K and V, F16 (2 bytes), per layer, per KV head, per token.
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * 2 * n_ctx


# Qwen2.5-Coder shapes (from their published configs) for the estimates in the README.
REFERENCE_SHAPES: dict[str, ModelShape] = {
    "Qwen2.5-Coder-7B": ModelShape(7_615_616_512, 28, 4, 128),
    "Qwen2.5-Coder-14B": ModelShape(14_770_033_664, 48, 8, 128),
}
_MEMORY_SIZES_GIB = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 128)
_OVERHEAD = 512 * 1024**2  # compute buffers and runtime, roughly


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 / 10 else f"{n / 1024**2:.1f} MiB"


def memory_needed(file_bytes: int, shape: ModelShape, n_ctx: int = 4096) -> int:
    """Rough (V)RAM to run a GGUF: weights + F16 KV cache for `n_ctx` + runtime overhead."""
    return file_bytes + shape.kv_cache_bytes(n_ctx) + _OVERHEAD


def _tier(needed: int) -> str:
    fits = next((g for g in _MEMORY_SIZES_GIB if g * 1024**3 >= needed), None)
    return f"{fits} GB GPU or unified memory" if fits else "multi-GPU or a server with > 128 GB"


def render_readme(
    name: str,
    files: Mapping[str, int],
    shape: ModelShape,
    *,
    modelfile_quant: str,
    bits_per_weight: Mapping[str, float],
) -> str:
    """The export README: how to run it with Ollama or llama.cpp, and the hardware tiers.

    `files` maps each GGUF file name to its size in bytes (measured); the 7B/14B rows are estimates
    from bits per weight, labelled as such.
    """
    n_ctx = int(SAMPLING["num_ctx"])
    rows = []
    for fname, size in files.items():
        need = memory_needed(size, shape, n_ctx)
        rows.append(f"| `{fname}` | {_gib(size)} | {_gib(need)} | {_tier(need)} |")
    est_rows = []
    for model, ref in REFERENCE_SHAPES.items():
        for quant, bpw in bits_per_weight.items():
            size = int(ref.n_params * bpw / 8)
            need = memory_needed(size, ref, n_ctx)
            est_rows.append(f"| {model} | {quant} | ~{_gib(size)} | ~{_gib(need)} | {_tier(need)} |")
    return f"""# {name}: BBj coding model (GGUF)

Exported by `bbjcoder export`. Files in this directory:

- `merged/`: the fine-tuned model as a standard Hugging Face directory (LoRA adapter merged in);
  serve it with vLLM.
- `{name}-f16.gguf` and the quantized GGUF files: for llama.cpp, llama-cpp-python and Ollama.
- `Modelfile`: Ollama recipe (ChatML template, stop tokens, BBj system prompt, temperature 0.2,
  top_p 0.9, num_ctx {n_ctx}); it uses `{name}-{modelfile_quant}.gguf`. It turns off the repeat
  penalty (1.1) Ollama would add unasked, so Ollama samples as `bbjcoder serve` and the eval do.

## Run it

    ollama create {name} -f Modelfile
    ollama run {name} "Write a DWC window with a button that says hello"

or, without Ollama, an OpenAI-compatible server on http://127.0.0.1:8000/v1:

    bbjcoder serve --model gguf:{name}-{modelfile_quant}.gguf

## Hardware tiers (this export, measured)

Memory = file size + F16 KV cache for {n_ctx} tokens ({_gib(shape.kv_cache_bytes(n_ctx))}) + ~0.5 GiB runtime.
The model has {shape.n_params:,} parameters.

| file | size | memory needed | runs on |
|---|---|---|---|
{chr(10).join(rows)}

## Full-size models (estimates, not measured)

Sizes computed as parameters x bits per weight ({", ".join(f"{q} ~{b}" for q, b in bits_per_weight.items())});
real files differ by a few percent (metadata, tensors kept at higher precision).

| model | quant | size | memory needed | runs on |
|---|---|---|---|---|
{chr(10).join(est_rows)}

Q4_K_M is the default: close to Q8_0 quality for code at about 57% of its size. Use Q8_0 where
memory allows; F16 is the reference the others are checked against.
"""
