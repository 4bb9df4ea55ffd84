"""`bbjcoder demo --quick`: every artifact exists and agrees with its source file, a re-run resumes
every stage, and report.html renders in headless Chromium with its images and no outside requests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .helpers import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM

REPO = Path(__file__).resolve().parents[1]
STAGE_NAMES = ["data", "train", "export", "eval", "serve", "report"]


def _demo(out: Path, workdir: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    # `--out NAME` as a user types it: a directory in the current folder (run id NAME resolves to
    # runs_dir/NAME, the demo directory itself, not to a relative ./NAME).
    arg = str(out.relative_to(workdir)) if out.is_relative_to(workdir) else str(out)
    proc = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "demo", "--quick", "--out", arg],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
    )
    return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # A snapshot of the shipped inputs: the demo runs where a user runs it (a directory with
    # training-data/, corpus/, evals/, configs/), and edits to the checkout cannot change them
    # between the first run and the resumed one.
    work = tmp_path_factory.mktemp("work")
    for name in ("training-data", "corpus", "evals", "configs"):
        shutil.copytree(REPO / name, work / name)
    out = work / "demo-quick"
    proc, wall = _demo(out, work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"dir": out, "work": work, "proc": proc, "wall": wall}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class _Cells(HTMLParser):
    """Every element's attributes and its text, for the cells that carry data-* numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[dict[str, str], str]] = []
        self.headings: list[str] = []
        self._stack: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "h2"):
            self._stack.append((tag, {k: v or "" for k, v in attrs}, []))

    def handle_data(self, data: str) -> None:
        for _, _, text in self._stack:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1][0] == tag:
            _, attrs, text = self._stack.pop()
            (
                self.cells.append((attrs, "".join(text)))
                if tag == "td"
                else self.headings.append("".join(text))
            )


def _parse(html_text: str) -> _Cells:
    p = _Cells()
    p.feed(html_text)
    return p


@pytest.mark.slow
def test_demo_records_every_stage_done_and_prints_the_report_path(demo: dict[str, Any]) -> None:
    d = demo["dir"]
    rec = _json(d / "stages.json")
    assert rec["profile"] == "quick"
    assert list(rec["stages"]) == STAGE_NAMES
    assert all(s["status"] == "done" for s in rec["stages"].values()), rec["stages"]
    assert all(len(s["input_hash"]) == 64 and s["seconds"] >= 0 for s in rec["stages"].values())
    assert str(d / "report.html") in demo["proc"].stdout.replace("\n", "")
    # The demo directory is a registered run: train, eval and export wrote into it.
    run = _json(d / "run.json")
    assert run["status"] == "done" and set(run["stages"]) == {"cpt", "sft"}
    assert "bbj-core" in run["metrics"]["eval"]
    # Export comes before eval, so without CUDA the fine-tune is scored through the GGUF users run.
    model = _json(d / "eval" / "bbj-core" / "report.json")["models"][0]
    exported = _json(d / "stages.json")["stages"]["export"]["result"]["files"]
    assert model["description"]["backend"] == "gguf", model
    quantized = {Path(path).name for quant, path in exported.items() if quant != "f16"}
    assert Path(model["description"]["path"]).name in quantized, (model, exported)
    assert (d / "dataset" / "train.jsonl").is_file() and (d / "loss.png").is_file()
    for name in STAGE_NAMES:
        assert (d / "stage-logs" / f"{name}.log").is_file()


@pytest.mark.slow
def test_report_html_numbers_equal_report_json(demo: dict[str, Any]) -> None:
    d = demo["dir"]
    report = _json(d / "eval" / "bbj-core" / "report.json")
    html_text = (d / "report.html").read_text(encoding="utf-8")
    cells = _parse(html_text).cells
    checked = 0
    for attrs, text in cells:
        if "data-metric" not in attrs:
            continue
        model, category, metric = attrs["data-model"], attrs["data-category"], attrs["data-metric"]
        est = (
            report["general"].get(model)
            if category == "general"
            else report["summary"][model].get(category, {}).get(metric)
        )
        if not est or not est.get("n"):
            assert attrs["data-value"] == "" and text.strip() == "–"
            continue
        assert float(attrs["data-value"]) == est["value"], (model, category, metric)
        assert float(attrs["data-low"]) == est["low"] and float(attrs["data-high"]) == est["high"]
        assert text.startswith(f"{100 * est['value']:.1f}% ")
        checked += 1
    k = min(report["ks"])
    labels = [m["label"] for m in report["models"]]
    assert len(labels) == 2 and labels[1].startswith("base:")
    # Every model has its overall compile@k and a cell per category it was scored on.
    for label in labels:
        for cat in report["summary"][label]:
            assert any(
                a.get("data-model") == label
                and a.get("data-category") == cat
                and a.get("data-metric") == f"compile@{k}"
                for a, _ in cells
            ), (label, cat)
    assert checked >= 2 * len(report["summary"][labels[0]])
    p_cells = {a["data-category"]: float(a["data-p"]) for a, _ in cells if "data-p" in a}
    assert p_cells == {c["category"]: c["p_value"] for c in report["comparisons"]}
    assert p_cells, "the baseline comparison is on the page"
    # The demo report shows the general-code gate (the plan's 5% rule) as report.json has it.
    gate = report["general_gate"]
    assert gate is not None and gate["reference"] == labels[1]
    assert f"data-gate='{'passed' if gate['passed'] else 'failed'}'" in html_text
    assert f"data-change='{gate['change']!r}'" in html_text


@pytest.mark.slow
def test_report_html_data_export_and_server_sections_match_their_files(demo: dict[str, Any]) -> None:
    d = demo["dir"]
    cells = _parse((d / "report.html").read_text(encoding="utf-8")).cells
    stats = _json(d / "dataset" / "stats.json")
    for attrs, text in cells:
        if "data-gen" in attrs:
            per_type = stats["by_generation"][attrs["data-gen"]].get(attrs["data-type"]) or {}
            assert int(text) == sum(per_type.values())
    sizes = {int(a["data-bytes"]) for a, _ in cells if "data-bytes" in a}
    assert sizes == {p.stat().st_size for p in (d / "export").glob("*.gguf")}
    stage_secs = {a["data-stage"] for a, _ in cells if "data-stage" in a}
    assert stage_secs <= set(STAGE_NAMES)


@pytest.mark.slow
def test_model_card_export_and_server_check_are_filled(demo: dict[str, Any]) -> None:
    from bbjcoder.bbj import check_source
    from bbjcoder.evaluate.extract import has_statements
    from bbjcoder.runs import EVAL_END, EVAL_PLACEHOLDER, EVAL_START

    d = demo["dir"]
    card = (d / "MODEL_CARD.md").read_text(encoding="utf-8")
    section = card[card.index(EVAL_START) + len(EVAL_START) : card.index(EVAL_END)]
    assert EVAL_PLACEHOLDER not in section and "compile@1" in section and "bbj-core" in section
    # provenance of the stage-2 records: the shipped data is all curated
    assert "Provenance of the stage-2 training records: " in card and " 0 synthetic" in card
    gguf = sorted(p.name for p in (d / "export").glob("*.gguf"))
    assert gguf == ["bbj-coder-demo-f16.gguf", "bbj-coder-demo-q4_k_m.gguf"]
    assert "bbj-coder-demo-q4_k_m.gguf" in (d / "export" / "Modelfile").read_text(encoding="utf-8")
    check = _json(d / "serve_check.json")
    assert check["prompt"].startswith("Write a BBj program that creates a window with a button")
    assert isinstance(check["answer"], str) and check["server_stopped"] is True
    assert check["server_exit_code"] is not None
    # The recorded verdict is compile@k's verdict on the recorded code: statements that pass the checker.
    if has_statements(check["code"]):
        assert check["compiles"] == (not check_source(check["code"]))
    else:
        assert check["compiles"] is False


@pytest.mark.slow
def test_rerun_resumes_every_finished_stage(demo: dict[str, Any]) -> None:
    d = demo["dir"]
    before = _json(d / "stages.json")["stages"]
    adapter = d / "adapter" / "adapter_model.safetensors"
    mtime = adapter.stat().st_mtime_ns
    proc, wall = _demo(d, demo["work"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = _json(d / "stages.json")["stages"]
    for name in STAGE_NAMES[:-1]:
        assert after[name]["started"] == before[name]["started"], name
        assert after[name]["input_hash"] == before[name]["input_hash"]
        assert "resumed_at" in after[name], name
    assert after["report"]["started"] >= before["report"]["started"]
    assert adapter.stat().st_mtime_ns == mtime
    assert wall < demo["wall"] / 3, (wall, demo["wall"])


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="Debian chromium not installed (make browser)")
def test_report_renders_in_chromium_with_images_and_no_outside_requests(demo: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    d = demo["dir"]
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
            )
            page.goto((d / "report.html").as_uri())
            page.wait_for_load_state("load")
            headings = page.locator("h2").all_inner_texts()
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            page.screenshot(path=str(d / "report.png"), full_page=True)
        finally:
            browser.close()
    for h in (
        "Stages and timings",
        "Training",
        "Evaluation",
        "Sample outputs",
        "Data",
        "Export",
        "Server check",
    ):
        assert h in headings, headings
    alts = {alt for alt, _, _ in images}
    assert {"loss curves", "token length histogram"} <= alts and any(re.match(r"compile@\d", a) for a in alts)
    assert all(done and width > 0 for _, done, width in images), images
    assert outside == []
    assert (d / "report.png").stat().st_size > 10_000


@pytest.mark.slow
def test_improvement_loop_commands_work_on_the_demo_run(demo: dict[str, Any], tmp_path: Path) -> None:
    d = demo["dir"]
    cmp = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "runs", "compare", str(d), str(d)],
        cwd=demo["work"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert cmp.returncode == 0, cmp.stderr
    for text in ("best_val_loss", "compile@1 per category", "McNemar p", "overall:all", "forgetting check"):
        assert text in cmp.stdout, text
    inbox = tmp_path / "_inbox"
    sug = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "data", "suggest", "--from-eval", str(d), "--inbox", str(inbox)],
        cwd=demo["work"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = _json(d / "eval" / "bbj-core" / "report.json")
    failing = [c for c in report["cases"] if c["model"] == report["models"][0]["label"] and c["c"] < c["n"]]
    if failing:
        assert sug.returncode == 0, sug.stdout + sug.stderr
        drafts = list(inbox.glob("*.md"))
        assert drafts and all("from-eval" in p.read_text(encoding="utf-8") for p in drafts)
    else:
        assert sug.returncode == 1


# --- fast checks of the pieces the demo is made of ------------------------------------------------


def test_resolved_config_round_trips_through_toml(tmp_path: Path) -> None:
    from bbjcoder.config import load_config
    from bbjcoder.demo_setup import demo_config

    demo_dir = tmp_path / "runs" / "demo-x"
    for quick in (False, True):
        cfg = demo_config(REPO / "configs" / "demo.toml", demo_dir, quick=quick)
        path = tmp_path / f"config-{quick}.toml"
        path.write_text(cfg.to_toml("header\nline two"), encoding="utf-8")
        again = load_config(path)
        assert again.to_dict() == cfg.to_dict()
        assert again.data.dataset_dir == demo_dir.resolve() / "dataset"
        assert again.run.runs_dir == demo_dir.resolve().parent
        assert again.export.quant == "q4_k_m"
        assert (again.cpt.max_steps > 0) == quick and (again.eval.max_cases is None) == (not quick)


def test_input_hash_follows_file_contents_and_ignores_drafts(tmp_path: Path) -> None:
    from bbjcoder.records.demo import input_hash

    root = tmp_path / "training-data"
    (root / "gui").mkdir(parents=True)
    (root / "gui" / "a.md").write_text("one", encoding="utf-8")
    h = input_hash([root], {"check": True})
    assert input_hash([root], {"check": True}) == h
    assert input_hash([root], {"check": False}) != h
    (root / "_inbox").mkdir()
    (root / "_inbox" / "draft.md").write_text("draft", encoding="utf-8")
    assert input_hash([root], {"check": True}) == h
    (root / "gui" / "a.md").write_text("two", encoding="utf-8")
    assert input_hash([root], {"check": True}) != h


def test_demo_dir_choice_resumes_the_latest_of_its_profile_and_refuses_foreign_dirs(tmp_path: Path) -> None:
    from bbjcoder.demo_setup import DemoOptions, choose_demo_dir
    from bbjcoder.errors import UserError

    runs = tmp_path / "runs"
    for name, profile, created in (
        ("demo-1", "full", "1"),
        ("demo-2", "full", "2"),
        ("demo-q", "quick", "3"),
    ):
        (runs / name).mkdir(parents=True)
        (runs / name / "stages.json").write_text(json.dumps({"profile": profile, "created": created}))
    assert choose_demo_dir(DemoOptions(), runs, "demo") == runs / "demo-2"
    assert choose_demo_dir(DemoOptions(quick=True), runs, "demo") == runs / "demo-q"
    fresh = choose_demo_dir(DemoOptions(fresh=True), runs, "demo")
    assert fresh.parent == runs and not fresh.exists() and fresh.name.startswith("demo-")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a demo directory"):
        choose_demo_dir(DemoOptions(out=foreign, fresh=True), runs, "demo")
    assert (foreign / "notes.txt").is_file()
    assert choose_demo_dir(DemoOptions(out=runs / "demo-1", fresh=True), runs, "demo") == runs / "demo-1"
    assert not (runs / "demo-1").exists()


def test_demo_data_stage_writes_what_data_build_writes_on_the_shipped_data(tmp_path: Path) -> None:
    """The demo's data stage and `bbjcoder data build` are one function: same splits, same rejects
    (the corpus step's included), same manifest apart from where the files lie."""
    from rich.console import Console

    from bbjcoder.cli import app
    from bbjcoder.demo_setup import DemoOptions, demo_config
    from bbjcoder.pipeline import demo_stages
    from bbjcoder.recipe import Display
    from bbjcoder.records.dataset import DatasetManifest

    d = tmp_path / "runs" / "demo-x"
    cfg = demo_config(REPO / "configs" / "demo.toml", d, quick=True)
    data = next(s for s in demo_stages(cfg, d, DemoOptions(quick=True)) if s.name == "data")
    data.run(Display(Console(file=open(os.devnull, "w")), {"data": data.title}))  # noqa: SIM115

    from typer.testing import CliRunner

    out = tmp_path / "built"
    args = ["data", "build", "--training-data", str(REPO / "training-data"), "--corpus", str(REPO / "corpus")]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    demo, built = (
        DatasetManifest.load(d / "dataset" / "manifest.json"),
        DatasetManifest.load(out / "manifest.json"),
    )
    assert demo.model_dump(exclude={"inputs"}) == built.model_dump(exclude={"inputs"})
    assert (
        [Path(i.path).name for i in demo.inputs]
        == [Path(i.path).name for i in built.inputs]
        == ["converted.jsonl"]
    )
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "rejected.jsonl", "corpus.jsonl"):
        assert (d / "dataset" / name).read_bytes() == (out / name).read_bytes(), name
    # rejected.jsonl lists the corpus step's rejects too (the demo used to leave them out)
    stages = {json.loads(line)["stage"] for line in (out / "rejected.jsonl").read_text().splitlines()}
    corpus_rejects = (out / "corpus.rejected.jsonl").read_text().splitlines()
    assert ("corpus" in stages) == bool(corpus_rejects)
    assert demo.stats is not None and demo.stats.records == sum(
        demo.records_in(s) for s in ("train", "val", "test")
    )
