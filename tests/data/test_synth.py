"""`data synth` end to end against a scripted OpenAI-compatible teacher on loopback: every filter,
the funnel counts, bad teacher output, budget, resume after a stop and after a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbjcoder.data.filters import Filters
from bbjcoder.data.synth import (
    TEMPLATE_NAME,
    Budget,
    SynthConfig,
    Teacher,
    TeacherFailed,
    build_prompt,
    plan_gaps,
    plan_topics,
    read_curated,
    read_sources,
    run_synth,
    template_hash,
)
from bbjcoder.errors import ServerError, UserError
from bbjcoder.evaluate.suite import load_suite

from .fake_teacher import Script, example, fake_teacher

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

GOOD_1 = example(
    "Count the vowels in a word",
    'word$ = "encyclopedia"\ncount = 0\nfor i = 1 to len(word$)\n    if pos(word$(i,1) = "aeiou") > 0 then count = count + 1\nnext i\nprint "vowels: ", count\nend',
)
GOOD_2 = example(
    "Sum the squares of one to ten",
    'total = 0\nfor n = 1 to 10\n    total = total + n * n\nnext n\nprint "sum of squares: ", total\nend',
)
CHECKER_FAIL = example("Print a greeting", 'print "hello\nfor i = 1 to\nend')
LINT_FAIL = example(
    "Fill a vector", 'v! = BBjAPI().makeVector()\nv!.addItem("a")\nv!.frobnicateAll()\nprint v!.size()\nend'
)
GENERATION_FAIL = example(
    "Open a window",
    'sysgui! = BBjAPI().openSysGui("X0")\nwin! = sysgui!.addWindow(10, 10, 300, 200, "Hello")\nprocess_events',
    generation="character",
    expected="## Expected Behavior\n\nA window opens.",
)
NO_FRONT_MATTER = "## Code\n\n```bbj\nprint 1\n```\n\n## Explanation\n\nPrints one.\n"
NOT_MARKDOWN = 'print "hello"\nend\n'
REFUSAL = "I'm sorry, but I can't help with writing that example."
INVALID_EXAMPLE = "---\ntitle: x\ntype: poem\ngeneration: all\n---\n\n## Code\n\n```bbj\nprint 1\n```\n"
HUGE = "---\n" + "x" * 1_000_000
BAD_UTF8 = b"---\\ntitle: caf\xe9\\n---\\n"


def contaminated_draft() -> tuple[str, str]:
    """A draft built around an eval case's reference that passes every filter but contamination."""
    filters = Filters.load(training_data=[ROOT / "training-data"])
    for case in load_suite(ROOT / "evals/bbj-core").cases:
        if not case.reference or case.type != "completion" or case.prefix:
            continue
        gen = "all" if case.generation == ("all",) else case.generation[0]
        expected = (
            "## Expected Output\n\n```\nok\n```"
            if gen in ("all", "character")
            else "## Expected Behavior\n\nShown."
        )
        text = example(f"A new take on {case.id}", case.reference.strip(), generation=gen, expected=expected)
        if filters.run(text, draft_id="probe").queued:
            return case.id, text
    raise AssertionError("no eval reference passes the other filters")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the shipped training data and eval suite (accepting drafts must not touch the repo)."""
    shutil.copytree(
        ROOT / "training-data", tmp_path / "training-data", ignore=shutil.ignore_patterns("_inbox")
    )
    shutil.copytree(ROOT / "evals/bbj-core", tmp_path / "evals/bbj-core")
    return tmp_path


def config(project: Path, base_url: str, **kw: object) -> SynthConfig:
    return SynthConfig(
        teacher=f"openai:teacher@{base_url}",
        inbox=project / "training-data/_inbox",
        training_data=project / "training-data",
        suites=(project / "evals/bbj-core",),
        backoff_s=0.01,
        timeout_s=20,
        **kw,  # type: ignore[arg-type]
    )


def topics_tasks(names: list[str]) -> list:
    return plan_topics(names, type="completion", generation="all", difficulty="basic", per_topic=1)


def test_funnel_counts_every_filter_and_keeps_every_rejection_with_its_reason(project: Path) -> None:
    case_id, contaminated = contaminated_draft()
    near_copy = (project / "training-data/strings/reverse-string.md").read_text(encoding="utf-8")
    answers: dict[str, str | bytes] = {
        "good-1": GOOD_1,
        "good-2": GOOD_2,
        "duplicate": GOOD_1,
        "near-training": near_copy.replace("Reverse", "Reverse backwards", 1),
        "contaminated": contaminated,
        "checker": CHECKER_FAIL,
        "lint": LINT_FAIL,
        "generation": GENERATION_FAIL,
        "no-front-matter": NO_FRONT_MATTER,
        "not-markdown": NOT_MARKDOWN,
        "refusal": REFUSAL,
        "invalid": INVALID_EXAMPLE,
        "empty": "",
        "huge": HUGE,
        "bad-utf8": BAD_UTF8,
    }
    # the duplicate must come after the draft it repeats: one request at a time, in plan order
    order = [
        "good-1",
        "good-2",
        "duplicate",
        *[t for t in answers if t not in ("good-1", "good-2", "duplicate")],
    ]
    script = Script(answers, fail_first={"good-2": 2})
    with fake_teacher(script) as url:
        result = run_synth(config(project, url, concurrency=1), topics_tasks(order))
    funnel = result.summary["funnel"]
    assert funnel == {
        "asked": 15,
        "returned": 15,
        "parsed": 8,  # empty, huge, bad UTF-8, refusal, not Markdown, no front matter, invalid type
        "checker": 7,
        "lint": 6,
        "generation": 5,
        "near-duplicate": 3,  # the repeated draft and the near copy of a training example
        "contamination": 2,
        "queued": 2,
    }
    assert script.requests["good-2"] == 3  # two HTTP 500s retried, then the answer
    inbox = project / "training-data/_inbox"
    rejected = {p.stem: json.loads(p.read_text()) for p in (inbox / "_rejected").glob("*.json")}
    assert len(rejected) == 13
    reasons = {r["task"]["topic"]: r["reason"] for r in rejected.values()}
    assert reasons["empty"] == "empty answer"
    assert reasons["huge"].startswith("answer too large (")
    assert reasons["bad-utf8"].startswith("invalid UTF-8 (byte 0xe9")
    assert reasons["refusal"].startswith("refusal:")
    assert reasons["not-markdown"].startswith("not an example file: no YAML front matter")
    assert reasons["no-front-matter"].startswith("not an example file: no YAML front matter")
    assert "type" in reasons["invalid"] and reasons["invalid"].startswith("invalid example:")
    assert "BBj checker" in reasons["checker"]
    assert "api-method" in reasons["lint"] and "frobnicateAll" in reasons["lint"]
    assert "says character but the code looks like bbj-gui" in reasons["generation"]
    assert "duplicate of _inbox/synth-" in reasons["duplicate"]  # exact or near: the prompt wording varies
    assert reasons["near-training"].startswith("near-duplicate of strings/reverse-string")
    assert reasons["contaminated"].startswith("contaminated:") and case_id in reasons["contaminated"]
    # what came back is kept as it came back: the invalid bytes too
    bad = next(p for p in (inbox / "_rejected").glob("*.answer") if b"\xe9" in p.read_bytes())
    assert bad.read_bytes().startswith(b"---\ntitle: caf\xe9")
    # queued drafts carry provenance: teacher, template and hash, prompt hash, style references
    queued = sorted(inbox.glob("synth-*.md"))
    assert len(queued) == 2 and len(result.queued_now) == 2
    prov = json.loads(queued[0].with_suffix(".json").read_text())
    assert prov["teacher"] == f"teacher@{url}"
    assert prov["template"] == TEMPLATE_NAME and prov["template_sha256"] == template_hash()
    assert len(prov["prompt_sha256"]) == 64 and prov["style_references"]
    assert result.summary["rejected"]["parsed: empty answer"] == 1
    assert result.summary["rejected"]["lint: api-method"] == 1
    assert result.summary["tokens"] == {"prompt": 1500, "completion": 750}


def test_budget_stops_cleanly_and_a_rerun_continues_without_repeating_finished_requests(
    project: Path,
) -> None:
    names = [f"good-{k}" for k in range(1, 6)]
    answers: dict[str, str | bytes] = {n: GOOD_1.replace("encyclopedia", n) for n in names}
    script = Script(answers, usage=(100, 50))
    with fake_teacher(script) as url:
        first = run_synth(
            config(project, url, concurrency=1, budget=Budget(max_tokens=300)), topics_tasks(names)
        )
        assert first.stopped is not None and "token budget reached (300 of 300" in first.stopped
        assert first.asked_now == 2 and first.summary["funnel"]["asked"] == 2
        # the same budget again: nothing more is sent
        again = run_synth(
            config(project, url, concurrency=1, budget=Budget(max_tokens=300)), topics_tasks(names)
        )
        assert again.asked_now == 0 and again.stopped
        final = run_synth(
            config(project, url, concurrency=3, budget=Budget(max_tokens=10_000)), topics_tasks(names)
        )
    assert final.stopped is None and final.asked_now == 3 and final.skipped_done == 2
    assert all(script.requests[n] == 1 for n in names), script.requests
    assert final.summary["funnel"]["asked"] == 5 and final.summary["budget"]["tokens"] == 750


def test_cost_budget_counts_prices_per_million_tokens() -> None:
    b = Budget(max_usd=0.01, price_in=10.0, price_out=30.0)
    b.add(500, 100)  # 0.005 + 0.003
    assert b.exhausted() is None and b.usd == pytest.approx(0.008)
    b.add(100, 100)
    assert b.exhausted() is not None and "cost budget reached" in str(b.exhausted())


def test_a_killed_run_resumes_without_repeating_finished_requests(project: Path) -> None:
    names = ["k-1", "k-2", "k-3", "k-4"]
    answers: dict[str, str | bytes] = {n: GOOD_1.replace("encyclopedia", n) for n in names}
    script = Script(answers, delay_s={"k-3": 60.0})
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with fake_teacher(script) as url:
        cmd = [
            sys.executable,
            "-m",
            "bbjcoder",
            "data",
            "synth",
            "--teacher",
            f"openai:teacher@{url}",
            "--concurrency",
            "1",
            "--per-topic",
            "1",
            "--eval-suite",
            "evals/bbj-core",
            *[a for n in names for a in ("--topic", n)],
        ]
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        journal = project / "training-data/_inbox/.synth/journal.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and script.requests["k-3"] == 0:
            time.sleep(0.1)
        assert script.requests["k-3"] == 1, proc.communicate(timeout=5)[0]
        proc.send_signal(signal.SIGKILL)  # mid-request: k-1, k-2 finished, k-3 in flight
        proc.wait(timeout=10)
        assert [json.loads(line)["task"] for line in journal.read_text().splitlines()].__len__() == 2
        script.delay_s.clear()
        done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert script.requests == {"k-1": 1, "k-2": 1, "k-3": 2, "k-4": 1}  # only the unfinished one again
    assert "asked 2 now (2 finished before, skipped)" in done.stdout
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(entries) == 4 and len({e["task"] for e in entries}) == 4
    assert all(e["status"] == "done" for e in entries)  # (the copies are near-duplicates: 1 queued)


def test_teacher_gives_up_after_retries_and_refuses_bad_keys(project: Path) -> None:
    script = Script({"x": GOOD_1}, fail_first={"x": 99})
    with fake_teacher(script) as url:
        t = Teacher(f"openai:m@{url}", retries=2, backoff_s=0.0)
        with pytest.raises(TeacherFailed, match="failed 3 times; last: HTTP 500"):
            t.ask([{"role": "user", "content": "- topic: x"}], max_tokens=10, temperature=0.0, seed=1)
        assert script.requests["x"] == 3
        # a failed item is journalled as failed and asked again by the next run
        res = run_synth(config(project, url, retries=1), topics_tasks(["x"]))
        assert res.summary["funnel"] == {**res.summary["funnel"], "asked": 1, "returned": 0}
        assert res.summary["rejected"] == {"no answer: teacher failed 2 times; last": 1}
    with pytest.raises(UserError, match="bad teacher"):
        Teacher("gguf:/x.gguf")
    with pytest.raises(UserError, match="NO_SUCH_KEY_VAR is empty or unset"):
        Teacher("openai:m@http://127.0.0.1:9/v1", key_env="NO_SUCH_KEY_VAR")


def test_a_refused_request_stops_the_run_with_a_clear_error(project: Path) -> None:
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b"bad key")

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with pytest.raises(ServerError, match=r"HTTP 401"):
            run_synth(config(project, url), topics_tasks(["a", "b"]))
    finally:
        server.shutdown()
        server.server_close()


def test_gap_plan_asks_for_empty_cells_first_and_is_stable() -> None:
    curated = read_curated(ROOT / "training-data")
    tasks = plan_gaps(curated, target=3)
    assert tasks == plan_gaps(curated, target=3)  # ids are stable: the journal key
    assert len({t.id for t in tasks}) == len(tasks)
    first = tasks[0]
    from bbjcoder.data.synth import cell_counts

    counts = cell_counts(curated)
    assert counts[(first.generation, first.type, first.difficulty)] == 0
    assert not any(t.type == "migration" and t.generation == "character" for t in tasks)


def test_prompt_uses_style_references_and_matching_source_passages(tmp_path: Path) -> None:
    (tmp_path / "help.html").write_text(
        "<html><head><style>p{}</style><script>var x;</script></head><body><h1>KEYED files</h1>"
        "<p>MKEYED creates a keyed file &amp; sets its key size.</p></body></html>\n\n<p>Other things.</p>",
        encoding="utf-8",
    )
    (tmp_path / "prog.bbj").write_text('print "unrelated"\n', encoding="utf-8")
    passages = read_sources([tmp_path])
    assert any("MKEYED creates a keyed file & sets" in p.text and "var x" not in p.text for p in passages)
    curated = read_curated(ROOT / "training-data")
    task = plan_topics(
        ["keyed files with mkeyed"], type="completion", generation="all", difficulty="basic", per_topic=1
    )[0]
    prompt = build_prompt(task, curated=curated, passages=passages)
    user = prompt.messages[1]["content"]
    assert prompt.passages[0].origin.endswith("help.html:1") and "MKEYED" in user
    assert len(prompt.styles) == 2 and "A curated example, for the format and style only" in user
    assert "- topic: keyed files with mkeyed" in user


def test_no_shipped_example_reaches_the_contamination_threshold() -> None:
    from bbjcoder.data.overlap import CONTAMINATION_THRESHOLD, eval_ngrams, worst_overlap
    from bbjcoder.data.validate import validate_paths

    index = eval_ngrams(load_suite(ROOT / "evals/bbj-core").cases)
    over = []
    for f in validate_paths([ROOT / "training-data"], check_code=False).files:
        ex = f.example
        codes = [b.code for b in ex.all_blocks()]
        worst = worst_overlap([*codes, "\n".join(codes)], index)
        if worst is not None and worst.overlap >= CONTAMINATION_THRESHOLD:
            over.append(f"{ex.id}: {worst}")
    assert over == []


def test_eval_plan_asks_for_the_weakest_cells_without_showing_the_held_out_prompts(tmp_path: Path) -> None:
    from bbjcoder.data.synth import plan_from_eval

    from .test_suggest import _report

    report = tmp_path / "eval/report.json"
    report.parent.mkdir()
    report.write_text(json.dumps(_report()), encoding="utf-8")
    tasks = plan_from_eval(str(report.parent), runs_dir=tmp_path, suite=None, cells=2, per_cell=2)
    from bbjcoder.data.suggest import weakest_cells
    from bbjcoder.records.eval_report import EvalReport

    weakest = [(c.generation, c.type) for c in weakest_cells(EvalReport.model_validate(_report()))[:2]]
    assert [(t.generation, t.type) for t in tasks] == weakest * 2
    assert all(t.why == "eval" for t in tasks)
    curated = read_curated(ROOT / "training-data")
    for t in tasks:
        user = build_prompt(t, curated=curated, passages=[]).messages[1]["content"]
        assert "Write the gui-button program" not in user and "setCallback -->" not in user
    assert any("teach against: expected THEN (explain-callback)" in n for n in tasks[0].notes)


def test_cli_refuses_a_bad_teacher_and_prints_a_dry_run_plan(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "bbjcoder", "data", "synth"]
    bad = subprocess.run([*cmd, "--teacher", "gpt-4o"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "bad teacher 'gpt-4o'" in bad.stderr
    plan = subprocess.run(
        [*cmd, "--teacher", "openai:m@http://127.0.0.1:9/v1", "--dry-run", "--limit", "4", "--target", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stderr
    assert "synth: 4 drafts planned (dry run: nothing asked)" in plan.stdout


def test_a_journal_line_cut_by_a_kill_is_ignored_and_not_glued_to_the_next(project: Path) -> None:
    names = ["j-1", "j-2"]
    script = Script({"j-1": GOOD_1, "j-2": GOOD_2})
    tasks = topics_tasks(names)
    journal = project / "training-data/_inbox/.synth/journal.jsonl"
    journal.parent.mkdir(parents=True)
    done = {"task": tasks[0].id, "status": "done", "stage": "parsed", "reason": "empty answer"}
    journal.write_text(json.dumps(done) + '\n{"task": "' + tasks[1].id + '", "sta', encoding="utf-8")
    with fake_teacher(script) as url:
        res = run_synth(config(project, url), tasks)
    assert script.requests == {"j-2": 1} and res.skipped_done == 1
    lines = journal.read_text().splitlines()
    assert json.loads(lines[0]) == done and json.loads(lines[-1])["task"] == tasks[1].id


def test_a_skeleton_returned_unfilled_is_rejected_as_a_placeholder() -> None:
    from bbjcoder.data.filters import parse_draft
    from bbjcoder.data.synth import skeleton

    task = plan_topics(["x"], type="completion", generation="all", difficulty="basic", per_topic=1)[0]
    verdict = parse_draft(skeleton(task), draft_id="d")
    assert not isinstance(verdict, type(None)) and getattr(verdict, "stage", "") == "parsed"
    assert "placeholder" in getattr(verdict, "reason", "")
    filled = GOOD_1.replace("tags: [synthetic-test]", "tags: [TODO]")
    assert "unfilled placeholder in tags" in getattr(parse_draft(filled, draft_id="d"), "reason", "")
