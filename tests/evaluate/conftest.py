"""Shared fixtures: the tiny demo model (hf and GGUF), a small suite, and one real eval run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TEXTS = [
    'PRINT "Hello, world"\nEND\n',
    'win! = sysgui!.addWindow(10,10,200,100,"Hi")\nbtn! = win!.addButton(1,10,10,80,25,"OK")\n',
    "FOR i = 1 TO 10\n  PRINT i\nNEXT i\n",
    "```bbj\nPRINT 1\n```\n",
    "def add(a, b):\n    return a + b\n",
] * 20

CASES = [
    {
        "id": "t/hello",
        "prompt": "Write a BBj program that prints Hello.",
        "type": "completion",
        "generation": ["all"],
        "difficulty": "basic",
        "idioms": {"must": ["PRINT"]},
    },
    {
        "id": "t/window",
        "prompt": "Create a window with a button that shows a message box when clicked.",
        "type": "completion",
        "generation": ["bbj-gui", "dwc"],
        "difficulty": "intermediate",
        "idioms": {"must": ["setCallback"]},
    },
    {
        "id": "t/fim",
        "prompt": "Count to ten.",
        "type": "completion",
        "generation": ["character"],
        "difficulty": "basic",
        "prefix": "FOR i = 1 TO 10\n",
        "suffix": "NEXT i\n",
    },
    {
        "id": "t/explain",
        "prompt": "Explain what PRINT does, with an example.",
        "type": "explanation",
        "generation": ["all"],
        "difficulty": "basic",
    },
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bbjcoder.train.tiny import build_tiny_model

    out = tmp_path_factory.mktemp("tiny") / "model"
    return build_tiny_model(out, TEXTS, hidden_size=64, num_layers=2, intermediate_size=128, vocab_size=400)


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the [export] extra)")
    from bbjcoder.export.gguf import convert_hf_to_gguf

    out = tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf"
    convert_hf_to_gguf(tiny_model, out, out_type="f32")
    return out


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("suite") / "mini"
    d.mkdir()
    (d / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    return d


@pytest.fixture(scope="session")
def eval_run(tiny_model: Path, tiny_gguf: Path, tiny_suite: Path, tmp_path_factory: pytest.TempPathFactory):
    """One real eval: hf tiny model under test, its GGUF export as baseline, 3 forgetting problems."""
    from bbjcoder.evaluate.generate import SamplingParams
    from bbjcoder.evaluate.runner import EvalSettings, run_eval

    settings = EvalSettings(
        params=SamplingParams(n=2, temperature=0.8, max_new_tokens=24, batch_size=4, seed=7),
        ks=(1, 2),
        forgetting_max=3,
    )
    out = tmp_path_factory.mktemp("eval") / "out"
    return run_eval(
        f"hf:{tiny_model}", tiny_suite, baselines=[f"gguf:{tiny_gguf}"], out_dir=out, settings=settings
    )
