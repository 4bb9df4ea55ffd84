"""Read one training example (Markdown + YAML front matter) into an `Example`, with line numbers.

Every problem found is a `Problem` pointing at the real line of the Markdown file; the rules are
documented in training-data/FORMAT.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from bbjcoder.data.fences import find_fences
from bbjcoder.data.problems import Problem, Severity
from bbjcoder.data.schema import DIFFICULTIES, TYPES, FrontMatter

try:  # the C loader is ~10x faster; PyYAML wheels ship it, source builds may not
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

FIELDS: tuple[str, ...] = tuple(FrontMatter.model_fields)
SECTION_CODE = "code"
SECTION_EXPECTED = ("expected behavior", "expected output")
SECTION_EXPLANATION = "explanation"
KNOWN_SECTIONS = (SECTION_CODE, *SECTION_EXPECTED, SECTION_EXPLANATION)
FIM_PARTS = ("prefix", "completion", "suffix")

_FILENAME = re.compile(r"^\s*<!--\s*filename:\s*(\S+?)\s*-->\s*$", re.IGNORECASE)
_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
_MIGRATION_SUB = re.compile(r"^(before|after)\b\s*(?:\((.*)\))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block; `line` is the file line of its first code line (fence line + 1)."""

    code: str
    line: int
    lang: str
    filename: str | None = None

    @property
    def fence_line(self) -> int:
        return self.line - 1


@dataclass
class Section:
    """A `##` section (or `###` subsection): heading line, Markdown body, code blocks, subsections."""

    title: str
    line: int
    body: list[str] = field(default_factory=list)  # Markdown lines, fenced blocks included
    prose: list[tuple[int, str]] = field(default_factory=list)  # (file line, text) outside blocks
    blocks: list[CodeBlock] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)

    key: str = field(init=False, repr=False)  # the title lower-cased with single spaces

    def __post_init__(self) -> None:
        self.key = " ".join(self.title.lower().split())

    def text(self) -> str:
        return "\n".join(self.body).strip()


@dataclass(frozen=True)
class Example:
    """A parsed training example. `front` is None when the front matter is invalid."""

    id: str
    path: str
    front: FrontMatter | None
    front_lines: dict[str, int]
    code: tuple[CodeBlock, ...] = ()
    prefix: CodeBlock | None = None
    completion: CodeBlock | None = None
    suffix: CodeBlock | None = None
    before: tuple[CodeBlock, ...] = ()
    after: tuple[CodeBlock, ...] = ()
    expected: str = ""
    expected_kind: str = ""  # "behavior" | "output" | ""
    explanation: str = ""

    @property
    def is_fim(self) -> bool:
        return self.completion is not None

    def all_blocks(self) -> tuple[CodeBlock, ...]:
        fim = tuple(b for b in (self.prefix, self.completion, self.suffix) if b is not None)
        return self.code + fim + self.before + self.after

    def checker_units(self) -> list[list[CodeBlock]]:
        """Groups of blocks that form one program each: FIM parts join, other blocks stand alone."""
        if self.is_fim:
            return [[b for b in (self.prefix, self.completion, self.suffix) if b is not None]]
        return [[b] for b in self.code + self.before + self.after]


class _Collector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int, severity: Severity, message: str) -> None:
        self.problems.append(Problem(self.path, line, severity, message))

    def error(self, line: int, message: str) -> None:
        self.add(line, "error", message)

    def warning(self, line: int, message: str) -> None:
        self.add(line, "warning", message)


def parse_example(text: str, *, path: str, example_id: str) -> tuple[Example, list[Problem]]:
    """Parse one example file's text; return the example and every problem with its file line."""
    out = _Collector(path)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if "\r" in text:
        _line_endings(lines, out)
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]

    front, front_lines, body_start, raw_type = _front_matter(lines, out)
    sections = _sections(lines, body_start, out)
    example = _assemble(example_id, path, front, front_lines, sections, out, raw_type)
    _lint_blocks(example, out)
    _template_placeholders(lines, body_start, out)
    return example, sorted(out.problems, key=lambda p: (p.line, p.severity != "error"))


# --- front matter -------------------------------------------------------------------------------


def _front_matter(
    lines: list[str], out: _Collector
) -> tuple[FrontMatter | None, dict[str, int], int, str | None]:
    """(model or None, field -> file line, first body line index, the `type` value if it is valid)."""
    if not lines or lines[0].rstrip() != "---":
        out.error(1, "missing YAML front matter: the file must start with a line `---`")
        return None, {}, 0, None
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        out.error(1, "YAML front matter is never closed: add a line `---` after the last field")
        return None, {}, len(lines), None
    key_lines: dict[str, int] = {}
    for i in range(1, end):
        m = _KEY.match(lines[i])
        if m:
            key_lines.setdefault(m.group(1), i + 1)
    try:
        data = simple_front_matter(lines[1:end])
        if data is None:
            data = yaml.load("\n".join(lines[1:end]), Loader=_Loader)
    except yaml.YAMLError as exc:
        out.error(*_yaml_problem(exc))
        return None, key_lines, end + 1, None
    if not isinstance(data, dict):
        out.error(2, "front matter must be a YAML mapping of `field: value` lines")
        return None, key_lines, end + 1, None
    given_type = data.get("type")
    raw_type = given_type if isinstance(given_type, str) and given_type in TYPES else None
    try:
        return FrontMatter.model_validate(data), key_lines, end + 1, raw_type
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            _front_error(err, data, key_lines, out)
        return None, key_lines, end + 1, raw_type


def _yaml_problem(exc: yaml.YAMLError) -> tuple[int, str]:
    """(file line, message) of a YAML error. The context mark (where the construct the parser was
    reading began, e.g. an unclosed `[`) is usually the author's mistake; the problem mark is
    where the parser noticed, often a line later."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    mark = context_mark or problem_mark
    line = mark.line + 2 if mark is not None else 2  # YAML line 0 is file line 2
    msg = f"bad YAML in front matter: {context + ': ' if context else ''}{problem}"
    if context_mark is not None and problem_mark is not None and problem_mark.line != context_mark.line:
        msg += f" (noticed at line {problem_mark.line + 2})"
    return line, msg


# The fast path reads only what front matter almost always is: `key: value` lines whose values are
# quoted strings, plain words, or flow lists of those. Anything else returns None and goes to PyYAML,
# so the two can never disagree (tests compare them). PyYAML builds objects in Python and was the
# largest single cost of validating 10,000 examples.
_SIMPLE_LINE = re.compile(r"^([A-Za-z_][\w-]*):[ \t]+(.*?)[ \t]*$")
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 _./()+&-]*$")
_QUOTED = re.compile(r'^"([^"\\]*)"$|^\'([^\']*)\'$')
_FLOW_ITEM = re.compile(r'^(?:"([^"\\,\[\]{}]*)"|\'([^\',\[\]{}]*)\'|([A-Za-z][A-Za-z0-9_./+-]*))$')
# YAML 1.1 words that PyYAML reads as booleans or null, not strings
_YAML_WORDS = frozenset(
    w
    for word in ("yes", "no", "true", "false", "on", "off", "null", "y", "n")
    for w in (word, word.title(), word.upper())
)


def _simple_scalar(text: str) -> str | None:
    m = _QUOTED.match(text)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    if _PLAIN.match(text) and text not in _YAML_WORDS and " #" not in text and not text.endswith(" "):
        return text
    return None


def simple_front_matter(lines: list[str]) -> dict[str, str | list[str]] | None:
    """The front matter as PyYAML would read it, when it is in the simple subset; else None."""
    data: dict[str, str | list[str]] = {}
    for line in lines:
        if not line.strip():
            continue
        m = _SIMPLE_LINE.match(line)
        if m is None or m.group(1) in data:
            return None
        key, value = m.group(1), m.group(2)
        if value.startswith("[") and value.endswith("]"):
            inner = value[1:-1].strip()
            items: list[str] = []
            if inner:
                for raw in inner.split(","):
                    im = _FLOW_ITEM.match(raw.strip())
                    if im is None:
                        return None
                    item = next(g for g in im.groups() if g is not None)
                    if im.group(3) is not None and item in _YAML_WORDS:
                        return None
                    items.append(item)
            data[key] = items
        else:
            scalar = _simple_scalar(value)
            if scalar is None:
                return None
            data[key] = scalar
    return data or None  # empty front matter: PyYAML reads None, and validation says so


def _front_error(err: Any, data: Mapping[str, object], key_lines: dict[str, int], out: _Collector) -> None:
    loc = err["loc"]
    name = str(loc[0]) if loc else ""
    line = key_lines.get(name, key_lines.get("type", 1))
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        msg = f"unknown field {name!r}; allowed fields: {', '.join(FIELDS)}"
    elif kind == "missing":
        msg = f"missing required field {name!r}"
        line = 1
    elif kind == "literal_error":
        allowed = {"type": TYPES, "difficulty": DIFFICULTIES}.get(name)
        got = data.get(name)
        if allowed:
            msg = f"wrong label {got!r} for {name}; expected one of: {', '.join(allowed)}"
        else:
            msg = f"wrong value {got!r} for {name}: {msg}"
    elif name:
        msg = f"{name}: {msg}" if not msg.startswith(name) and name not in msg else msg
    out.error(line, msg)


# --- body ---------------------------------------------------------------------------------------


def _sections(lines: list[str], start: int, out: _Collector) -> list[Section]:
    """Split the body into `##` sections with `###` subsections, tracking fenced blocks."""
    sections: list[Section] = []
    current: Section | None = None  # the innermost open section (## or ###)
    parent: Section | None = None
    preamble: list[tuple[int, str]] = []
    pending_filename: str | None = None
    n = len(lines)
    # Fences by the one rule (data/fences.py), keyed by the line index that opens each.
    fences = {start + f.line - 1: f for f in find_fences("\n".join(lines[start:]))}
    i = start
    while i < n:
        line = lines[i]
        f = fences.get(i)
        if f is not None:
            if f.close_line is None:
                out.error(i + 1, f"code fence {f.marker} opened here is never closed")
                close = n
            else:
                close = start + f.close_line - 1
            code = f.body[:-1] if f.closed and f.body.endswith("\n") else f.body
            block = CodeBlock(code, i + 2, f.lang, pending_filename)
            pending_filename = None
            if current is None:
                preamble.append((i + 1, line))
            else:
                current.blocks.append(block)
                current.body.extend(lines[i : close + 1])
            i = close + 1
            continue
        if line.startswith("## "):
            current = parent = Section(line[3:].strip(), i + 1)
            sections.append(current)
        elif line.startswith("### "):
            sub = Section(line[4:].strip(), i + 1)
            if parent is None:
                out.error(i + 1, "### subsection outside any ## section")
                parent = Section("", i + 1)
            parent.subsections.append(sub)
            current = sub
        elif line.startswith("# ") and current is None:
            pass  # an H1 title before the first section is allowed and unused
        else:
            fm = _FILENAME.match(line)
            if fm:
                pending_filename = fm.group(1)
            elif current is None:
                if line.strip():
                    preamble.append((i + 1, line))
            else:
                current.body.append(line)
                if line.strip():
                    current.prose.append((i + 1, line))
        i += 1
    if preamble:
        out.warning(preamble[0][0], "text before the first ## section is not used; move it into a section")
    return sections


def _assemble(
    example_id: str,
    path: str,
    front: FrontMatter | None,
    front_lines: dict[str, int],
    sections: list[Section],
    out: _Collector,
    raw_type: str | None = None,
) -> Example:
    found: dict[str, Section] = {}
    for sec in sections:
        key = sec.key
        if key not in KNOWN_SECTIONS:
            out.error(
                sec.line,
                f"unknown section '## {sec.title}'; allowed: ## Code, ## Expected Behavior "
                "(or ## Expected Output), ## Explanation",
            )
            continue
        slot = "expected" if key in SECTION_EXPECTED else key
        if slot in found:
            prev = found[slot]
            out.error(sec.line, f"duplicated section '## {sec.title}' (first at line {prev.line})")
            continue
        found[slot] = sec
    order = [s.key for s in sections if s.key in KNOWN_SECTIONS]
    ranks = [0 if k == SECTION_CODE else 1 if k in SECTION_EXPECTED else 2 for k in order]
    if ranks != sorted(ranks):
        out.warning(
            sections[0].line if sections else 1, "sections out of order; use Code, Expected, Explanation"
        )

    ex_type = front.type if front is not None else raw_type
    heading_line = sections[0].line if sections else max(front_lines.values(), default=1)

    code = found.get(SECTION_CODE)
    if code is None:
        out.error(heading_line, "missing section '## Code'")
        parts = _CodeParts()
    else:
        parts = _code_section(code, ex_type, out)

    expected = found.get("expected")
    expected_text = expected_kind = ""
    if expected is None:
        if ex_type != "migration":
            out.error(heading_line, "missing section '## Expected Behavior' (or '## Expected Output')")
    else:
        expected_text, expected_kind = _prose_section(expected, out), expected.key.split()[-1]

    explanation = found.get(SECTION_EXPLANATION)
    if explanation is None:
        out.error(heading_line, "missing section '## Explanation'")

    return Example(
        id=example_id,
        path=path,
        front=front,
        front_lines=front_lines,
        code=parts.code,
        prefix=parts.prefix,
        completion=parts.completion,
        suffix=parts.suffix,
        before=parts.before,
        after=parts.after,
        expected=expected_text,
        expected_kind=expected_kind,
        explanation="" if explanation is None else _prose_section(explanation, out),
    )


def _prose_section(sec: Section, out: _Collector) -> str:
    for sub in sec.subsections:
        sec.body.append(f"### {sub.title}")
        sec.body.extend(sub.body)
    text = sec.text()
    if not text:
        out.error(sec.line, f"section '## {sec.title}' is empty")
    return text


def _bbj_blocks(sec: Section, out: _Collector) -> list[CodeBlock]:
    """The section's code blocks, checking their fences; prose beside them is reported unused."""
    blocks: list[CodeBlock] = []
    for b in sec.blocks:
        if b.lang in ("bbj", ""):
            if b.lang == "":
                out.warning(b.fence_line, "code fence has no language; write ```bbj")
            if not b.code.strip():
                out.error(b.fence_line, "empty code block")
            blocks.append(b)
        else:
            out.error(b.fence_line, f"code block must be fenced ```bbj, not ```{b.lang}")
    if sec.prose:
        line, _ = sec.prose[0]
        out.warning(
            line, f"text beside the code in '{sec.title}' is not used in training; keep ## Code to code"
        )
    return blocks


@dataclass
class _CodeParts:
    """What `## Code` holds: plain blocks, FIM parts or a migration's two sides."""

    code: tuple[CodeBlock, ...] = ()
    prefix: CodeBlock | None = None
    completion: CodeBlock | None = None
    suffix: CodeBlock | None = None
    before: tuple[CodeBlock, ...] = ()
    after: tuple[CodeBlock, ...] = ()


def _code_section(sec: Section, ex_type: str | None, out: _Collector) -> _CodeParts:
    subs = {s.key: s for s in sec.subsections}
    fim = [k for k in subs if k in FIM_PARTS]
    migration = [s for s in sec.subsections if _MIGRATION_SUB.match(s.title)]
    fields = _CodeParts()

    if ex_type == "migration" or (ex_type is None and migration):
        for sub in sec.subsections:
            if not _MIGRATION_SUB.match(sub.title):
                out.error(
                    sub.line,
                    f"unexpected subsection '### {sub.title}' in a migration; use ### Before / ### After",
                )
        if sec.blocks:
            out.error(
                sec.blocks[0].fence_line, "a migration's code goes under ### Before (...) and ### After (...)"
            )
        for side in ("before", "after"):
            subs_side = [s for s in migration if s.title.lower().startswith(side)]
            if not subs_side:
                out.error(sec.line, f"missing subsection '### {side.capitalize()} (...)' in ## Code")
                continue
            if len(subs_side) > 1:
                out.error(subs_side[1].line, f"duplicated subsection '### {subs_side[1].title}'")
            sub = subs_side[0]
            blocks = _bbj_blocks(sub, out)
            if not sub.blocks:
                out.error(sub.line, f"'### {sub.title}' has no ```bbj block")
            setattr(fields, side, tuple(blocks))
        return fields

    if fim or (ex_type == "completion" and sec.subsections):
        if ex_type not in (None, "completion"):
            out.error(
                sec.subsections[0].line,
                f"### Prefix/Completion/Suffix belong to completion examples, not {ex_type}",
            )
        for sub in sec.subsections:
            if sub.key not in FIM_PARTS:
                out.error(
                    sub.line,
                    f"unexpected subsection '### {sub.title}'; use ### Prefix, ### Completion, ### Suffix",
                )
        if sec.blocks:
            out.error(
                sec.blocks[0].fence_line,
                "with ### Prefix/### Completion, all code goes inside those subsections",
            )
        for part in FIM_PARTS:
            part_sec = subs.get(part)
            if part_sec is None:
                if part != "suffix":
                    out.error(sec.line, f"missing subsection '### {part.capitalize()}' in ## Code")
                continue
            blocks = _bbj_blocks(part_sec, out)
            if len(part_sec.blocks) != 1:
                out.error(
                    part_sec.line,
                    f"'### {part_sec.title}' must hold exactly one ```bbj block (found {len(part_sec.blocks)})",
                )
            if blocks:
                setattr(fields, part, blocks[0])
        return fields

    for sub in sec.subsections:
        out.error(
            sub.line, f"unexpected subsection '### {sub.title}' in ## Code of a {ex_type or 'plain'} example"
        )
    blocks = _bbj_blocks(sec, out)
    if not sec.blocks:
        out.error(sec.line, "## Code has no ```bbj block")
    fields.code = tuple(blocks)
    return fields


# --- formatting lint ----------------------------------------------------------------------------


def _line_endings(lines: list[str], out: _Collector) -> None:
    crlf = [i for i, ln in enumerate(lines[:-1]) if ln.endswith("\r")]
    if crlf and len(crlf) != len(lines) - 1:
        lf = next(i for i, ln in enumerate(lines[:-1]) if not ln.endswith("\r"))
        odd = lf if len(crlf) > (len(lines) - 1) / 2 else crlf[0]
        out.warning(odd + 1, "mixed line endings (CRLF and LF); save the file with LF endings")


_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_MIXED_INDENT = re.compile(r"^\t", re.MULTILINE), re.compile(r"^ +\S", re.MULTILINE)


# The placeholders `bbjcoder data new` writes ("REM TODO: ..." in code, "TODO: ..." in prose): a
# scaffold left like this is not an example yet, so it must not pass validate or reach a dataset.
_PLACEHOLDER = re.compile(r"^\s*(?:REM\s+)?TODO:")


def _template_placeholders(lines: list[str], body_start: int, out: _Collector) -> None:
    for i in range(body_start, len(lines)):
        if _PLACEHOLDER.match(lines[i]):
            out.error(i + 1, "unfilled template placeholder (TODO: ...): replace it with the real content")


def _lint_blocks(example: Example, out: _Collector) -> None:
    for block in example.all_blocks():
        if "TODO" in block.code and not any(_PLACEHOLDER.match(ln) for ln in block.code.split("\n")):
            out.warning(block.line, "code still contains a TODO placeholder")
        trailing = _TRAILING_WS.search(block.code)
        mixed = all(rx.search(block.code) for rx in _MIXED_INDENT)
        if not (trailing or mixed):
            continue  # the common case: no line needs a closer look
        indents: set[str] = set()
        first_kind: dict[str, int] = {}
        for k, ln in enumerate(block.code.split("\n")):
            if ln != ln.rstrip():
                out.warning(block.line + k, "trailing whitespace in code")
            ws = ln[: len(ln) - len(ln.lstrip(" \t"))]
            for kind, ch in (("tabs", "\t"), ("spaces", " ")):
                if ch in ws and ln.strip():
                    indents.add(kind)
                    first_kind.setdefault(kind, block.line + k)
        if len(indents) > 1:
            out.warning(max(first_kind.values()), "code indents with both tabs and spaces; use spaces")
