"""Derive the shipped BBj API table (`api_table.json`) from the BBj language server's metadata.

    python -m bbjcoder.bbj.apitable REFERENCE_DIR [--out src/bbjcoder/bbj/api_table.json] [--check]

REFERENCE_DIR holds what BBx-Kitchen/bbj-language-server (MIT) ships as language metadata:
`javadoc/*.json` (class -> method overloads), `functions.bbl` (built-in function signatures),
`events.bbl`, `variables.bbl`, `labels.bbl` and `VERBs.md`. The table keeps facts only (names and
argument counts); its MIT notice is written beside it as `api_table.LICENSE`. A few classes the
metadata only names (BBjVector) are added from their BASIS documentation page (`DOCUMENTED_CLASSES`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("api_table.json")
LICENSE_PATH = Path(__file__).with_name("api_table.LICENSE")
SCHEMA_VERSION = 1
SOURCE = "BBx-Kitchen/bbj-language-server (MIT), bbj-vscode language metadata"

_DOC_BLOCK = re.compile(r"/@@.*?@/", re.DOTALL)
# `NAME(param, param?: type, ERR?!: lineref): type` -- one signature per line outside doc blocks
_SIGNATURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*:\s*[A-Za-z_]\w*\s*$")
_VERB_LINK = re.compile(r"\[([A-Z][A-Z0-9_]*) (?:Verb|Command)\]")

# Classes BASIS documents but the language server's javadoc metadata leaves out: it names them only
# as parameter types and links to their pages. Their methods are facts from those pages, entered
# here by hand, so that the table (not each tool) knows them.
DOCUMENTED_CLASSES: dict[str, tuple[str, dict[str, list[int]]]] = {
    # BBjAPI().makeVector(). The page lists addItem, clear, getItem, insertItem, removeItem,
    # setItem and size, and says BBjVector implements java.util.List, so List's methods (add,
    # contains, indexOf, isEmpty, ...) are available too.
    "BBjVector": (
        "https://documentation.basis.cloud/BASISHelp/WebHelp/bbjobjects/API/bbjvector/bbjvector.htm",
        {
            "add": [1, 2],
            "addAll": [1, 2],
            "addItem": [1],
            "clear": [0],
            "contains": [1],
            "get": [1],
            "getItem": [1],
            "indexOf": [1],
            "insertItem": [2],
            "isEmpty": [0],
            "iterator": [0],
            "lastIndexOf": [1],
            "remove": [1],
            "removeItem": [1],
            "set": [2],
            "setItem": [2],
            "size": [0],
            "subList": [2],
            "toArray": [0, 1],
        },
    ),
}

# Built-in functions whose signature in functions.bbl lists one argument but which take any
# number (BASIS documentation: MAX(num,num...), MIN(num,num...)).
_VARIADIC = frozenset({"MAX", "MIN"})


def _params(spec: str) -> tuple[int, int]:
    """(required, positional) argument counts of a library signature's parameter list.

    `name?` is optional; `NAME?!` is a keyword option written `NAME=value` (ERR=, IND=, MODE=),
    which is not a positional argument.
    """
    required = positional = 0
    for raw in spec.split(","):
        name = raw.split(":", 1)[0].strip()
        if not name:
            continue
        if name.endswith("!"):
            continue
        positional += 1
        if not name.endswith("?"):
            required += 1
    return required, positional


def parse_functions(text: str) -> dict[str, list[int | None]]:
    """Built-in function name (upper case) -> [min args, max args or None for any number].

    Several signatures of one name (overloads) widen its range. `FNname(...)` templates describe
    user functions, not built-ins, and are skipped.
    """
    table: dict[str, list[int | None]] = {}
    for line in _DOC_BLOCK.sub("", text).splitlines():
        match = _SIGNATURE.match(line)
        if not match:
            continue
        name = match.group(1).upper()
        if name.startswith("FN"):
            continue
        low, high = _params(match.group(2))
        upper: int | None = None if name in _VARIADIC else high
        if name in table:
            old_low, old_high = table[name]
            assert old_low is not None
            low = min(low, old_low)
            upper = None if upper is None or old_high is None else max(upper, old_high)
        table[name] = [low, upper]
    return dict(sorted(table.items()))


def parse_names(text: str, keyword: str) -> list[str]:
    """Names declared as `keyword NAME` outside doc blocks (eventtype, var, label)."""
    names = set()
    pattern = re.compile(rf"^\s*{keyword}\s+(\*?[A-Za-z_][A-Za-z0-9_]*[$%!]?)", re.IGNORECASE)
    for line in _DOC_BLOCK.sub("", text).splitlines():
        match = pattern.match(line)
        if match:
            names.add(match.group(1).upper())
    return sorted(names)


def parse_verbs(text: str) -> list[str]:
    return sorted({m.group(1).upper() for m in _VERB_LINK.finditer(text)})


def parse_classes(javadoc_dir: Path) -> dict[str, dict[str, list[int]]]:
    """Class name -> method name -> sorted distinct argument counts of its overloads."""
    classes: dict[str, dict[str, set[int]]] = {}
    for path in sorted(javadoc_dir.glob("*.json")):
        package = json.loads(path.read_text(encoding="utf-8"))
        for cls in package.get("classes", []):
            methods = classes.setdefault(cls["name"], {})
            for method in cls.get("methods", []):
                methods.setdefault(method["name"], set()).add(len(method.get("params", [])))
    return {
        name: {m: sorted(arities) for m, arities in sorted(methods.items())}
        for name, methods in sorted(classes.items())
    }


def add_documented_classes(classes: dict[str, dict[str, list[int]]]) -> dict[str, dict[str, list[int]]]:
    """`classes` with DOCUMENTED_CLASSES merged in (argument counts united where both know a method)."""
    merged = {name: dict(methods) for name, methods in classes.items()}
    for name, (_, methods) in DOCUMENTED_CLASSES.items():
        have = merged.setdefault(name, {})
        for method, arities in methods.items():
            have[method] = sorted(set(have.get(method, [])) | set(arities))
    return {name: dict(sorted(methods.items())) for name, methods in sorted(merged.items())}


def build_table(reference: Path) -> dict[str, object]:
    """The whole table as a JSON-ready dict (deterministic: sorted keys and lists)."""
    read = lambda name: (reference / name).read_text(encoding="utf-8")  # noqa: E731
    return {
        "schema_version": SCHEMA_VERSION,
        "source": SOURCE,
        "license": LICENSE_PATH.name,
        "documented_classes": {name: page for name, (page, _) in sorted(DOCUMENTED_CLASSES.items())},
        "classes": add_documented_classes(parse_classes(reference / "javadoc")),
        "functions": parse_functions(read("functions.bbl")),
        "events": parse_names(read("events.bbl"), "eventtype"),
        "variables": parse_names(read("variables.bbl"), "var"),
        "labels": parse_names(read("labels.bbl"), "label"),
        "verbs": parse_verbs(read("VERBs.md")),
    }


def render(table: dict[str, object]) -> str:
    """One class per line: small diffs when the reference changes, still compact."""
    lines = ["{"]
    items = list(table.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, dict) and key in ("classes", "functions"):
            lines.append(f"  {json.dumps(key)}: {{")
            entries = list(value.items())
            for k, (name, sub) in enumerate(entries):
                sep = "," if k < len(entries) - 1 else ""
                lines.append(f"    {json.dumps(name)}: {json.dumps(sub, separators=(',', ':'))}{sep}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bbjcoder.bbj.apitable", description=__doc__.split("\n")[0]
    )
    parser.add_argument("reference", type=Path, help="the language server's reference folder")
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help="where to write the table")
    parser.add_argument(
        "--check", action="store_true", help="only check the table is up to date (exit 1 if not)"
    )
    args = parser.parse_args(argv)
    if not (args.reference / "functions.bbl").is_file():
        print(
            f"{args.reference}: no functions.bbl here (expected the bbj-language-server reference)",
            file=sys.stderr,
        )
        return 2
    text = render(build_table(args.reference))
    notice = (args.reference / "LICENSE").read_text(encoding="utf-8")
    license_text = (
        f"The facts in {args.out.name} (BBj class and method names, argument counts, built-in\n"
        f"functions, event names, system variables, verbs) are derived from {SOURCE},\n"
        "published under this license:\n\n" + notice + "\nThe methods of the classes listed under"
        ' "documented_classes" are facts from the BASIS documentation page named there.\n'
    )
    license_path = args.out.with_name(LICENSE_PATH.name)
    if args.check:
        stale = [
            p
            for p, want in ((args.out, text), (license_path, license_text))
            if not p.is_file() or p.read_text(encoding="utf-8") != want
        ]
        for p in stale:
            print(f"{p}: out of date, rerun without --check", file=sys.stderr)
        return 1 if stale else 0
    for path, content in ((args.out, text), (license_path, license_text)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    print(f"wrote {args.out} and {license_path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
