"""Shared fixtures for the export tests: a tiny run (demo-shaped Qwen2 + a LoRA adapter), exported once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder import export
from bbjcoder.config import ExportSection, ModelSection
from bbjcoder.records.export_manifest import ExportManifest
from bbjcoder.runs import resolve_run
from bbjcoder.train.tiny import build_tiny_model

REPO = Path(__file__).resolve().parents[2]
BBJ_SAMPLES = [
    '10 PRINT "Hello, world"\n20 LET total = 0\n30 FOR i = 1 TO 10\n40   total = total + i\n50 NEXT i\n60 END\n',
    'OPEN (1)"customers.dat"\nREAD RECORD (1,KEY="0001",ERR=NOT_FOUND)cust$\nCLOSE (1)\n',
    'sysgui! = BBjAPI().getSysGui()\nwindow! = sysgui!.addWindow(100,100,400,300,"Orders")\n'
    'button! = window!.addButton(1,10,10,90,25,"OK")\nbutton!.setCallback(BBjAPI.ON_BUTTON_PUSH,"done")\n'
    "process_events\ndone:\nrelease\n",
]


def corpus_texts() -> list[str]:
    """The shipped BBj corpus (what the demo's tokenizer sees) plus a few samples of each generation."""
    texts = [
        p.read_text(encoding="utf-8", errors="replace") for p in sorted((REPO / "corpus").rglob("*.bbj"))
    ]
    return texts + BBJ_SAMPLES * 5


def export_dir(run_dir: Path, quant: str = "q4_k_m", name: str = "bbj-coder") -> ExportManifest:
    """`export.run` on the run directory `run_dir` with these settings (what `bbjcoder export` does)."""
    return export.run(ExportSection(quant=quant, name=name), resolve_run(run_dir))  # type: ignore[arg-type]


def make_tiny_run(run_dir: Path) -> Path:
    """A run directory as training leaves it: model/ (tiny base), adapter/ (LoRA), run.json.

    The adapter is PEFT-initialised with random non-zero A and B (not trained), so merging really
    changes every targeted weight and a wrong merge shows in the logits.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    shape = ModelSection()  # the demo config's tiny shape
    build_tiny_model(
        run_dir / "model",
        corpus_texts(),
        **shape.tiny_shape(),
    )
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(run_dir / "model", dtype=torch.float32)
    # A fresh init has zero biases, unit norms and near-zero logits, under which a dropped bias or a
    # swapped norm would go unnoticed. Give every tensor trained-looking values instead.
    with torch.no_grad():
        for name, p in base.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.5)
            elif "norm" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.08)
    base.save_pretrained(run_dir / "model")
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(run_dir / "adapter")
    (run_dir / "run.json").write_text(json.dumps({"id": run_dir.name, "base_model_path": "model"}) + "\n")
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("runs") / "tiny-run")


@pytest.fixture(scope="session")
def exported(tiny_run: Path) -> ExportManifest:
    return export_dir(tiny_run, "q4_k_m")


@pytest.fixture(scope="session")
def hf_model(exported: ExportManifest):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(exported.merged_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def hf_tokenizer(exported: ExportManifest):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(exported.merged_dir)
