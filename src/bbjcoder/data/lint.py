"""`bbjcoder data lint`: BBj that compiles but is wrong, in training data, eval references and corpus.

Two kinds of rule. Pitfall rules catch mistakes a generic model (or author) makes and the syntax
checker cannot see: `NOT()` on a number, ProvideX's `KNO=`, `UCS()`/`LCS()`, `getSysGui()` in a
program that never opened the SysGui device, a generation label whose idioms are absent, a PRINT
mnemonic BASIS does not document. API rules use the checker's BBj API table (`bbj.api`): a method
on no BBj class, an unknown built-in function, an argument count no overload takes. Each finding
names file, line and, where one exists, the nearest real name, and says how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bbjcoder.bbj import detect_generations
from bbjcoder.bbj.api import ApiTable, check_api, load_api
from bbjcoder.bbj.lexer import logical_lines, tokenize
from bbjcoder.data.markdown import CodeBlock, Example

RULES: dict[str, str] = {
    "not-numeric": "NOT() used to negate a number or a condition",
    "kno-option": "KNO= (ProvideX) instead of BBj's KNUM=",
    "ucs-lcs": "UCS()/LCS(), which BBj does not have",
    "sysgui-not-opened": "getSysGui() in a standalone program that never opened the SysGui device",
    "assignment-err": "ERR= written on an assignment, which has no such option",
    "generation-idioms": "a generation label whose idioms the code does not use",
    "mnemonic": "a mnemonic BASIS does not document",
    "api-method": "a method that no BBj class has, called on a BBj object",
    "api-function": "an unknown built-in function",
    "api-arity": "an argument count that no overload of the function or method takes",
}

# Mnemonics BASIS documents, with where each was confirmed (docs/bbj-api-review.md lists them).
# WH = https://documentation.basis.cloud/BASISHelp/WebHelp/ ; LS = the BBj language server's own
# example programs (shared/bbj-real/bbj-language-server/examples).
_MNEMONIC_SOURCES: dict[str, str] = {
    "WH/usr/Character_Devices/General/using_mnemonics.htm": "CS LF",
    "WH/mnemonic/terminal/window_mn_create_window.htm": "WINDOW TITLE TRACK",
    "WH/mnemonic/sysgui/context_mn_set_device_context.htm": "CONTEXT",
    "WH/mnemonic/sysgui/destroy_mn_destroy_context.htm": "DESTROY",
    "WH/mnemonic/controls/text_mn_create_static_text_ctrl.htm": "TEXT",
    "WH/mnemonic/controls/listbox_mn_create_list_box_ctrl.htm": "LISTBOX LISTADD",
    "WH/events/prepared_resources.htm": "RESOURCE",
    "LS examples/other_cases.bbj, issue224.bbj, mnemonics.bbj": "CE FOCUS SETCURSOR",
    "BASIS BBjGridExWidget code (shared/bbj-real)": "HIDE SHOW BR ER CL",
    "BASIS application code, as checked in the outside review of issue 11": "EE BE",
    "WH/mnemonic/controls/button_mn_create_push_button_ctrl.htm": "BUTTON",
    "WH/mnemonic/controls/checkbox_mn_create_check_box_ctrl.htm": "CHECKBOX",
    "WH/mnemonic/controls/txedit_mn_create_custom_edit_ctrl.htm (names the EDIT mnemonic page)": "EDIT",
    "WH/mnemonic/sysgui/readonly_mnemonic_read_only.htm ('READONLY'(id{,id...}))": "READONLY",
    "WH/mnemonic/sysgui/readwrite_mnemonic_make_edit_control_s_user_changeable.htm": "READWRITE",
    "BASIS AddonSoftware code (SFE_WOLOTSER callpoints keep the BBx lines `PRINT 'RB'`)": "RB",
    # Not found on a BASIS page in the search index nor in BASIS code: long-standing BBx terminal
    # mnemonics (FF form feed, BU/EU underline) and the Visual PRO/5 control state mnemonics
    # ENABLE/DISABLE (searched a third time; training data tags their use needs-review and the eval
    # suite does not use them).
    "unconfirmed (no BASIS page or code found; see docs/bbj-api-review.md)": "FF BU EU ENABLE DISABLE",
}
MNEMONICS: dict[str, str] = {
    name: source for source, names in _MNEMONIC_SOURCES.items() for name in names.split()
}
# Not BBj mnemonics, with the right one: the mistakes we have seen.
_WRONG_MNEMONICS: dict[str, str] = {
    "IE": "'IE' is not a BBj mnemonic: 'EE' (end echo) hides typed input and 'BE' (begin echo) shows it again",
}

# Invented methods we have seen, with what BBj offers instead (javadoc metadata of the class).
_KNOWN_FIXES: dict[str, str] = {
    "getmenuitemid": "ev!.getMenuItem().getID() (BBjMenuItemSelectEvent.getMenuItem())",
}

PORTABLE = "no generation-specific idioms (portable code)"
_DIR_LABELS = {"character": "character", "vpro5": "vpro5", "gui": "bbj-gui", "dwc": "dwc"}
_STRING_LITERAL = re.compile(r'"[^"\n]*"')
_OPEN_SYSGUI = re.compile(r'openSysGui\s*\(|\bopen\s*\([^)\n]*\)\s*"X0"', re.IGNORECASE)
_GET_SYSGUI = re.compile(r"\bgetSysGui\s*\(\s*\)", re.IGNORECASE)
_CLASS_LINE = re.compile(r"^\s*(?:class|interface)\b", re.IGNORECASE)
_CLASS_END = re.compile(r"^\s*(?:classend|interfaceend)\b", re.IGNORECASE)
_LIBRARY_ONLY = re.compile(r"^\s*(?:$|rem\b|use\b|declare\b)", re.IGNORECASE)
_COMPARE = frozenset({"=", "<", ">", "<>", "<=", ">=", "AND", "OR"})


@dataclass(frozen=True)
class Finding:
    """One lint finding at a 1-based line of a file."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class Program:
    """One program to lint: its code, the generation labels it is written for, and where it lies.

    `first_line` is the file line of the code's first line; for a program stored inside a JSONL
    line (an eval reference) it is that line, and `inner` names the field so a message can say
    "reference line 12".
    """

    path: str
    first_line: int
    code: str
    labels: tuple[str, ...] = ("all",)
    inner: str = ""
    label_line: int = 0  # where the generation label is written (front matter line)

    def where(self, code_line: int) -> tuple[int, str]:
        if self.inner:
            return self.first_line, f" ({self.inner} line {code_line})"
        return self.first_line + code_line - 1, ""


# --- the rules ----------------------------------------------------------------------------------


def _code_tokens(code: str) -> Iterator[tuple[int, list[str], str]]:
    """(physical line, tokens, logical line text) of each logical line, REM comments cut off."""
    for ll in logical_lines(code):
        toks = tokenize(ll.text)
        for i, tok in enumerate(toks):
            if tok.upper() == "REM" and (i == 0 or toks[i - 1] in (";", ":")):
                toks = toks[:i]
                break
        if toks:
            yield ll.first_line, toks, ll.text


def _matching(toks: Sequence[str], opened: int) -> int:
    """Index of the ')' closing the '(' at `opened` (len(toks) when unclosed)."""
    depth = 0
    for i in range(opened, len(toks)):
        if toks[i] in ("(", "[", "@("):
            depth += 1
        elif toks[i] in (")", "]"):
            depth -= 1
            if depth == 0:
                return i
    return len(toks)


def _is_string_expr(toks: Sequence[str]) -> bool:
    return any(t.startswith('"') or t.endswith("$") or (t.startswith("$") and len(t) > 1) for t in toks)


def _pitfalls(prog: Program) -> Iterator[tuple[int, str, str]]:
    """(code line, rule, message) of the token-level pitfalls."""
    for line, toks, _ in _code_tokens(prog.code):
        for i, tok in enumerate(toks):
            up = tok.upper()
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            prev = toks[i - 1] if i else ""
            if prev == ".":
                continue
            if up == "NOT" and nxt == "(":
                arg = toks[i + 2 : _matching(toks, i + 1)]
                if not _is_string_expr(arg) or any(t.upper() in _COMPARE for t in arg):
                    shown = " ".join(arg)
                    yield (
                        line,
                        "not-numeric",
                        f"NOT({shown}) does not negate a number: BBj's NOT() toggles the bits of a "
                        f"string. Compare with 0 instead (`{shown} = 0`) or invert the condition",
                    )
            elif up == "KNO" and nxt == "=":
                yield (
                    line,
                    "kno-option",
                    "KNO= is ProvideX; BBj selects a key chain with KNUM= (READ verb: `knum=1`)",
                )
            elif up in ("UCS", "LCS") and nxt == "(":
                mode = "4" if up == "UCS" else "8"
                yield (
                    line,
                    "ucs-lcs",
                    f"{up}() does not exist in BBj: write CVS(s$, {mode}) "
                    f"({'upper' if mode == '4' else 'lower'} case; add 3 to also trim)",
                )
            elif len(tok) > 2 and tok[0] == tok[-1] == "'":
                name = tok[1:-1].upper()
                if name in _WRONG_MNEMONICS:
                    yield line, "mnemonic", _WRONG_MNEMONICS[name]
                elif name not in MNEMONICS:
                    near = _nearest(name, MNEMONICS)
                    hint = f" (nearest documented: '{near}')" if near else ""
                    yield (
                        line,
                        "mnemonic",
                        f"'{name}' is not a mnemonic BASIS documents{hint}; see the list in "
                        "bbjcoder.data.lint.MNEMONICS and docs/bbj-api-review.md",
                    )


def _assignment_err(prog: Program) -> Iterator[tuple[int, str, str]]:
    """`x = a / b, err=label`: LET takes only assignments, so this assigns to ERR, not a branch."""
    for line, toks, _ in _code_tokens(prog.code):
        start = 0
        for end in [*(i for i, t in enumerate(toks) if t == ";"), len(toks)]:
            stmt = toks[start:end]
            start = end + 1
            if stmt[:1] and stmt[0].upper() == "LET":
                stmt = stmt[1:]
            if (
                len(stmt) < 3
                or stmt[1] != "="
                or not stmt[0][:1].isalpha()
                or stmt[0].upper() in _VERB_STARTS
            ):
                continue
            depth = 0
            for i, tok in enumerate(stmt):
                if tok in ("(", "[", "@("):
                    depth += 1
                elif tok in (")", "]"):
                    depth -= 1
                elif depth == 0 and tok == "," and [t.upper() for t in stmt[i + 1 : i + 3]] == ["ERR", "="]:
                    yield (
                        line,
                        "assignment-err",
                        "an assignment has no ERR= option (this `, err=` assigns to ERR): put ERR= "
                        "on a function call that has one (`num(s$, err=label)`) or test the values first",
                    )
                    break


_VERB_STARTS = frozenset({"IF", "FOR", "WHILE", "UNTIL", "PRINT", "INPUT", "READ", "WRITE", "CASE"})


def _nearest(name: str, pool: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, list(pool), n=1, cutoff=0.5)
    return found[0] if found else None


def _is_library(code: str) -> bool:
    """True when the code is only class/interface definitions (plus use/rem/declare lines)."""
    depth = 0
    saw_class = False
    for line in code.splitlines():
        if _CLASS_LINE.match(line):
            depth += 1
            saw_class = True
        elif _CLASS_END.match(line):
            depth = max(depth - 1, 0)
        elif depth == 0 and not _LIBRARY_ONLY.match(line):
            return False
    return saw_class


def _sysgui_not_opened(prog: Program) -> Iterator[tuple[int, str, str]]:
    code = "\n".join(
        "" if re.match(r"^\s*rem\b", ln, re.IGNORECASE) else _STRING_LITERAL.sub(_keep_x0, ln)
        for ln in prog.code.splitlines()
    )
    get = _GET_SYSGUI.search(code)
    if get is None or _is_library(prog.code):
        return
    opened = _OPEN_SYSGUI.search(code)
    if opened is not None and opened.start() < get.start():
        return
    yield (
        code.count("\n", 0, get.start()) + 1,
        "sysgui-not-opened",
        "getSysGui() in a standalone program that never opened the SysGui device: open it first, "
        'as BASIS programs do, with `sysgui! = BBjAPI().openSysGui("X0")` (getSysGui() without an '
        "open is for library code running inside a program that already opened X0)",
    )


def _keep_x0(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0).upper() == '"X0"' else '""'


# Idioms the generation detector leaves out because they do not tell GUI generations apart, but
# that do show a program is written for a GUI: a message box, a DWC theme on it.
_GUI_EVIDENCE: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"vpro5", "bbj-gui", "dwc"}), re.compile(r"\bmsgbox\s*\(", re.IGNORECASE)),
    (frozenset({"bbj-gui", "dwc"}), re.compile(r"\bBBjSysGui\s*\.", re.IGNORECASE)),
    (frozenset({"dwc"}), re.compile(r"mode\s*=\s*\"theme=", re.IGNORECASE)),
)


def _generation_idioms(prog: Program) -> Iterator[tuple[int, str, str]]:
    labels = {g for g in prog.labels if g != "all"}
    if not labels:
        return
    found = detect_generations(prog.code)
    if found & labels:
        return
    if any(gens & labels and pattern.search(prog.code) for gens, pattern in _GUI_EVIDENCE):
        return
    wanted = ", ".join(sorted(labels))
    if found == {"all"}:
        what = PORTABLE
        fix = "label it `all`, or show the idioms of the label"
    else:
        what = f"{', '.join(sorted(found))} idioms"
        fix = "fix the label or the code"
    yield 0, "generation-idioms", f"labelled {wanted} but the code uses {what}: {fix}"


# --- API rules ----------------------------------------------------------------------------------

_BBJ_ROOTS = re.compile(r"^BBjAPI$", re.IGNORECASE)


def _types(code: str) -> dict[str, str]:
    """Variable -> "bbj" or "other": what each object variable holds, as far as the text shows.

    BBj objects come from `BBjAPI()` chains and from BBj methods called on them, from `declare`/
    `field` with a `BBj...` type and from callback parameters; Java and user objects come from
    `new`, `use`d classes and non-BBj declared types. A variable assigned both ways is unknown.
    """
    kinds: dict[str, set[str]] = {}

    def note(name: str, kind: str) -> None:
        kinds.setdefault(name.lower(), set()).add(kind)

    decl = re.compile(
        r"\b(?:declare(?:\s+auto)?|field(?:\s+(?:public|private|protected|static))*)\s+([\w.]+)(?:\[\])?\s+#?(\w+!)",
        re.IGNORECASE,
    )
    param = re.compile(r"\b(BBj\w+|[\w.]+)\s+(\w+!)\s*[,)]")
    for m in decl.finditer(code):
        note(m.group(2), "bbj" if m.group(1).lower().startswith("bbj") else "other")
    for line in code.splitlines():
        if re.match(r"^\s*method\b", line, re.IGNORECASE):
            for m in param.finditer(line):
                note(m.group(2), "bbj" if m.group(1).lower().startswith("bbj") else "other")
    for _ in range(2):  # a second pass lets later assignments type earlier-used variables
        for _line, toks, _ in _code_tokens(code):
            for i in range(len(toks) - 2):
                target = toks[i].lstrip("#")
                if not target.endswith("!") or toks[i + 1] != "=" or (i and toks[i - 1] == "."):
                    continue
                note(target, _chain_kind(toks, i + 2, kinds))
    # "?" (an expression we cannot type) does not outvote what other assignments show
    known = {k: v - {"?"} for k, v in kinds.items()}
    return {k: next(iter(v)) for k, v in known.items() if len(v) == 1}


def _chain_kind(toks: Sequence[str], start: int, kinds: dict[str, set[str]]) -> str:
    """ "bbj", "other" or "?" for the object the expression at `start` yields."""
    if start < len(toks) and toks[start] == "#":  # #Field! = ...
        start += 1
    if start >= len(toks):
        return "?"
    root = toks[start]
    if root.upper() == "NEW":
        return "other"
    if _BBJ_ROOTS.match(root):
        kind = "bbj"
    elif root.endswith("!"):
        seen = kinds.get(root.lower(), set()) - {"?"}
        kind = next(iter(seen)) if len(seen) == 1 else "?"
    elif (
        root[:1].isalpha()
        and not root.endswith(("$", "%"))
        and start + 1 < len(toks)
        and toks[start + 1] == "."
    ):
        return "other"  # a class name: `java.x.Y.m()`, `HttpClient.newBuilder()`
    else:
        return "?"
    # Walk the call chain: a BBj method on a BBj object stays BBj only while the method is known.
    i = start + 1
    api = load_api()
    while i < len(toks):
        if toks[i] == "(":
            i = _matching(toks, i) + 1
            continue
        if toks[i] == "." and i + 1 < len(toks):
            name = toks[i + 1]
            if kind == "bbj" and not api.has_method(name):
                return "?"
            if kind == "bbj" and name.lower() in ("getjdbcconnection", "getobject", "getuserobject"):
                return "other"  # BBj methods that hand back Java or user objects
            i += 2
            continue
        break
    return kind


def _receiver_kind(toks: Sequence[str], dot: int, types: dict[str, str]) -> str:
    """ "bbj", "other" or "?" for the object left of the '.' at `dot`."""
    i = dot - 1
    # step back over a call chain to its root: name(...) . name(...) . name
    while i >= 0:
        if toks[i] == ")":
            depth = 0
            while i >= 0:
                if toks[i] == ")":
                    depth += 1
                elif toks[i] == "(":
                    depth -= 1
                    if depth == 0:
                        break
                i -= 1
            i -= 1
            continue
        if i >= 1 and toks[i - 1] == ".":
            i -= 2
            continue
        break
    if i < 0:
        return "?"
    root = toks[i].lstrip("#")
    if i >= 1 and toks[i - 1].upper() == "NEW":
        return "other"
    if _BBJ_ROOTS.match(root):
        return "bbj"
    if root.endswith("!"):
        return types.get(root.lower(), "?")
    return "?"


def _declared_methods(code: str) -> set[str]:
    names = {m.group(1).lower() for m in re.finditer(r"^\s*method\b.*?(\w+)\s*\(", code, re.I | re.M)}
    for m in re.finditer(r"^\s*field\b.*?\s#?(\w+?)[$%!]?\s*(?:=|$)", code, re.I | re.M):
        names.update({"get" + m.group(1).lower(), "set" + m.group(1).lower()})
    return names


def _api_rules(prog: Program, api: ApiTable) -> Iterator[tuple[int, str, str]]:
    from bbjcoder.bbj.api import _call_args

    # Built-in functions: the checker's own warnings (method warnings are redone below with the
    # receiver's type, UCS/LCS have their own pitfall rule).
    for diag in check_api(prog.code, api):
        msg = diag.message.removeprefix("api: ")
        if msg.startswith("method ") or msg.startswith(("UCS()", "LCS()")):
            continue
        if msg.lower().startswith(("or()", "and()")):  # `... or (a = b)`: an operator, not a call
            continue
        rule = "api-arity" if " takes " in msg else "api-function"
        yield diag.line, rule, msg
    types = _types(prog.code)
    declared = _declared_methods(prog.code)
    for line, toks, _ in _code_tokens(prog.code):
        for i in range(1, len(toks) - 1):
            if toks[i] != "." or toks[i + 1][:1] in ("", "(") or i + 2 >= len(toks) or toks[i + 2] != "(":
                continue
            name = toks[i + 1]
            low = name.lower()
            if name[-1] in "$%!" or low in declared or _receiver_kind(toks, i, types) != "bbj":
                continue
            classes = api.classes_with_method(name)
            if not classes:
                near = api.nearest(name, "method")
                hint = f"; nearest real name: {near}()" if near else ""
                if low in _KNOWN_FIXES:
                    hint += f"; the BBj way: {_KNOWN_FIXES[low]}"
                yield line, "api-method", f"{name}() is a method of no BBj class{hint}"
                continue
            count, _ = _call_args(list(toks), i + 2)
            arities = sorted({n for c in classes for n in api.method_arities(c, name)})
            if arities and count not in arities:
                takes = ", ".join(str(n) for n in arities)
                yield (
                    line,
                    "api-arity",
                    f"{name}() is called with {count} argument{'s' if count != 1 else ''}, but its "
                    f"overloads take {takes} ({', '.join(classes[:3])}{'...' if len(classes) > 3 else ''})",
                )


# --- running ------------------------------------------------------------------------------------


def lint_program(prog: Program, api: ApiTable | None = None) -> list[Finding]:
    """Every finding in one program, as file lines."""
    api = api or load_api()
    out: list[Finding] = []
    for code_line, rule, message in (
        *_pitfalls(prog),
        *_assignment_err(prog),
        *_sysgui_not_opened(prog),
        *_api_rules(prog, api),
    ):
        line, suffix = prog.where(code_line)
        out.append(Finding(prog.path, line, rule, message + suffix))
    for _, rule, message in _generation_idioms(prog):
        out.append(Finding(prog.path, prog.label_line or prog.first_line, rule, message))
    return sorted(set(out), key=lambda f: (f.path, f.line, f.rule, f.message))


def training_programs(paths: Iterable[str | Path]) -> Iterator[Program]:
    """The programs of the training examples under `paths` (one per block, FIM parts joined)."""
    from bbjcoder.data.validate import validate_paths

    for result in validate_paths(paths, check_code=False).files:
        yield from example_programs(result.example)


def example_programs(example: Example) -> Iterator[Program]:
    """The programs of one parsed example, labelled with the generation each is written for."""
    front = example.front
    if front is None:
        return
    lines = example.front_lines
    before = {id(b) for b in example.before}
    after = {id(b) for b in example.after}
    for unit in example.checker_units():
        blocks = [b for b in unit if b.code.strip()]
        if not blocks:
            continue
        if id(blocks[0]) in before:
            labels: tuple[str, ...] = (front.from_generation or "all",)
            label_line = lines.get("from_generation", 1)
        elif id(blocks[0]) in after:
            labels, label_line = front.target_generations(), lines.get("to_generation", 1)
        else:
            labels, label_line = front.generations(), lines.get("generation", 1)
        if len(blocks) == 1:
            yield Program(example.path, blocks[0].line, blocks[0].code, labels, label_line=label_line)
        else:  # a FIM example: prefix + completion + suffix are one program
            yield _JoinedProgram.of(example.path, blocks, labels, label_line)


@dataclass(frozen=True)
class _JoinedProgram(Program):
    """A program made of several Markdown blocks (FIM prefix + completion + suffix)."""

    starts: tuple[tuple[int, int], ...] = ()  # (first file line, line count) per block

    @classmethod
    def of(
        cls, path: str, blocks: Sequence[CodeBlock], labels: tuple[str, ...], label_line: int
    ) -> _JoinedProgram:
        parts = [(b.line, b.code) for b in blocks]
        return cls(
            path,
            parts[0][0],
            "\n".join(code for _, code in parts),
            labels,
            label_line=label_line,
            starts=tuple((line, code.count("\n") + 1) for line, code in parts),
        )

    def where(self, code_line: int) -> tuple[int, str]:
        offset = 0
        for first, count in self.starts:
            if code_line <= offset + count:
                return first + code_line - offset - 1, ""
            offset += count
        return self.starts[-1][0], ""


def eval_programs(cases_file: str | Path) -> Iterator[Program]:
    """The reference program of every case of an eval suite's cases.jsonl."""
    path = Path(cases_file)
    shown = path.as_posix()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        case = json.loads(raw)
        reference = case.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            continue
        labels = tuple(case.get("generation") or ("all",))
        yield Program(shown, number, reference, labels, inner=f"case {case.get('id')}, reference")


def corpus_programs(root: str | Path) -> Iterator[Program]:
    """Every program file (the checker's extensions) under a corpus directory; its top folder
    names its generation."""
    from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS

    base = Path(root)
    found = (p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in DEFAULT_EXTENSIONS)
    for path in sorted(found):
        rel = path.relative_to(base)
        label = _DIR_LABELS.get(rel.parts[0], "all") if len(rel.parts) > 1 else "all"
        yield Program(path.as_posix(), 1, path.read_text(encoding="utf-8"), (label,))


def programs_under(paths: Sequence[str | Path]) -> Iterator[Program]:
    """Programs of whatever each path is: a cases.jsonl or suite dir, a corpus dir, training data."""
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.suffix == ".jsonl":
            yield from eval_programs(p)
        elif p.is_dir() and (p / "cases.jsonl").is_file():
            yield from eval_programs(p / "cases.jsonl")
        elif p.is_file() and p.suffix.lower() != ".md":
            yield Program(p.as_posix(), 1, p.read_text(encoding="utf-8"))
        elif p.is_dir() and not any(p.rglob("*.md")):
            yield from corpus_programs(p)
        else:
            yield from training_programs([p])


def lint_paths(paths: Sequence[str | Path]) -> list[Finding]:
    """Lint every program under `paths` (see `programs_under`)."""
    api = load_api()
    return [f for prog in programs_under(paths) for f in lint_program(prog, api)]
