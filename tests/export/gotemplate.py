"""A small renderer of the Go text/template rules Ollama's TEMPLATE uses, for testing our Modelfile.

Supported: `{{- ... -}}` whitespace trimming, `{{ .Field }}` / `{{ $.Field }}` / `{{ $v.Field }}`,
`{{ if X }} ... {{ else }} ... {{ end }}`, `{{ range $i, $m := X }}`, `{{ $v := X }}`, string and
integer literals, parentheses and the functions eq, not, len, slice. Truthiness as in Go: false,
0, "", nil and empty lists are false. Anything else raises, so an unsupported template fails loudly.
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|[^\s()]+')


def _parse(template: str) -> list[Any]:
    """Nested nodes: str (text) or (kind, arg, children, else_children)."""
    parts: list[Any] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if parts and isinstance(parts[-1], tuple) and parts[-1][0] == "trim_right":
            parts.pop()
            text = text.lstrip()
        parts.append(text)
        parts.append(("action", m.group(2).strip()))
        if m.group(3):
            parts.append(("trim_right",))
        pos = m.end()
    tail = template[pos:]
    if parts and isinstance(parts[-1], tuple) and parts[-1][0] == "trim_right":
        parts.pop()
        tail = tail.lstrip()
    parts.append(tail)

    root: list[Any] = []
    stack: list[list[Any]] = [root]  # the node lists being filled, innermost last
    open_nodes: list[tuple[str, str, list[Any], list[Any]]] = []
    for p in parts:
        if isinstance(p, str):
            stack[-1].append(p)
            continue
        body = p[1]
        word = body.split(None, 1)[0] if body else ""
        if word in ("if", "range"):
            node: tuple[str, str, list[Any], list[Any]] = (word, body.split(None, 1)[1], [], [])
            stack[-1].append(node)
            open_nodes.append(node)
            stack.append(node[2])
        elif word == "else":
            stack[-1] = open_nodes[-1][3]
        elif word == "end":
            open_nodes.pop()
            stack.pop()
        else:
            stack[-1].append(("expr", body, [], []))
    if open_nodes:
        raise ValueError("unclosed {{ if }} or {{ range }}")
    return root


def render(template: str, data: dict[str, Any]) -> str:
    """The text Ollama would send the model for `data` (its template values)."""
    return _run(_parse(template), data, {"$": data})


def _run(nodes: list[Any], dot: Any, env: dict[str, Any]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            continue
        kind, arg, body, other = node
        if kind == "if":
            out.append(_run(body if _truthy(_eval(arg, dot, env)) else other, dot, env))
        elif kind == "range":
            names, _, expr = arg.partition(":=")
            vars_ = [v.strip() for v in names.split(",")]
            for i, item in enumerate(_eval(expr.strip(), dot, env) or []):
                scope = dict(env)
                if len(vars_) == 2:
                    scope[vars_[0]], scope[vars_[1]] = i, item
                else:
                    scope[vars_[0]] = item
                out.append(_run(body, item, scope))
        elif ":=" in arg:
            name, _, expr = arg.partition(":=")
            env[name.strip()] = _eval(expr.strip(), dot, env)
        else:
            value = _eval(arg, dot, env)
            out.append("" if value is None else str(value))
    return "".join(out)


def _truthy(v: Any) -> bool:
    return not (v is None or v is False or v == 0 or v == "" or (isinstance(v, (list, dict)) and not v))


def _eval(expr: str, dot: Any, env: dict[str, Any]) -> Any:
    tokens = _TOKEN.findall(expr)
    value, rest = _pipeline(tokens, dot, env)
    if rest:
        raise ValueError(f"cannot parse {expr!r}")
    return value


def _pipeline(tokens: list[str], dot: Any, env: dict[str, Any]) -> tuple[Any, list[str]]:
    funcs = {
        "eq": lambda a, b: a == b,
        "not": lambda a: not _truthy(a),
        "len": len,
        "slice": lambda seq, i: seq[i:],
    }
    if tokens and tokens[0] in funcs:
        args = []
        rest = tokens[1:]
        while rest and rest[0] != ")":
            value, rest = _operand(rest, dot, env)
            args.append(value)
        return funcs[tokens[0]](*args), rest
    return _operand(tokens, dot, env)


def _operand(tokens: list[str], dot: Any, env: dict[str, Any]) -> tuple[Any, list[str]]:
    tok, rest = tokens[0], tokens[1:]
    if tok == "(":
        value, rest = _pipeline(rest, dot, env)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parentheses")
        return value, rest[1:]
    if tok.startswith('"'):
        return tok[1:-1], rest
    if re.fullmatch(r"-?\d+", tok):
        return int(tok), rest
    if tok.startswith("$"):
        head, *fields = tok.split(".")
        value = env[head] if head != "$" else env["$"]
    elif tok.startswith("."):
        value, fields = dot, tok.split(".")[1:]
    else:
        raise ValueError(f"unsupported token {tok!r}")
    for f in fields:
        if f:
            value = value.get(f) if isinstance(value, dict) else getattr(value, f)
    return value, rest
