"""Scaffold a new training example (`bbjcoder data new`): one Markdown template per type.

The templates are the ones documented in training-data/FORMAT.md; a scaffold parses cleanly and
only warns about its TODO placeholders until the author fills them in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from bbjcoder.data.schema import FrontMatter
from bbjcoder.errors import DataError

BODIES: dict[str, str] = {
    "comprehension": """\
## Code

```bbj
REM TODO: the program to explain
PRINT "Hello"
END
```

## Expected Output

```
Hello
```

## Explanation

TODO: explain what the code does, step by step.
""",
    "completion": """\
## Code

### Prefix

```bbj
REM TODO: the code before the part the model writes
```

### Completion

```bbj
REM TODO: the part the model writes
```

### Suffix

```bbj
REM TODO: the code after it (delete this subsection for plain continuation)
```

## Expected Behavior

TODO: what the finished program does.

## Explanation

TODO: why the completion is written this way.
""",
    "migration": """\
## Code

### Before ({from_name})

```bbj
REM TODO: the original code
```

### After ({to_name})

```bbj
REM TODO: the migrated code
```

## Expected Behavior

TODO: what both versions do (optional section for migrations).

## Explanation

TODO: what changed and why.
""",
    "explanation": """\
## Code

```bbj
REM TODO: code that shows the concept
```

## Expected Behavior

TODO: what the code does when it runs.

## Explanation

TODO: explain the concept, referring to the code.
""",
}


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:60].rstrip("-") or "example"


def render_example(
    *,
    title: str,
    type: str,
    generation: Sequence[str],
    difficulty: str | None = None,
    tags: Sequence[str] = (),
    description: str | None = None,
    from_generation: str | None = None,
    to_generation: Sequence[str] = (),
) -> str:
    """The Markdown text of a new example; the front matter is validated by the pydantic model."""
    gen: str | list[str] = generation[0] if len(generation) == 1 else list(generation)
    front: dict[str, object] = {"title": title, "type": type, "generation": gen}
    if type == "migration":
        front["from_generation"] = from_generation
        front["to_generation"] = to_generation[0] if len(to_generation) == 1 else list(to_generation)
    if difficulty:
        front["difficulty"] = difficulty
    if tags:
        front["tags"] = list(tags)
    if description:
        front["description"] = description
    try:
        FrontMatter.model_validate(front)
    except Exception as exc:  # pydantic ValidationError: show the first message
        errors = getattr(exc, "errors", None)
        msg = errors()[0]["msg"].removeprefix("Value error, ") if callable(errors) else str(exc)
        raise DataError(f"invalid example fields: {msg}") from exc
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    body = BODIES[type].format(from_name=from_generation or "", to_name=", ".join(to_generation))
    return f"---\n{head}---\n\n{body}"


def write_new_example(root: str | Path, topic: str, text: str, slug: str, *, force: bool = False) -> Path:
    """Write `root/topic/slug.md`; topic and slug must name a place inside `root`."""
    for flag, value in (("--topic", topic), ("--slug", slug)):
        parts = Path(value).parts
        if (
            not value.strip()
            or Path(value).is_absolute()
            or ".." in parts
            or (flag == "--slug" and len(parts) != 1)
        ):
            raise DataError(
                f"{flag} {value!r} would leave the training-data root {str(root)!r}",
                hint="use a plain name (a topic may have sub-directories, e.g. gui/grids), no `..` or `/`-prefix",
            )
    path = Path(root) / topic / f"{slug}.md"
    if not path.resolve().is_relative_to(Path(root).resolve()):  # e.g. a symlinked topic directory
        raise DataError(f"{path} resolves outside the training-data root {str(root)!r}")
    if path.exists() and not force:
        raise DataError("already exists", path=path, hint="choose another --slug or pass --force")
    from bbjcoder.fileio import atomic_write_text

    atomic_write_text(path, text)
    return path
