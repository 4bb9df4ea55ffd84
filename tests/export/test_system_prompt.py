"""One system prompt: the Modelfile's SYSTEM and `serve`'s default are the data stage's prompt, the
same sentence every training example carries, with the guide to the four generations after it."""

from __future__ import annotations

from pathlib import Path

from bbjcoder.data.convert import SYSTEM_PROMPT, example_to_record, system_prompt
from bbjcoder.data.markdown import parse_example
from bbjcoder.export.modelfile import render_modelfile

SHIPPED = Path(__file__).resolve().parents[2] / "training-data" / "dwc" / "inject-style.md"


def _modelfile_system(text: str) -> str:
    return text.split('SYSTEM """', 1)[1].split('"""', 1)[0]


def test_modelfile_system_is_the_data_stages_prompt() -> None:
    assert _modelfile_system(render_modelfile("m.gguf")) == system_prompt()


def test_modelfile_system_opens_with_the_sentence_training_used() -> None:
    example, problems = parse_example(SHIPPED.read_text(encoding="utf-8"), path=str(SHIPPED), example_id="x")
    assert not problems
    system = next(text for role, text in example_to_record(example).messages if role == "system")
    assert system == system_prompt(["dwc"])
    head = SYSTEM_PROMPT.split("{generation}")[0]
    assert system.startswith(head) and _modelfile_system(render_modelfile("m.gguf")).startswith(head)
