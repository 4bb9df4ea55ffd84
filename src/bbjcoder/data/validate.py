"""Find and validate training examples: structure (markdown.py), BBj checker, generation labels.

`validate_paths` is what `bbjcoder data validate` and `convert` run; each file's problems carry
`file:line` positions in the Markdown file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bbjcoder.data.checker import UNAVAILABLE_MESSAGE, Checker, get_checker, get_detector
from bbjcoder.data.markdown import CodeBlock, Example, parse_example
from bbjcoder.data.problems import Problem
from bbjcoder.errors import DataError

# Markdown files in training-data/ that are documentation, not examples.
NOT_EXAMPLES = frozenset({"format.md", "readme.md", "contributing.md", "changelog.md"})
ROOT_MARKER = "FORMAT.md"


@dataclass
class FileResult:
    example: Example
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


@dataclass
class ValidationResult:
    files: list[FileResult] = field(default_factory=list)
    checker_available: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if not p.is_error)

    def valid_examples(self) -> list[Example]:
        return [f.example for f in self.files if f.ok]


def display_path(path: Path) -> str:
    """The path relative to the working directory (posix) when it lies below it, else as given."""
    rel = os.path.relpath(os.path.abspath(path))
    return Path(rel).as_posix() if not rel.startswith("..") else path.as_posix()


def _skip_dir(name: str) -> bool:
    return name.startswith((".", "_")) or name == "schema"


def find_example_files(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Example files under `paths` with their ids, sorted by id.

    The id is the path without `.md` relative to the nearest ancestor holding FORMAT.md (the
    training-data root), else relative to the directory argument, else `<parent>/<stem>`: so the
    same file gets the same id however it is named on the command line.
    """
    found: dict[Path, str] = {}
    ids = _IdResolver()
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found[p] = ids.example_id(p.parent, p.name, None)
        elif p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not _skip_dir(d))
                if ROOT_MARKER in filenames:
                    continue  # Markdown beside FORMAT.md documents the data; examples live in <topic>/
                for name in sorted(filenames):
                    if (
                        name.endswith(".md")
                        and name.lower() not in NOT_EXAMPLES
                        and not name.startswith((".", "_"))
                    ):
                        found[Path(dirpath) / name] = ids.example_id(Path(dirpath), name, p)
        else:
            raise DataError("no such file or directory", path=p)
    return sorted(found.items(), key=lambda kv: (kv[1], str(kv[0])))


class _IdResolver:
    """Example ids, resolving each directory (and its training-data root) once, not once per file."""

    def __init__(self) -> None:
        self._resolved: dict[Path, Path] = {}
        self._root: dict[Path, Path | None] = {}

    def _resolve(self, d: Path) -> Path:
        if d not in self._resolved:
            self._resolved[d] = d.resolve()
        return self._resolved[d]

    def _root_of(self, resolved_dir: Path) -> Path | None:
        if resolved_dir not in self._root:
            root = None
            for ancestor in (resolved_dir, *resolved_dir.parents):
                if (ancestor / ROOT_MARKER).is_file():
                    root = ancestor
                    break
            self._root[resolved_dir] = root
        return self._root[resolved_dir]

    def example_id(self, directory: Path, name: str, base: Path | None) -> str:
        resolved_dir = self._resolve(directory)
        stem = name[:-3] if name.endswith(".md") else Path(name).stem
        root = self._root_of(resolved_dir)
        if root is not None:
            return (resolved_dir.relative_to(root) / stem).as_posix()
        if base is not None:
            return (resolved_dir.relative_to(self._resolve(base)) / stem).as_posix()
        return f"{resolved_dir.name}/{stem}"


def read_example_text(path: Path, shown: str) -> tuple[str | None, list[Problem]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(shown, 0, "error", f"cannot read: {exc.strerror}")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [
            Problem(shown, line, "error", f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")
        ]


def validate_paths(
    paths: Iterable[str | Path],
    *,
    check_code: bool = True,
    progress: bool = False,
) -> ValidationResult:
    """Parse and validate every example under `paths` (files or directories)."""
    files = find_example_files(paths)
    checker = get_checker() if check_code else None
    detect = checker.detect_generations if checker else (get_detector() if check_code else None)
    result = ValidationResult(checker_available=checker is not None)
    if check_code and checker is None:
        result.notes.append(UNAVAILABLE_MESSAGE)
    seen: dict[str, str] = {}
    for path, example_id in _progress(files, progress, "validating"):
        shown = display_path(path)
        text, problems = read_example_text(path, shown)
        if text is None:
            result.files.append(FileResult(Example(example_id, shown, None, {}), problems))
            continue
        example, problems = validate_text(
            text, path=shown, example_id=example_id, checker=checker, detect=detect
        )
        if example_id in seen:
            problems.append(
                Problem(shown, 1, "error", f"duplicate example id {example_id!r} (also {seen[example_id]})")
            )
        seen.setdefault(example_id, shown)
        result.files.append(FileResult(example, problems))
    return result


def validate_text(
    text: str,
    *,
    path: str,
    example_id: str,
    checker: Checker | None,
    detect: object = None,
) -> tuple[Example, list[Problem]]:
    """Validate one example's text: structure, then code through the checker when given."""
    example, problems = parse_example(text, path=path, example_id=example_id)
    if checker is not None:
        problems.extend(check_code(example, checker))
        problems.extend(lint_problems(example))
    if callable(detect) and example.front is not None:
        problems.extend(check_generation_labels(example, detect))
    return example, problems


def check_code(example: Example, checker: Checker) -> list[Problem]:
    """Run the checker on each program of the example; map its lines back into the Markdown file."""
    problems: list[Problem] = []
    for unit in example.checker_units():
        unit = [b for b in unit if b.code.strip()]
        if not unit:
            continue
        text = "\n".join(b.code for b in unit)
        for diag in checker.check_source(text):
            line = _file_line(unit, int(getattr(diag, "line", 1)))
            col = getattr(diag, "column", 0)
            where = f" (column {col})" if col else ""
            problems.append(Problem(example.path, line, "error", f"BBj checker: {diag.message}{where}"))
    return problems


def lint_problems(example: Example) -> list[Problem]:
    """`bbjcoder data lint` findings as errors (BBj pitfalls, API table). A label whose idioms are
    absent only warns here, like every label check of validate (FORMAT.md); a label the code
    contradicts is already warned about by `check_generation_labels`."""
    from bbjcoder.data.lint import PORTABLE, example_programs, lint_program

    problems = []
    for prog in example_programs(example):
        for f in lint_program(prog):
            if f.rule != "generation-idioms":
                problems.append(Problem(f.path, f.line, "error", f"lint {f.rule}: {f.message}"))
            elif PORTABLE in f.message:
                problems.append(Problem(f.path, f.line, "warning", f"lint {f.rule}: {f.message}"))
    return problems


def _file_line(unit: list[CodeBlock], code_line: int) -> int:
    """Map a 1-based line of the joined program onto the Markdown file's physical line."""
    offset = 0
    for block in unit:
        count = block.code.count("\n") + 1
        if code_line <= offset + count:
            return block.line + max(code_line - offset, 1) - 1
        offset += count
    last = unit[-1]
    return last.line + last.code.count("\n")


def check_generation_labels(example: Example, detect: object) -> list[Problem]:
    """Warn when the code's detected generation contradicts the example's labels."""
    assert callable(detect) and example.front is not None
    front = example.front
    pairs: list[tuple[str, tuple[CodeBlock, ...], tuple[str, ...]]] = []
    if front.type == "migration":
        pairs.append(("from_generation", example.before, (front.from_generation or "all",)))
        pairs.append(("to_generation", example.after, front.target_generations()))
    else:
        fim = tuple(b for b in (example.prefix, example.completion, example.suffix) if b is not None)
        pairs.append(("generation", example.code + fim, front.generations()))
    problems: list[Problem] = []
    for name, blocks, declared in pairs:
        if not blocks:
            continue
        detected = set(detect("\n".join(b.code for b in blocks)))
        if not detected or "all" in detected:
            continue  # portable code fits any label
        line = example.front_lines.get(name, 1)
        if declared == ("all",):
            problems.append(
                Problem(
                    example.path,
                    line,
                    "warning",
                    f"{name} is `all` but the code uses {_labels(detected)} features",
                )
            )
        elif not detected & set(declared):
            problems.append(
                Problem(
                    example.path,
                    line,
                    "warning",
                    f"{name} says {_labels(declared)} but the code looks like {_labels(detected)}",
                )
            )
    return problems


def _labels(labels: Iterable[str]) -> str:
    return ", ".join(sorted(labels))


def _progress(items: list[tuple[Path, str]], enabled: bool, label: str) -> Iterable[tuple[Path, str]]:
    if not enabled or len(items) < 50:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, transient=True)
