"""Several sequences decoded at once in one llama.cpp context (LlamaEngine.generate_parallel), on the
real SmolLM2-135M-Instruct GGUF: one sequence there computes what the serve loop computes, sequences
never see each other, stops/end ids/length end a sequence as in `generate`, sampling is seeded, and
the gguf eval backend stores each sample as it finishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bbjcoder.evaluate.generate import GGUFBackend, SamplingParams, Task, generate_samples
from bbjcoder.evaluate.llamacpp import LlamaEngine, Request, _ParallelContext, _pick
from bbjcoder.evaluate.prompts import Prompt
from bbjcoder.evaluate.samples import SampleStore
from tests.models.conftest import real_gguf

pytestmark = pytest.mark.slow

ASKS = [
    "Write a Python function that adds two numbers.",
    "What is a keyed file?",
    "Explain recursion in one paragraph, then give a short example in JavaScript.",
    "List three prime numbers.",
    "Write a SQL query that counts the rows of a table named orders.",
]
FIM = "<|fim_prefix|>def area(w, h):\n<|fim_suffix|>\n    return result\n<|fim_middle|>"


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    from llama_cpp import Llama

    # n_batch 16: every prompt here is fed in several chunks, in both contexts
    llm = Llama(
        model_path=str(real_gguf("smollm2-135m-instruct")), n_ctx=2048, n_batch=16, n_threads=2, verbose=False
    )
    eng = LlamaEngine(llm)
    yield eng
    eng.close()
    llm.close()


def _chat(eng: LlamaEngine, ask: str) -> list[int]:
    return eng.tokenize(eng.render_chat([{"role": "user", "content": ask}]))


def _serial(eng: LlamaEngine, prompt: list[int], n: int) -> str:
    pieces = eng.generate(prompt, max_tokens=n, temperature=0.0, top_p=0.95, stop=[], end_ids=[], seed=None)
    return "".join(p for p, _ in pieces)


def _parallel(
    eng: LlamaEngine, requests: list[Request], slots: int, **kw: object
) -> dict[int, tuple[str, str]]:
    args: dict = {"temperature": 0.0, "top_p": 0.95, "stop": [], "end_ids": []} | kw
    return {i: (text, why) for i, text, why in eng.generate_parallel(requests, slots=slots, **args)}


def test_one_sequence_computes_exactly_what_the_serve_loop_computes(engine: LlamaEngine) -> None:
    import llama_cpp as lc

    llm = engine.llm
    for prompt in (_chat(engine, ASKS[0]), engine.tokenize(FIM)):
        llm.reset()
        llm.eval(prompt)
        ref = np.ctypeslib.as_array(lc.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()
        par = _ParallelContext(llm, 2, engine.n_ctx)
        try:
            got = par.prefill(1, prompt)
        finally:
            par.close()
        assert np.array_equal(ref, got)  # the loaded context's settings: bit for bit
    prompts = [_chat(engine, a) for a in ASKS[:3]]
    alone = _parallel(engine, [Request(p, 24) for p in prompts], slots=1)
    assert [alone[i][0] for i in range(3)] == [_serial(engine, p, 24) for p in prompts]


def test_sequences_decoded_together_do_not_see_each_other(engine: LlamaEngine) -> None:
    llm = engine.llm
    a, b = _chat(engine, ASKS[0]), _chat(engine, ASKS[2])
    shared, own = _ParallelContext(llm, 2, engine.n_ctx), _ParallelContext(llm, 1, engine.n_ctx)
    try:
        la, lb = shared.prefill(0, a), shared.prefill(1, b)
        step = shared.decode([(int(la.argmax()), 0), (int(lb.argmax()), 1)])
        solo_a = own.prefill(0, a)
        solo = own.decode([(int(solo_a.argmax()), 0)])[0]
    finally:
        shared.close()
        own.close()
    # Only kernel rounding may differ (a 2-token step vs a 1-token step); attention across the
    # sequences would move the logits by whole units and change the top token.
    assert np.abs(step[0] - solo).max() < 0.05
    assert step[0].argmax() == solo.argmax()
    assert np.abs(step[0] - step[1]).max() > 1.0  # the two sequences really are different


def test_more_requests_than_slots_all_finish_and_a_freed_slot_takes_the_next(engine: LlamaEngine) -> None:
    prompts = [_chat(engine, a) for a in ASKS]
    budgets = [40, 3, 3, 3, 3]  # the first holds its slot; the other slot serves the rest in turn
    order = [i for i, _, _ in engine.generate_parallel(
        [Request(p, n) for p, n in zip(prompts, budgets, strict=True)],
        slots=2, temperature=0.0, top_p=0.95, stop=[], end_ids=[],
    )]  # fmt: skip
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert order[-1] == 0 and order[:4] == [1, 2, 3, 4]
    together = _parallel(engine, [Request(p, 12) for p in prompts], slots=3)
    alone = _parallel(engine, [Request(p, 12) for p in prompts], slots=1)
    assert together == alone  # greedy, 12 tokens: the same text in any company


def test_stop_strings_end_ids_and_the_length_limit_end_a_sequence(engine: LlamaEngine) -> None:
    prompt = _chat(engine, ASKS[2])
    (full, why), = _parallel(engine, [Request(prompt, 40)], slots=2).values()  # fmt: skip
    assert why == "length" and len(full) > 20
    stop = full[10:14]
    (cut, why), = _parallel(engine, [Request(prompt, 40)], slots=2, stop=[stop]).values()  # fmt: skip
    assert (cut, why) == (full[: full.find(stop)], "stop")
    par = _ParallelContext(engine.llm, 1, engine.n_ctx)
    try:
        first = int(par.prefill(0, prompt).argmax())  # the token greedy decoding takes first
    finally:
        par.close()
    (none, why), = _parallel(engine, [Request(prompt, 40)], slots=2, end_ids=[first]).values()  # fmt: skip
    assert (none, why) == ("", "stop")


def test_sampling_is_seeded_per_request(engine: LlamaEngine) -> None:
    prompts = [_chat(engine, a) for a in ASKS[:4]]

    def run(seeds: list[int]) -> list[str]:
        got = _parallel(
            engine, [Request(p, 16, s) for p, s in zip(prompts, seeds, strict=True)], slots=2, temperature=0.9
        )
        return [got[i][0] for i in range(len(prompts))]

    first = run([1, 2, 3, 4])
    assert run([1, 2, 3, 4]) == first
    assert run([11, 12, 13, 14]) != first
    alone = _parallel(engine, [Request(p, 16, s) for p, s in zip(prompts, [1, 2, 3, 4], strict=True)], slots=1,
                      temperature=0.9)  # fmt: skip
    assert [alone[i][0] for i in range(4)] == first  # a request's sample is its seed's, in any company


def test_top_p_then_temperature_sampling_follows_the_distribution() -> None:
    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    # top-p 0.7 keeps the two most likely (0.5 + 0.3 reaches it); temperature 1: 5/8 and 3/8
    draws = [_pick(logits, 1.0, 0.7, rng) for _ in range(4000)]
    assert set(draws) == {0, 1}
    assert abs(draws.count(0) / 4000 - 0.625) < 0.03
    # temperature 0.5 sharpens within the kept set: 0.5^2 : 0.3^2 = 25 : 9
    draws = [_pick(logits, 0.5, 0.7, rng) for _ in range(4000)]
    assert abs(draws.count(0) / 4000 - 25 / 34) < 0.03
    # a long vocabulary, the head holds less than top_p, and top_p so near 1 that float sums stop
    # below it: every token stays possible and nothing breaks
    flat = np.zeros(5000, dtype=np.float32)
    flat[7] = 12.0
    picks = {_pick(flat, 1.0, 0.9999999, rng, head=64) for _ in range(300)}
    assert 7 in picks and len(picks) > 1
    assert _pick(flat, 0.0, 0.9, rng) == 7


def test_the_gguf_backend_stores_each_sample_as_it_finishes(tmp_path: Path) -> None:
    backend = GGUFBackend(real_gguf("smollm2-135m-instruct"), label="gguf:smol")
    try:
        tasks = [Task(f"t{i}", Prompt((("user", a),))) for i, a in enumerate(ASKS[:3])]
        tasks.append(Task("fim", Prompt((("user", "x"),), raw=FIM)))
        store = SampleStore(tmp_path / "samples.jsonl")
        seen: list[tuple[int, int, int]] = []
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=16, batch_size=3)
        made = generate_samples(
            backend,
            tasks,
            params,
            store,
            postprocess=lambda t, text: text,
            progress=lambda n, of: seen.append((n, of, len(store.path.read_text().splitlines()))),
        )
        assert made == 4
        assert seen == [(n, 4, n) for n in range(1, 5)]  # one sample on disk per progress tick
        rows = {r["case_id"]: r for r in store.records()}
        assert set(rows) == {"t0", "t1", "t2", "fim"}
        one_by_one = SamplingParams(n=1, temperature=0.0, max_new_tokens=16, batch_size=1)
        assert backend.generate([t.prompt for t in tasks], one_by_one, [0] * 4) == [
            rows[t.id]["text"] for t in tasks
        ]
    finally:
        backend.close()
