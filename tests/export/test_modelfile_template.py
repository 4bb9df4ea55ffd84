"""The Modelfile's TEMPLATE rendered by Ollama's rules: FIM for a request with a suffix, else ChatML."""

from __future__ import annotations

import pytest

from bbjcoder.data.fim import fim_prompt
from bbjcoder.export.modelfile import CHATML_GO_TEMPLATE, STOP_TOKENS, render_modelfile
from tests.export.gotemplate import render


def test_request_with_suffix_renders_the_training_fim_prompt() -> None:
    # Ollama's /api/generate with `suffix` passes only Prompt, Suffix and Response to the template.
    values = {"Prompt": "x=1\nprint x", "Suffix": "\nend\n", "Response": ""}
    assert render(CHATML_GO_TEMPLATE, values) == fim_prompt("x=1\nprint x", "\nend\n")


def test_chat_request_renders_chatml_with_open_assistant_turn() -> None:
    messages = [{"Role": "system", "Content": "You write BBj."}, {"Role": "user", "Content": "hi"}]
    out = render(CHATML_GO_TEMPLATE, {"System": "You write BBj.", "Messages": messages, "Response": ""})
    assert out == (
        "<|im_start|>system\nYou write BBj.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_prefilled_assistant_turn_stays_open() -> None:
    messages = [{"Role": "user", "Content": "hi"}, {"Role": "assistant", "Content": "```bbj"}]
    out = render(CHATML_GO_TEMPLATE, {"Messages": messages})
    assert out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n```bbj"


def test_renderer_follows_go_trim_and_else_rules() -> None:
    # the renderer itself: a wrong implementation would make the tests above meaningless
    tpl = "a  {{- if .X }} yes {{- else }} no {{- end -}}  b{{ .Y }}"
    assert render(tpl, {"X": 1, "Y": "!"}) == "a yesb!"
    assert render(tpl, {"X": "", "Y": None}) == "a nob"
    assert (
        render('{{ range $i, $m := .L }}{{ $i }}{{ if eq $m "q" }}Q{{ end }}{{ end }}', {"L": ["p", "q"]})
        == "01Q"
    )
    with pytest.raises(ValueError):
        render("{{ if .X }}open", {})


def test_modelfile_stops_on_fim_end_tokens() -> None:
    text = render_modelfile("m.gguf")
    for stop in ("<|im_end|>", "<|endoftext|>", "<|fim_pad|>"):
        assert f'PARAMETER stop "{stop}"' in text
    assert len(STOP_TOKENS) == len(set(STOP_TOKENS))
    assert "{{- if .Suffix }}" in text
