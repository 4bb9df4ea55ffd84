"""The Markdown reader's fast front-matter path must read exactly what PyYAML reads."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bbjcoder.data.markdown import simple_front_matter

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

_word = st.text(alphabet="abcXYZ019 -_./()+&#:,'\"[]{}\\~!@?*|>%", min_size=0, max_size=12)


def _front_blocks() -> list[list[str]]:
    blocks = []
    for path in [*REPO.glob("training-data/**/*.md"), *FIXTURES.glob("**/*.md")]:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        if lines[0] == "---" and "---" in lines[1:]:
            blocks.append(lines[1 : lines.index("---", 1)])
    return blocks


def test_fast_path_agrees_with_pyyaml_on_all_shipped_front_matter() -> None:
    blocks = _front_blocks()
    fast = 0
    for block in blocks:
        data = simple_front_matter(block)
        if data is not None:
            fast += 1
            assert data == yaml.safe_load("\n".join(block)), block
    assert fast >= len(blocks) - 5  # nearly every real file takes the fast path


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["title", "type", "tags", "x-y"]), _word, st.booleans()), max_size=4)
)
def test_fast_path_never_disagrees_with_pyyaml(fields: list[tuple[str, str, bool]]) -> None:
    lines = []
    for key, value, as_list in fields:
        lines.append(f"{key}: [{value}, {value}]" if as_list else f"{key}: {value}")
    data = simple_front_matter(lines)
    if data is None:
        return  # PyYAML handles it
    assert data == yaml.safe_load("\n".join(lines))


def test_unusual_yaml_falls_back() -> None:
    assert simple_front_matter(["title: yes"]) is None
    assert simple_front_matter(["requires_version: 23.04"]) is None
    assert simple_front_matter(["tags:", "  - a"]) is None
    assert simple_front_matter(["title: a", "title: b"]) is None
    assert simple_front_matter(['title: "Hello, world"', "tags: [a, 'b c']"]) == {
        "title": "Hello, world",
        "tags": ["a", "b c"],
    }
