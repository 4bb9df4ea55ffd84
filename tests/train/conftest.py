"""Shared fixtures for the training tests: a small tiny model built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.train.tiny import build_tiny_model

BBJ_TEXTS = [
    'PRINT "Hello, world"\nLET total = 0\nFOR i = 1 TO 10\n  total = total + i\nNEXT i\nEND\n',
    'OPEN (1)"customers.dat"\nREAD RECORD (1,KEY="0001",ERR=NOT_FOUND)cust$\nCLOSE (1)\n',
    'window! = sysgui!.addWindow(100,100,400,300,"Orders")\nbutton! = window!.addButton(1,10,10,90,25,"OK")\n',
    "def add(a, b):\n    return a + b\n",
    "SELECT name FROM customers WHERE id = 1;\n",
    "You are a BBj expert. Write BBj code.\nExplain what this program does.\n",
]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny") / "m", BBJ_TEXTS * 10, hidden_size=64, num_layers=2, vocab_size=600
    )


@pytest.fixture(scope="session")
def tokenizer(tiny_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)
