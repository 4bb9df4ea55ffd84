"""Quantize an F16 GGUF with llama.cpp itself, through llama-cpp-python's low-level binding.

Q4_K_M (default) and Q8_0; F16 is the converter's own output and needs no step here.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from bbjcoder.errors import DependencyError, ModelError

Quant = Literal["q4_k_m", "q8_0", "f16"]
QUANTS: tuple[Quant, ...] = ("q4_k_m", "q8_0", "f16")

# Bits per weight of each type, for size estimates of models we have not exported. Q4_K_M mixes
# Q4_K (4.5 bpw) with Q6_K (6.56 bpw) for half the attn_v/ffn_down tensors and the output: about 4.85.
BITS_PER_WEIGHT: dict[Quant, float] = {"q4_k_m": 4.85, "q8_0": 8.5, "f16": 16.0}


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise DependencyError(
            "llama-cpp-python is not installed (it quantizes and serves GGUF files)",
            hint="pip install -e '.[export]' (builds llama.cpp from source; needs cmake and a C++ compiler)",
        ) from exc
    return llama_cpp


@contextmanager
def _captured_llama_log() -> Iterator[list[str]]:
    """Route llama.cpp's log lines into a list for the duration, then restore llama-cpp-python's."""
    llama_cpp = _llama_cpp()
    from llama_cpp import _logger

    lines: list[str] = []

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def quantize_gguf(
    src: str | Path, dst: str | Path, quant: Quant, *, threads: int = 0, log: Path | None = None
) -> Path:
    """Write `dst`, the `quant` version of the F16/F32 GGUF `src`, using llama.cpp's quantizer.

    Tensors whose row length is not a multiple of the k-quant block (256) fall back inside llama.cpp
    to a 32-block type (Q4_K -> Q5_0, Q6_K -> Q8_0), so small demo shapes quantize too.
    llama.cpp's per-tensor log goes to `log` (a file) instead of the terminal.
    """
    if quant == "f16":
        raise ValueError("f16 is the converter's output; there is nothing to quantize")
    llama_cpp = _llama_cpp()
    ftype = {
        "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    }[quant]
    src, dst = Path(src), Path(dst)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    with _captured_llama_log() as lines:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if log is not None:
        log.write_text("".join(lines), encoding="utf-8")
    if rc != 0 or not dst.exists():
        raise ModelError(f"llama.cpp could not quantize to {quant} (return code {rc})", path=src)
    return dst
