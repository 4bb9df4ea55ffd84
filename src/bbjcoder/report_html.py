"""report.html for a demo run: one self-contained page (inline CSS, base64 images, no requests).

Built only from the files the stages wrote (run.json, loss.png, eval report.json and plot, dataset
stats, export files, serve_check.json, stages.json); every number on it comes from those files.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bbjcoder.evaluate.report import category_keys
from bbjcoder.fileio import atomic_write_text

CSS = """
:root { --fg:#1d2330; --muted:#5b6474; --line:#e3e6ec; --bg:#f6f7f9; --card:#fff; --accent:#2f5fd0;
        --ok:#17803d; --bad:#b42318; --warn:#a15c00; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { background:#18212f; color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:650; }
header .sub { color:#b8c2d3; font-size:14px; }
header .sub code { color:#dfe6f2; background:none; padding:0; }
main { max-width:1180px; margin:0 auto; padding:24px 40px 60px; }
nav { margin:0 0 18px; font-size:14px; }
nav a { color:var(--accent); margin-right:14px; text-decoration:none; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:20px 26px; margin:0 0 22px; }
h2 { margin:0 0 12px; font-size:20px; }
h3 { margin:18px 0 8px; font-size:16px; }
p.note { color:var(--muted); font-size:13.5px; margin:6px 0 12px; }
table { border-collapse:collapse; width:100%; font-size:14px; margin:6px 0 10px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f2f6; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; background:#fff; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(200px,1fr)); gap:14px; margin:0 0 22px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 18px; }
.card .label { color:var(--muted); font-size:12.5px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:20px; font-weight:650; margin-top:2px; }
.card .small { font-size:13px; color:var(--muted); }
.ok { color:var(--ok); } .bad { color:var(--bad); } .warn { color:var(--warn); }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12.5px; font-weight:600; }
.badge.ok { background:#e4f5ea; } .badge.bad { background:#fde8e6; } .badge.warn { background:#fff1dc; }
.badge.muted { background:#eef0f4; color:var(--muted); }
pre { background:#0f1723; color:#e6edf7; padding:12px 14px; border-radius:8px; overflow:auto; font-size:13px; line-height:1.45; margin:6px 0 10px; max-height:360px; white-space:pre-wrap; word-break:break-all; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:13px; }
p code, td code, li code { background:#eef0f4; padding:1px 5px; border-radius:4px; }
pre .kw { color:#7fb4ff; font-weight:600; } pre .str { color:#a5d68a; } pre .com { color:#7d8899; font-style:italic; }
pre .ln { color:#7d8899; } pre .num { color:#f0b76f; } pre .call { color:#e0a3ff; } pre .var { color:#ffd479; }
ul.diag { margin:4px 0 12px; padding-left:20px; font-size:13.5px; }
ul.diag li { color:var(--bad); }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:18px; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } main { padding:16px; } }
.sample { border-top:1px solid var(--line); padding-top:10px; margin-top:12px; }
.prompt { background:#f3f5f9; border-left:3px solid var(--accent); padding:8px 12px; border-radius:4px; font-size:14px; white-space:pre-wrap; }
.cmd td:first-child { white-space:nowrap; color:var(--muted); }
.phase { display:block; color:var(--muted); font-size:12.5px; }
td.log { white-space:nowrap; }
.side { font-size:12.5px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; margin-top:8px; }
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return f'<p class="note">({_esc(alt)}: {_esc(path.name)} not found)</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _est_cell(e: dict[str, Any] | None, **data: str) -> str:
    """A table cell showing an estimate as `value% [low, high]`, with the raw numbers as data-*."""
    attrs = "".join(f' data-{k}="{_esc(v)}"' for k, v in data.items())
    if not e or not e.get("n"):
        return f'<td class="num"{attrs} data-value="">–</td>'
    text = f"{100 * e['value']:.1f}% <span class='note'>[{100 * e['low']:.1f}, {100 * e['high']:.1f}]</span>"
    return f'<td class="num"{attrs} data-value="{e["value"]!r}" data-low="{e["low"]!r}" data-high="{e["high"]!r}">{text}</td>'


def _mib(n: int) -> str:
    return f"{n / 1024**2:.2f} MiB" if n >= 1024**2 else f"{n / 1024:.1f} KiB"


def _code(code: str) -> str:
    from bbjcoder.evaluate.highlight import highlight_bbj

    return f"<pre><code>{highlight_bbj(code)}</code></pre>"


def _diags(diags: Sequence[dict[str, Any]]) -> str:
    if not diags:
        return '<p><span class="badge ok">compiles</span> the BBj checker found no syntax errors.</p>'
    items = "".join(
        f"<li>line {_esc(d.get('line'))}, column {_esc(d.get('column'))}: {_esc(d.get('message'))}</li>"
        for d in diags[:6]
    )
    more = f"<li>… {len(diags) - 6} more</li>" if len(diags) > 6 else ""
    return f'<p><span class="badge bad">does not compile</span></p><ul class="diag">{items}{more}</ul>'


# --- sections -------------------------------------------------------------------------------------


def _summary_cards(
    report: dict[str, Any] | None, serve: dict[str, Any] | None, stages: dict[str, Any], wall: Any
) -> str:
    cards = []
    if report:
        k = min(report["ks"])
        under = report["models"][0]["label"]
        e = report["summary"][under].get("overall:all", {}).get(f"compile@{k}")
        base = next((m["label"] for m in report["models"] if m["role"] == "baseline"), None)
        be = report["summary"].get(base, {}).get("overall:all", {}).get(f"compile@{k}") if base else None
        cards.append(
            f'<div class="card"><div class="label">compile@{k}, fine-tuned</div><div class="value">'
            f"{_pct(e.get('value') if e else None)}</div><div class='small'>{report['suite']['cases']} cases</div></div>"
        )
        cards.append(
            f'<div class="card"><div class="label">compile@{k}, base model</div><div class="value">'
            f"{_pct(be.get('value') if be else None)}</div><div class='small'>untouched tiny base</div></div>"
        )
        comp = next((c for c in report["comparisons"] if c["category"] == "overall:all"), None)
        if comp:
            cards.append(
                f'<div class="card"><div class="label">paired test (McNemar)</div><div class="value">p = {comp["p_value"]:.3g}</div>'
                f"<div class='small'>{_esc(comp['verdict'])}</div></div>"
            )
    if serve:
        cls = "ok" if serve.get("compiles") else "bad"
        verdict = "compiles" if serve.get("compiles") else "does not compile"
        cards.append(
            f'<div class="card"><div class="label">server check</div><div class="value {cls}">{verdict}</div>'
            f"<div class='small'>answered in {serve.get('latency_s', 0):.1f} s</div></div>"
        )
    total = sum(float(s.get("seconds") or 0) for s in stages.values())
    cards.append(
        f'<div class="card"><div class="label">stage time</div><div class="value">{total / 60:.1f} min</div>'
        f"<div class='small'>last <code>bbjcoder demo</code> call: {_esc(wall) + ' s' if wall is not None else '–'}</div></div>"
    )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _stages_section(stages: dict[str, Any]) -> str:
    rows = []
    for name, s in stages.items():
        status = s.get("status", "?")
        cls = {"done": "ok", "failed": "bad", "running": "warn"}.get(status, "muted")
        resumed = ' <span class="badge muted">resumed</span>' if s.get("resumed_at") else ""
        secs = s.get("seconds")
        phases = (s.get("result") or {}).get("phases") or {}
        sub = "".join(
            f"<span class='phase'>{_esc({'prepare': 'tiny base model + tokenize', 'cpt': 'stage 1 (CPT)', 'sft': 'stage 2 (SFT)'}.get(p, p))}: {v:.1f} s</span>"
            for p, v in phases.items()
        )
        rows.append(
            f"<tr data-stage='{_esc(name)}'><td>{_esc(s.get('title', name))}{sub}</td>"
            f"<td><span class='badge {cls}'>{_esc(status)}</span>{resumed}</td>"
            f"<td class='num' data-seconds='{_esc(secs)}'>{'' if secs is None else f'{secs:.1f} s'}</td>"
            f"<td>{_esc(s.get('detail', ''))}</td><td class='log'><code>{_esc(s.get('log', ''))}</code></td></tr>"
        )
    return (
        "<section id='stages'><h2>Stages and timings</h2>"
        "<p class='note'>Seconds of the run that produced each stage's output; a resumed stage keeps its original time.</p>"
        "<table><tr><th>stage</th><th>status</th><th class='num'>time</th><th>result</th><th>log</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _training_section(demo_dir: Path, run: dict[str, Any] | None) -> str:
    rows = []
    for name, s in ((run or {}).get("stages") or {}).items():

        def f(v: Any) -> str:
            return f"{v:.4f}" if isinstance(v, float) else _esc("–" if v is None else v)

        rows.append(
            f"<tr data-train-stage='{_esc(name)}'><td>{_esc({'cpt': 'stage 1 (CPT)', 'sft': 'stage 2 (SFT)'}.get(name, name))}</td>"
            f"<td class='num'>{f(s.get('global_step'))}</td><td class='num'>{f(s.get('tokens_seen'))}</td>"
            f"<td class='num'>{f(s.get('first_train_loss'))}</td><td class='num'>{f(s.get('final_train_loss'))}</td>"
            f"<td class='num'>{f(s.get('first_val_loss'))}</td><td class='num'>{f(s.get('best_val_loss'))}</td>"
            f"<td class='num'>{_esc(s.get('wall_time_s', '–'))}</td></tr>"
        )
    data = (run or {}).get("data") or {}
    facts = ", ".join(f"{_esc(k.replace('_', ' '))}: {_esc(v)}" for k, v in data.items())
    return (
        "<section id='training'><h2>Training</h2>"
        f"<p class='note'>Base model: {_esc((run or {}).get('base_model_name', '–'))}. {facts}</p>"
        + _img(demo_dir / "loss.png", "loss curves")
        + "<table><tr><th>stage</th><th class='num'>steps</th><th class='num'>tokens seen</th><th class='num'>first train loss</th>"
        "<th class='num'>final train loss</th><th class='num'>first val loss</th><th class='num'>best val loss</th><th class='num'>wall (s)</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _eval_section(report: dict[str, Any] | None, eval_dir: Path) -> str:
    if not report:
        return "<section id='evaluation'><h2>Evaluation</h2><p class='note'>No eval report.</p></section>"
    ks = report["ks"]
    labels = [m["label"] for m in report["models"]]
    roles = {m["label"]: m["role"] for m in report["models"]}
    cfg = report.get("config", {})
    head = "".join(f"<th class='num'>compile@{k}</th>" for k in ks)
    rows = []
    for label in labels:
        overall = report["summary"][label].get("overall:all")
        cells = "".join(
            _est_cell(
                overall.get(f"compile@{k}") if overall else None,
                model=label,
                category="overall:all",
                metric=f"compile@{k}",
            )
            for k in ks
        )
        cells += _est_cell(
            overall.get("idioms") if overall else None, model=label, category="overall:all", metric="idioms"
        )
        copy_rate = overall.get("copy_rate") if overall else None
        cells += f"<td class='num'>{'–' if copy_rate is None else f'{copy_rate:.1%}'}</td>"
        cells += _est_cell(
            report.get("general", {}).get(label), model=label, category="general", metric="general_pass@1"
        )
        rows.append(
            f"<tr><td><code>{_esc(label)}</code> <span class='note'>({roles[label]})</span></td>{cells}</tr>"
        )
    summary = (
        f"<table id='eval-summary'><tr><th>model</th>{head}<th class='num'>idioms</th><th class='num' title='share of samples that only repeat the prompt&#39;s code (counted as no code)'>copy rate</th><th class='num'>general pass@1 (forgetting)</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    k = min(ks)
    cat_rows = []
    for key in category_keys(report):
        per = [report["summary"][label].get(key) for label in labels]
        n = next((p["cases"] for p in per if p), 0)
        cells = "".join(
            _est_cell(p.get(f"compile@{k}") if p else None, model=label, category=key, metric=f"compile@{k}")
            for label, p in zip(labels, per, strict=True)
        )
        cat_rows.append(f"<tr><td>{_esc(key)}</td><td class='num'>{n}</td>{cells}</tr>")
    cats = (
        f"<h3>compile@{k} per category (95% bootstrap intervals over cases)</h3>"
        # Many categories make a wide plot: then it goes under the table, full width.
        + ("<div class='grid2'><div>" if len(cat_rows) <= 6 else "<div><div>")
        + "<table id='eval-categories'><tr><th>category</th><th class='num'>cases</th>"
        + "".join(f"<th class='num'><code>{_esc(label)}</code></th>" for label in labels)
        + "</tr>"
        + "".join(cat_rows)
        + "</table></div><div>"
        + _img(eval_dir / "compile_at_k.png", f"compile@{k} per category")
        + "</div></div>"
    )
    comp_rows = [
        f"<tr data-category='{_esc(c['category'])}'><td>{_esc(c['category'])}</td><td><code>{_esc(c['a'])}</code></td><td><code>{_esc(c['b'])}</code></td>"
        f"<td class='num'>{c['both']}</td><td class='num'>{c['only_a']}</td><td class='num'>{c['only_b']}</td><td class='num'>{c['neither']}</td>"
        f"<td class='num' data-category='{_esc(c['category'])}' data-p='{c['p_value']!r}'>{c['p_value']:.3g}</td><td>{_esc(c['verdict'])}</td></tr>"
        for c in report["comparisons"]
    ]
    comps = (
        "<h3>Baseline comparison (paired, McNemar exact test)</h3>"
        "<p class='note'>A case counts as solved when at least half its samples compile; "
        "a model beats another only where p &lt; 0.05, which few cases rarely reach.</p>"
        "<table id='eval-comparisons'><tr><th>category</th><th>A</th><th>B</th><th class='num'>both</th><th class='num'>only A</th>"
        "<th class='num'>only B</th><th class='num'>neither</th><th class='num'>p</th><th>verdict</th></tr>"
        + "".join(comp_rows)
        + "</table>"
    )
    note = (
        f"<p class='note'>Suite <code>{_esc(report['suite']['name'])}</code>: {report['suite']['cases']} cases, "
        f"{_esc(cfg.get('n'))} samples per case, temperature {_esc(cfg.get('temperature'))}, "
        f"max {_esc(cfg.get('max_new_tokens'))} new tokens. Full report: <code>{_esc(eval_dir.name)}/report.md</code>.</p>"
    )
    return (
        "<section id='evaluation'><h2>Evaluation</h2>"
        + note
        + summary
        + _gate_html(report)
        + cats
        + comps
        + "</section>"
    )


def _gate_html(report: dict[str, Any]) -> str:
    """The forgetting gate (the plan's 5% rule): verdict, change with its interval, paired test."""
    if not report.get("general"):
        return ""
    gate = report.get("general_gate")
    suite = (report.get("config") or {}).get("forgetting_suite") or "?"
    if not gate:
        return (
            "<div id='general-gate' data-gate='none'><h3>General code gate</h3><p class='note'>"
            "No baseline to compare general code with, so the 5% rule was not checked.</p></div>"
        )
    state = "passed" if gate["passed"] else "failed"
    advice = f"<p class='gate-advice'><strong>{_esc(gate['advice'])}</strong></p>" if gate["advice"] else ""
    return (
        f"<div id='general-gate' data-gate='{state}'><h3>General code gate (forgetting check, suite "
        f"<code>{_esc(suite)}</code>)</h3>"
        f"<p><strong>{'✅ passed' if gate['passed'] else '❌ FAILED'}</strong>: general pass@1 of "
        f"<code>{_esc(gate['model'])}</code> {gate['model_pass']:.1f} against <code>{_esc(gate['reference'])}</code> "
        f"{gate['reference_pass']:.1f}, change <span class='num' data-change='{gate['change']!r}'>{gate['change']:+.1f}</span> points "
        f"(95% paired bootstrap interval [{gate['low']:+.1f}, {gate['high']:+.1f}], McNemar p = {gate['p_value']:.3g}, "
        f"{gate['problems']} problems). The gate fails on a drop of more than {gate['max_drop']:g} points.</p>"
        + advice
        + "</div>"
    )


def _sample_html(case: dict[str, Any], label: str) -> str:
    s = case["samples"][0]
    code = _code(s["code"]) if s.get("code", "").strip() else "<p class='note'>(no code in the output)</p>"
    return f"<div><div class='side'>{_esc(label)} · sample {s['sample']} of {case['n']}</div>{code}{_diags(s.get('diagnostics') or [])}</div>"


def _samples_section(report: dict[str, Any] | None, shown: int = 3) -> str:
    if not report:
        return ""
    labels = [m["label"] for m in report["models"]]
    by_model = {
        label: {c["case_id"]: c for c in report["cases"] if c["model"] == label and c.get("samples")}
        for label in labels
    }
    blocks = []
    for case_id in list(by_model[labels[0]])[:shown]:
        case = by_model[labels[0]][case_id]
        gens = "/".join(case.get("generation") or [])
        sides = "".join(
            _sample_html(by_model[label][case_id], label)
            for label in labels[:2]
            if case_id in by_model[label]
        )
        blocks.append(
            f"<div class='sample'><h3><code>{_esc(case_id)}</code> · {_esc(gens)} · {_esc(case['type'])} · "
            f"{_esc(case.get('difficulty', ''))}</h3><div class='prompt'>{_esc(case['prompt'])}</div>"
            f"<div class='grid2'>{sides}</div></div>"
        )
    return (
        "<section id='samples'><h2>Sample outputs</h2>"
        "<p class='note'>The first sample of the first cases, fine-tuned model beside the base model, with the BBj "
        "checker's diagnostics. The tiny demo model trained for minutes on a CPU: expect fragments of BBj, not programs.</p>"
        + "".join(blocks)
        + "</section>"
    )


def _data_section(dataset: Path) -> str:
    stats = _read_json(dataset / "stats.json") or {}
    manifest = _read_json(dataset / "manifest.json") or {}
    types = ["comprehension", "completion", "migration", "explanation"]
    by_gen = stats.get("by_generation") or {}
    rows = []
    for gen, per_type in by_gen.items():
        counts = {t: sum((per_type.get(t) or {}).values()) for t in types}
        cells = "".join(
            f"<td class='num' data-gen='{_esc(gen)}' data-type='{t}'>{counts[t]}</td>" for t in types
        )
        rows.append(f"<tr><td>{_esc(gen)}</td>{cells}<td class='num'>{sum(counts.values())}</td></tr>")
    files = manifest.get("files") or {}
    split = ", ".join(f"{k}: {v.get('records')}" for k, v in files.items())
    tokens = stats.get("tokens") or {}
    tok = (
        f"Token lengths ({_esc(tokens.get('tokenizer', ''))}): median {_esc(tokens.get('median'))}, "
        f"p95 {_esc(tokens.get('p95'))}, max {_esc(tokens.get('max'))}, total {_esc(tokens.get('total'))}."
        if tokens
        else ""
    )
    return (
        "<section id='data'><h2>Data</h2>"
        f"<p class='note'>{_esc(stats.get('records', '–'))} records after quality checks and deduplication; split {_esc(split)}. {tok}</p>"
        "<div class='grid2'><div><table id='data-counts'><tr><th>generation</th>"
        + "".join(f"<th class='num'>{t}</th>" for t in types)
        + "<th class='num'>total</th></tr>"
        + "".join(rows)
        + "</table></div><div>"
        + _img(dataset / "token_lengths.png", "token length histogram")
        + "</div></div></section>"
    )


def _export_section(demo_dir: Path) -> str:
    export = demo_dir / "export"
    files = sorted(export.glob("*.gguf")) if export.is_dir() else []
    rows = "".join(
        f"<tr><td><code>{_esc(f.name)}</code></td><td class='num' data-bytes='{f.stat().st_size}'>{_mib(f.stat().st_size)}</td></tr>"
        for f in files
    )
    modelfile = export / "Modelfile"
    mf = ""
    if modelfile.is_file():
        text = modelfile.read_text(encoding="utf-8")
        lines = text.splitlines()
        shown = "\n".join(lines[:14]) + ("\n…" if len(lines) > 14 else "")
        mf = f"<h3>Modelfile</h3><pre><code>{_esc(shown)}</code></pre>"
    return (
        "<section id='export'><h2>Export</h2>"
        f"<p class='note'>Merged adapter converted to GGUF in <code>{_esc(export.name)}/</code>; "
        "<code>ollama create NAME -f Modelfile</code> there loads it into Ollama.</p>"
        f"<table id='export-files'><tr><th>file</th><th class='num'>size</th></tr>{rows}</table>{mf}</section>"
    )


def _serve_section(serve: dict[str, Any] | None) -> str:
    if not serve:
        return "<section id='server'><h2>Server check</h2><p class='note'>Not run.</p></section>"
    answer = serve.get("answer", "")
    return (
        "<section id='server'><h2>Server check</h2>"
        f"<p class='note'><code>bbjcoder serve</code> on the Q4_K_M GGUF at <code>{_esc(serve.get('base_url'))}</code> "
        f"(started in {serve.get('startup_s', 0):.1f} s, answered in {serve.get('latency_s', 0):.1f} s, "
        f"{_esc(serve.get('completion_tokens'))} tokens, finish reason {_esc(serve.get('finish_reason'))}; "
        f"stopped, exit code {_esc(serve.get('server_exit_code'))}). Asked with the <code>openai</code> client:</p>"
        f"<div class='prompt'>{_esc(serve.get('prompt', ''))}</div>"
        "<h3>Answer (raw)</h3>"
        f"<pre><code>{_esc(answer) if answer.strip() else '(empty)'}</code></pre>"
        "<h3>Code the checker saw</h3>"
        + (_code(serve.get("code", "")) if serve.get("code", "").strip() else "<p class='note'>(no code)</p>")
        + _diags(serve.get("diagnostics") or [])
        + "<p class='note'>The verdict is reported, not required: the tiny demo model is not expected to write a working program.</p>"
        "</section>"
    )


def _commands_section(commands: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{_esc(w)}</td><td><code>{_esc(c)}</code></td></tr>" for w, c in commands)
    return (
        "<section id='commands'><h2>Each stage alone</h2>"
        "<p class='note'>The demo calls the same functions as these commands, on the same files.</p>"
        f"<table class='cmd'>{rows}</table></section>"
    )


def render_report_html(demo_dir: Path, *, commands: Sequence[tuple[str, str]] = ()) -> str:
    """The page's HTML for `demo_dir` (a demo run directory)."""
    demo_dir = Path(demo_dir)
    record = _read_json(demo_dir / "stages.json") or {}
    stages = record.get("stages") or {}
    run = _read_json(demo_dir / "run.json")
    suite = Path(((run or {}).get("config") or {}).get("eval", {}).get("suite", "evals/bbj-core")).name
    eval_dir = demo_dir / "eval" / suite
    report = _read_json(eval_dir / "report.json")
    serve = _read_json(demo_dir / "serve_check.json")
    title = f"bbjcoder demo · {demo_dir.name}"
    when = _dt.datetime.now().isoformat(timespec="seconds")
    nav = "".join(
        f"<a href='#{a}'>{t}</a>"
        for a, t in (
            ("stages", "Stages"),
            ("training", "Training"),
            ("evaluation", "Evaluation"),
            ("samples", "Samples"),
            ("data", "Data"),
            ("export", "Export"),
            ("server", "Server check"),
            ("commands", "Commands"),
        )
    )
    body = (
        _summary_cards(report, serve, stages, record.get("last_wall_s"))
        + _stages_section(stages)
        + _training_section(demo_dir, run)
        + _eval_section(report, eval_dir)
        + _samples_section(report)
        + _data_section(demo_dir / "dataset")
        + _export_section(demo_dir)
        + _serve_section(serve)
        + _commands_section(commands)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1><div class='sub'>profile <b>{_esc(record.get('profile', '?'))}</b> · "
        f"directory <code>{_esc(demo_dir)}</code> · written {when}</div></header>"
        f"<main><nav>{nav}</nav>{body}</main></body></html>\n"
    )


def write_report_html(demo_dir: Path, *, commands: Sequence[tuple[str, str]] = ()) -> Path:
    """Write `demo_dir/report.html` atomically; returns its path."""
    out = Path(demo_dir) / "report.html"
    atomic_write_text(out, render_report_html(demo_dir, commands=commands))
    return out
