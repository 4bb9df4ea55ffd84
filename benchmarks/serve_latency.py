"""Latency of `bbjcoder serve` next to raw llama-cpp-python on the same GGUF, in the same run.

Run: `python benchmarks/serve_latency.py --gguf PATH [--requests 20] [--threads N]`; writes
benchmarks/results/serve_latency.json. For chat (BBj system prompt + a window request, 64 tokens)
and 32-token FIM completions it times, per request, the time to first token (TTFT) and the decode
speed (tokens/s after the first token), and prints p50/p95 of each engine side by side with our
overhead as a ratio (serve / raw). Both engines use greedy decoding, the same threads and context,
and prompts that differ per request (so neither profits from a cached prompt more than the other);
the server is timed over real HTTP on loopback with streaming, as an editor would use it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bbjcoder.data.convert import system_prompt
from bbjcoder.data.fim import fim_prompt

RESULTS = Path(__file__).parent / "results" / "serve_latency.json"
CHAT_TOKENS, FIM_TOKENS = 64, 32
WINDOW = (
    "Write a BBj program that opens a window with a button; clicking it shows a message box. (request {i})"
)
FIM_PREFIX_CODE = (
    'rem request {i}\ntotal = 0\nfor i = 1 to {n}\n    total = total + i\nnext i\nprint "total: ", '
)
FIM_SUFFIX_CODE = "\nend\n"


def _chat_messages(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt()}, {"role": "user", "content": WINDOW.format(i=i)}]


def _fim_parts(i: int) -> tuple[str, str]:
    return FIM_PREFIX_CODE.format(i=i, n=10 + i), FIM_SUFFIX_CODE


def _time_stream(chunks: Iterator[str]) -> dict[str, float]:
    """TTFT (s) and decode tokens/s from a stream of text pieces, one per token."""
    t0 = time.perf_counter()
    first = None
    n = 0
    for piece in chunks:
        if not piece:
            continue
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    first = first if first is not None else end
    rate = (n - 1) / (end - first) if n > 1 and end > first else 0.0
    return {"ttft_s": first - t0, "tokens_per_s": rate, "tokens": n}


# --- raw llama-cpp-python -----------------------------------------------------------------------


def raw_runner(gguf: Path, threads: int, n_ctx: int) -> tuple[Callable[[str, int], dict[str, float]], Any]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)

    def run(kind: str, i: int) -> dict[str, float]:
        if kind == "chat":
            stream: Any = llm.create_chat_completion(
                messages=_chat_messages(i),  # type: ignore[arg-type]
                max_tokens=CHAT_TOKENS,
                temperature=0.0,
                stream=True,
            )
            return _time_stream(c["choices"][0]["delta"].get("content") or "" for c in stream)
        prefix, suffix = _fim_parts(i)
        stream = llm.create_completion(
            prompt=fim_prompt(prefix, suffix), max_tokens=FIM_TOKENS, temperature=0.0, stream=True
        )
        return _time_stream(c["choices"][0]["text"] for c in stream)

    return run, llm


# --- bbjcoder serve -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: Path, threads: int, n_ctx: int) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "bbjcoder.cli", "serve", "--model", f"gguf:{gguf}", "--port", str(port)]
    cmd += ["--threads", str(threads), "--n-ctx", str(n_ctx)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"bbjcoder serve exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("bbjcoder serve did not start in 120 s") from None
            time.sleep(0.3)


def serve_runner(url: str) -> Callable[[str, int], dict[str, float]]:
    import httpx

    client = httpx.Client(timeout=600)

    def pieces(path: str, body: dict[str, Any], chat: bool) -> Iterator[str]:
        with client.stream("POST", f"{url}{path}", json={**body, "stream": True}) as resp:
            resp.raise_for_status()
            for line in resp.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choice = json.loads(line[6:])["choices"][0]
                yield (choice["delta"].get("content") or "") if chat else choice["text"]

    def run(kind: str, i: int) -> dict[str, float]:
        if kind == "chat":
            body = {"messages": _chat_messages(i), "max_tokens": CHAT_TOKENS, "temperature": 0.0}
            return _time_stream(pieces("/chat/completions", body, True))
        prefix, suffix = _fim_parts(i)
        body = {"prompt": prefix, "suffix": suffix, "max_tokens": FIM_TOKENS, "temperature": 0.0}
        return _time_stream(pieces("/completions", body, False))

    return run


# --- measuring ------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(run: Callable[[str, int], dict[str, float]], kind: str, n: int) -> dict[str, Any]:
    run(kind, 10_000)  # warm-up: first-call allocations are not latency
    samples = [run(kind, i) for i in range(n)]
    ttft = [s["ttft_s"] * 1000 for s in samples]
    tps = [s["tokens_per_s"] for s in samples]
    return {
        "ttft_ms": {"p50": _pct(ttft, 50), "p95": _pct(ttft, 95)},
        "tokens_per_s": {"p50": _pct(tps, 50), "p95_slowest": _pct(tps, 5)},
        "mean_tokens": statistics.fmean(s["tokens"] for s in samples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--gguf", type=Path, default=os.environ.get("BBJCODER_REAL_GGUF"), help="the GGUF to serve"
    )
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n-ctx", type=int, default=4096)
    args = ap.parse_args()
    if args.gguf is None or not Path(args.gguf).is_file():
        raise SystemExit("pass --gguf PATH (or set BBJCODER_REAL_GGUF) to a GGUF file")
    gguf = Path(args.gguf)

    results: dict[str, dict[str, Any]] = {"raw": {}, "serve": {}}
    run_raw, llm = raw_runner(gguf, args.threads, args.n_ctx)
    for kind in ("chat", "fim"):
        results["raw"][kind] = measure(run_raw, kind, args.requests)
    llm.close()
    del llm
    proc, url = start_server(gguf, args.threads, args.n_ctx)
    try:
        run_serve = serve_runner(url)
        for kind in ("chat", "fim"):
            results["serve"][kind] = measure(run_serve, kind, args.requests)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"{gguf.name}, {args.threads} threads, {args.requests} requests per row, greedy")
    print(f"{'':6} {'metric':18} {'raw llama-cpp':>14} {'bbjcoder serve':>15} {'serve/raw':>10}")
    for kind in ("chat", "fim"):
        raw, ours = results["raw"][kind], results["serve"][kind]
        for metric, key in (("TTFT p50 (ms)", ("ttft_ms", "p50")), ("TTFT p95 (ms)", ("ttft_ms", "p95"))):
            a, b = raw[key[0]][key[1]], ours[key[0]][key[1]]
            print(f"{kind:6} {metric:18} {a:14.0f} {b:15.0f} {b / a:10.2f}")
        for metric, key in (
            ("tok/s p50", ("tokens_per_s", "p50")),
            ("tok/s p95 slowest", ("tokens_per_s", "p95_slowest")),
        ):
            a, b = raw[key[0]][key[1]], ours[key[0]][key[1]]
            print(f"{kind:6} {metric:18} {a:14.1f} {b:15.1f} {(b / a if a else 0):10.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "gguf": gguf.name,
                "threads": args.threads,
                "requests": args.requests,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
