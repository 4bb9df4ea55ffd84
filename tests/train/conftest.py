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


def _bbj_program(i: int) -> str:
    var = ["total", "count", "amount", "qty", "price", "tax"][i % 6]
    chan = 1 + i % 3
    return (
        f"REM program {i}: sum and print\n"
        f"LET {var} = 0\n"
        f"FOR i = 1 TO {i + 3}\n"
        f"  {var} = {var} + i * {i % 5 + 1}\n"
        f"NEXT i\n"
        f'PRINT "{var.upper()}: ", {var}\n'
        f'OPEN ({chan})"data{i}.dat"\n'
        f'READ RECORD ({chan},KEY="{i:04d}",ERR=NOT_FOUND)rec$\n'
        f"CLOSE ({chan})\n"
        f"END\n"
    )


def _record(i: int) -> dict:  # type: ignore[type-arg]
    word = ["hello", "orders", "customers", "invoice", "stock", "report"][i % 6]
    code = f'PRINT "{word} {i}"\nLET x{i % 4} = {i}\nEND\n'
    rec = {
        "messages": [
            {"role": "system", "content": "You are a BBj expert. Write BBj code."},
            {"role": "user", "content": f"Print {word} {i} in BBj."},
            {"role": "assistant", "content": code},
        ],
        "meta": {"id": f"t/{i}", "type": "completion" if i % 2 else "comprehension", "generation": ["all"]},
    }
    if i % 2:
        rec["meta"]["fim"] = {
            "prefix": f'PRINT "{word} {i}"\n',
            "middle": f"LET x{i % 4} = {i}\n",
            "suffix": "END\n",
        }
    return rec


def write_dataset(root: Path, n_corpus: int = 24, n_train: int = 32, n_val: int = 8) -> Path:
    """A small dataset directory in the formats of docs/formats.md."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for i in range(n_corpus):
            text = _bbj_program(i)
            fh.write(
                json.dumps(
                    {"id": f"c{i}", "text": text, "source": f"corpus/p{i}.bbj", "lines": text.count("\n")}
                )
                + "\n"
            )
    for name, rng in (("train", range(n_train)), ("val", range(1000, 1000 + n_val))):
        with (root / f"{name}.jsonl").open("w") as fh:
            for i in rng:
                fh.write(json.dumps(_record(i)) + "\n")
    return root


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "dataset")
