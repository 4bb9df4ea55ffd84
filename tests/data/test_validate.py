"""Validation of Markdown examples: every malformed fixture reports the right file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.data.markdown import parse_example
from bbjcoder.data.validate import find_example_files, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]

# fixture -> (line, text) of an error it must produce
EXPECTED_ERRORS = {
    "bad-yaml.md": (4, "bad YAML"),
    "unknown-field.md": (5, "unknown field 'author'"),
    "wrong-label.md": (3, "wrong label 'tutorial' for type"),
    "all-in-list.md": (4, "`all` cannot appear in a list"),
    "migration-missing-from-to.md": (3, "needs from_generation and to_generation"),
    "missing-section.md": (7, "missing section '## Explanation'"),
    "duplicated-section.md": (21, "duplicated section '## Explanation' (first at line 17)"),
    "unknown-section.md": (17, "unknown section '## Notes'"),
    "empty-code.md": (9, "empty code block"),
    "wrong-fence.md": (9, "must be fenced ```bbj"),
    "no-front-matter.md": (1, "missing YAML front matter"),
    "fim-missing-completion.md": (7, "missing subsection '### Completion'"),
    "unclosed-fence.md": (9, "never closed"),
}


def _problems(name: str) -> list:
    result = validate_paths([FIXTURES / "invalid" / name], check_code=False)
    return result.problems


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_malformed_fixture_reports_error_at_its_line(name: str) -> None:
    line, text = EXPECTED_ERRORS[name]
    errors = [p for p in _problems(name) if p.is_error]
    assert any(p.line == line and text in p.message for p in errors), [str(p) for p in errors]
    assert all(p.path.endswith(name) for p in errors)


def test_every_invalid_fixture_is_covered() -> None:
    names = {p.name for p in (FIXTURES / "invalid").glob("*.md")}
    assert names == set(EXPECTED_ERRORS) | {"checker-fails.md"}


def test_non_utf8_file_reports_line_and_offset(tmp_path: Path) -> None:
    # written here: a non-UTF-8 .md checked into tests/ would break ruff, which reads Markdown
    text = (
        (FIXTURES / "invalid" / "empty-code.md")
        .read_text()
        .replace("```bbj\n```", '```bbj\nPRINT "caf\xe9"\n```')
    )
    path = tmp_path / "t" / "latin1.md"
    path.parent.mkdir()
    path.write_bytes(text.encode("latin-1"))
    (problem,) = validate_paths([path], check_code=False).problems
    offset = text.encode("latin-1").index(b"\xe9")
    assert (problem.line, problem.message) == (10, f"not UTF-8 (byte 0xe9 at offset {offset})")


def test_wrong_label_reports_each_field_on_its_own_line() -> None:
    errors = {(p.line, p.message.split(" for ")[1].split(";")[0]) for p in _problems("wrong-label.md")}
    assert errors == {(3, "type"), (4, "generation"), (5, "difficulty")}


def test_valid_fixtures_have_no_problems() -> None:
    result = validate_paths([FIXTURES / "valid"])
    assert result.errors == 0 and result.warnings == 0, [str(p) for p in result.problems]
    assert [f.example.id for f in result.files] == [
        "basics/string-functions",
        "classes/class-basics",
        "gui/button-callback",
        "gui/hello-window",
        "migration/print-at-to-window",
    ]


def test_checker_error_points_at_the_physical_line_in_the_markdown() -> None:
    result = validate_paths([FIXTURES / "invalid" / "checker-fails.md"])
    errors = [p for p in result.problems if p.is_error]
    assert errors and all("BBj checker" in p.message for p in errors)
    # the block starts at line 10; the unterminated string is its 3rd line
    assert 12 in {p.line for p in errors}


def test_checker_lines_map_into_fim_parts(tmp_path: Path) -> None:
    text = (FIXTURES / "valid" / "gui" / "button-callback.md").read_text()
    broken = text.replace(
        'window!.setCallback(window!.ON_CLOSE, "onClose")', 'window!.setCallback(window!.ON_CLOSE, "onClose"'
    )
    path = tmp_path / "gui" / "broken.md"
    path.parent.mkdir()
    path.write_text(broken)
    errors = [p for p in validate_paths([path]).problems if p.is_error]
    bad_line = broken.splitlines().index('window!.setCallback(window!.ON_CLOSE, "onClose"') + 1
    assert [p.line for p in errors] == [bad_line], [str(p) for p in errors]


def test_missing_checker_is_a_warning_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import bbjcoder.data.validate as validate_mod

    monkeypatch.setattr(validate_mod, "get_checker", lambda: None)
    result = validate_mod.validate_paths([FIXTURES / "invalid" / "checker-fails.md"])
    assert result.errors == 0
    assert result.notes == ["BBj checker not available; code not checked"]


def test_warnings_for_labels_and_whitespace() -> None:
    result = validate_paths([FIXTURES / "warnings"])
    assert result.errors == 0
    messages = {(Path(p.path).name, p.line, p.message.split(";")[0]) for p in result.problems}
    assert ("whitespace.md", 10, "trailing whitespace in code") in messages
    assert ("whitespace.md", 12, "code indents with both tabs and spaces") in messages
    assert any(name == "label-contradicts.md" and line == 4 for name, line, _ in messages)


def test_mixed_line_endings_are_reported() -> None:
    text = (FIXTURES / "valid" / "gui" / "hello-window.md").read_text()
    lines = text.split("\n")
    mixed = "\r\n".join(lines[:10]) + "\n" + "\n".join(lines[10:])
    example, problems = parse_example(mixed, path="x.md", example_id="x")
    assert example.front is not None
    assert any("mixed line endings" in p.message for p in problems)


def test_example_ids_are_relative_to_the_training_data_root() -> None:
    files = find_example_files([REPO / "training-data"])
    assert all("/" in ident and not ident.endswith(".md") for _, ident in files)
    assert not any(p.name == "FORMAT.md" for p, _ in files)


def test_shipped_training_data_parses_and_mostly_validates() -> None:
    """Content is another helper's job: here only that the shipped files go through the pipeline."""
    result = validate_paths([REPO / "training-data"], check_code=False)
    assert result.files
    structural = [str(p) for p in result.problems if p.is_error]
    assert not structural, structural[:10]
