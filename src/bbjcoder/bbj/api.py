"""The BBj API table at run time: lookups, nearest real names, and the `--api` warnings.

The table (`api_table.json`, built by `python -m bbjcoder.bbj.apitable`) holds BBj class -> method
-> argument counts, built-in functions -> argument range, event constants, system variables,
symbolic labels and verbs. `bbjcpl -N` does not check any of this, so `check_api` gives warnings
that sit beside the syntax check, never instead of it.

    api = load_api()
    api.has_method("addButton")            # True: some BBj class has it
    api.function_arity("CVS")              # (2, 2)
    api.nearest("adButton", "method")      # "addButton"
    check_api(text)                        # list[Diagnostic], messages start with "api: "
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Literal

from bbjcoder.bbj import Diagnostic
from bbjcoder.bbj.apitable import TABLE_PATH
from bbjcoder.bbj.lexer import logical_lines, token_offsets, tokenize

NameKind = Literal["method", "function", "class", "verb", "event"]

# Built-in functions the language server's library does not list but BASIS documents
# (name -> (min args, max args or None)).
_EXTRA_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "BBJAPI": (0, 0),  # BBjAPI(): the entry to the object API
}

# Functions of other Business BASIC dialects that BBj lacks, and what BBj writes instead.
_FOREIGN_FUNCTIONS = {
    "UCS": "UCS() is not BBj: use CVS(s$,4) to convert to upper case",
    "LCS": "LCS() is not BBj: use CVS(s$,8) to convert to lower case",
}

# Statement words that VERBs.md does not list (block words, newer verbs); a name here used with
# `(` is a statement (`CLOSE(1)`, `SQLCLOSE(ch)`), not a function call.
_EXTRA_VERBS = frozenset(
    """
    CASE DATA DECLARE DEFAULT ELSE ENDIF EXITTO FI FNEND FNERR FOR INPUTRECORD EXTRACTRECORD
    FINDRECORD METHODRET NEXT ON PRINTRECORD PROCESS_EVENTS READRECORD REMOVE_CALLBACK REPEAT
    SETTERM SWEND SWITCH UNTIL WEND WHILE WRITERECORD BYE FIND THEN RECORD
    """.split()  # noqa: SIM905
)

# Method names of the Java classes BBj programs use most (java.lang, java.util, java.io,
# java.time): a call to one of these is not flagged as "on no BBj class".
_JAVA_METHODS = frozenset(
    """
    GET POST abs add addAll addBatch append apply asList atStartOfDay between body booleanValue
    build ceil charAt clear clone close commit compare compareTo compareToIgnoreCase compile compute
    computeIfAbsent concat contains containsAll containsKey containsValue copy copyOf count
    createDirectories createStatement currentThread currentTimeMillis decode delete deleteCharAt
    digest divide doubleValue encode encodeToString end endsWith entrySet equals equalsIgnoreCase
    execute executeBatch executeQuery executeUpdate exists exit find firstKey floatValue floor flush
    forEach format get getBoolean getBytes getClass getColumnCount getColumnLabel getColumnName
    getConnection getDayOfMonth getDecoder getDouble getEncoder getFileName getFirst
    getGeneratedKeys getInstance getInt getKey getLast getLong getMessage getMetaData getMonthValue
    getName getObject getOrDefault getParent getPath getProperty getSimpleName getString getTime
    getValue getYear getenv group hasMoreElements hasMoreTokens hasNext hashCode headMap header
    indexOf insert intValue interrupt isAfter isAlive isBefore isBlank isDirectory isEmpty isFile
    iterator join keySet lastIndexOf lastKey length lines listFiles longValue lowerCase matcher
    matches max min minusDays minusSeconds mkdir mkdirs move movePointLeft movePointRight multiply
    nanoTime negate newBuilder newHttpClient next nextDouble nextElement nextInt nextToken now of
    ofDays ofHours ofMillis ofMinutes ofPattern ofSeconds parse parseDouble parseInt parseLong peek
    plusDays plusHours plusMinutes plusSeconds poll pop pow precision prepareCall prepareStatement
    print printStackTrace printf println push put putAll putIfAbsent random read readAllBytes
    readAllLines readLine readString remove removeAll removeIf replace replaceAll resolve retainAll
    reverse rollback round run scale send set setAutoCommit setBigDecimal setCharAt setDate
    setDouble setInt setLength setLong setObject setScale setString setTimestamp shutdown signum
    size sleep sort split sqrt start startsWith statusCode stream strip stripTrailingZeros subList
    subSequence sublist submit substring subtract tailMap timeout toArray toByteArray toCharArray
    toEpochMilli toFile toList toLocalDate toLocalDateTime toLowerCase toMillis toPath toPlainString
    toString toUpperCase trim update upperCase uri valueOf values walk wasNull write writeString
    """.split()  # noqa: SIM905
)

_OPTION_WORDS = frozenset(
    {
        "ERR",
        "END",
        "DOM",
        "IND",
        "KNUM",
        "KEY",
        "MODE",
        "TIM",
        "TBL",
        "SIZ",
        "LEN",
        "ISZ",
        "BSZ",
        "REC",
        "SEP",
    }
)
_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_METHOD_HEADER = re.compile(r"^\s*METHOD\b.*?([A-Za-z_]\w*)\s*\(", re.IGNORECASE)
_FIELD_HEADER = re.compile(
    r"^\s*FIELD\s+(?:(?:PUBLIC|PRIVATE|PROTECTED|STATIC)\s+)*\S+\s+([A-Za-z_]\w*)[$%!]?", re.IGNORECASE
)


@dataclass(frozen=True)
class ApiTable:
    """The BBj API as names and argument counts; lookups are case-insensitive, as BBj's are."""

    classes: Mapping[str, Mapping[str, tuple[int, ...]]]
    functions: Mapping[str, tuple[int, int | None]]
    events: frozenset[str]
    variables: frozenset[str]
    labels: frozenset[str]
    verbs: frozenset[str]
    _methods: Mapping[str, tuple[str, ...]] = field(repr=False, default_factory=dict)
    _class_names: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def method_count(self) -> int:
        """Distinct (class, method) pairs."""
        return sum(len(m) for m in self.classes.values())

    def has_class(self, name: str) -> bool:
        return name.lower() in self._class_names

    def has_method(self, name: str) -> bool:
        """True if some BBj class has a method of this name."""
        return name.lower() in self._methods

    def classes_with_method(self, name: str) -> tuple[str, ...]:
        return self._methods.get(name.lower(), ())

    def method_arities(self, class_name: str, method: str) -> tuple[int, ...]:
        """Argument counts of the overloads of `class_name.method` (empty if unknown)."""
        real = self._class_names.get(class_name.lower())
        if real is None:
            return ()
        for name, arities in self.classes[real].items():
            if name.lower() == method.lower():
                return tuple(arities)
        return ()

    def is_function(self, name: str) -> bool:
        return name.upper() in self.functions

    def function_arity(self, name: str) -> tuple[int, int | None] | None:
        """(min, max) positional arguments of a built-in function; max None = any number."""
        return self.functions.get(name.upper())

    def is_verb(self, name: str) -> bool:
        return name.upper() in self.verbs

    def is_event(self, name: str) -> bool:
        return name.upper() in self.events

    def nearest(self, name: str, kind: NameKind) -> str | None:
        """The closest real name of that kind (a likely fix for a typo), or None."""
        by_lower = self._pools[kind]
        found = difflib.get_close_matches(
            name.lower(), list(by_lower), n=1, cutoff=0.75 if len(name) > 5 else 0.6
        )
        return by_lower[found[0]] if found else None

    @cached_property
    def _pools(self) -> dict[str, dict[str, str]]:
        """Lower-case name -> real spelling, per kind (built once, on the first `nearest`)."""
        pools: dict[str, Iterable[str]] = {
            "method": {m for methods in self.classes.values() for m in methods},
            "function": self.functions,
            "class": self.classes,
            "verb": self.verbs,
            "event": self.events,
        }
        return {kind: {p.lower(): p for p in pool} for kind, pool in pools.items()}


@cache
def load_api() -> ApiTable:
    """The shipped table (read once per process)."""
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    classes = {c: {m: tuple(a) for m, a in ms.items()} for c, ms in raw["classes"].items()}
    functions: dict[str, tuple[int, int | None]] = {n: (lo, hi) for n, (lo, hi) in raw["functions"].items()}
    for name, arity in _EXTRA_FUNCTIONS.items():
        functions.setdefault(name, arity)
    methods: dict[str, list[str]] = {}
    for cls, ms in classes.items():
        for m in ms:
            methods.setdefault(m.lower(), []).append(cls)
    return ApiTable(
        classes=classes,
        functions=functions,
        events=frozenset(raw["events"]),
        variables=frozenset(raw["variables"]),
        labels=frozenset(raw["labels"]),
        verbs=frozenset(raw["verbs"]) | _EXTRA_VERBS,
        _methods={k: tuple(v) for k, v in methods.items()},
        _class_names={c.lower(): c for c in classes},
    )


def _declared_methods(text: str) -> set[str]:
    """Methods this source defines itself: METHOD names and FIELD accessors (getX/setX)."""
    names: set[str] = set()
    for line in text.splitlines():
        match = _METHOD_HEADER.match(line)
        if match:
            names.add(match.group(1).lower())
            continue
        match = _FIELD_HEADER.match(line)
        if match:
            names.update({"get" + match.group(1).lower(), "set" + match.group(1).lower()})
    return names


def _type_positions(toks: list[str]) -> set[int]:
    """Token indices of the class names after NEW (`new java.util.HashMap(...)`)."""
    found: set[int] = set()
    for i, tok in enumerate(toks):
        if tok.upper() != "NEW":
            continue
        k = i + 1
        while k < len(toks) and toks[k][:1] in _ID_START:
            found.add(k)
            if k + 2 < len(toks) and toks[k + 1] == "." and toks[k + 2][:1] in _ID_START:
                k += 2
            else:
                break
    return found


def _call_args(toks: list[str], opened: int) -> tuple[int, int]:
    """(positional argument count, index after the closing ')') of a call whose '(' is at `opened`."""
    depth = 0
    count = 0
    has_arg = False
    option = False
    i = opened
    n = len(toks)
    while i < n:
        tok = toks[i]
        if tok in ("(", "[", "@("):
            depth += 1
        elif tok in (")", "]"):
            depth -= 1
            if depth == 0:
                if has_arg and not option:
                    count += 1
                return count, i + 1
        elif depth == 1 and tok == ",":
            if has_arg and not option:
                count += 1
            has_arg = option = False
            i += 1
            continue
        elif depth == 1 and not has_arg:
            has_arg = True
            option = tok.upper() in _OPTION_WORDS and i + 1 < n and toks[i + 1] == "="
        i += 1
    return count + (1 if has_arg and not option else 0), n


def check_api(text: str, api: ApiTable | None = None) -> list[Diagnostic]:
    """Warnings: a method on no BBj class, an unknown built-in function, an impossible arity,
    an unknown event name in CALLBACK/REMOVE_CALLBACK.

    Methods this source declares (METHOD, FIELD accessors) and common Java methods are not
    flagged; methods of BBj classes written in other files cannot be known and will be.
    """
    api = api or load_api()
    declared = _declared_methods(text)
    hints: dict[tuple[str, NameKind], str | None] = {}

    def nearest(name: str, kind: NameKind) -> str | None:  # difflib is slow: once per name
        if (name, kind) not in hints:
            hints[(name, kind)] = api.nearest(name, kind)
        return hints[(name, kind)]

    out: list[Diagnostic] = []
    for ll in logical_lines(text):
        toks = tokenize(ll.text)
        if not toks:
            continue
        first = toks[0].upper()
        if first in ("REM", "METHOD", "DEF", "CLASS", "INTERFACE", "DIM", "FIELD", "DECLARE", "USE"):
            continue
        offsets: list[int] | None = None
        found: list[tuple[int, str]] = []
        in_type = _type_positions(toks)
        for i, tok in enumerate(toks):
            if tok.upper() == "REM" and (i == 0 or toks[i - 1] in (";", ":")):
                break
            if i + 1 >= len(toks) or toks[i + 1] != "(" or tok[:1] not in _ID_START:
                continue
            prev = toks[i - 1] if i else ""
            if tok.upper() in ("CALLBACK", "REMOVE_CALLBACK") and i + 2 < len(toks):
                event = toks[i + 2]
                if event[:1] in _ID_START and not api.is_event(event):
                    hint = nearest(event, "event")
                    fix = f" (did you mean {hint}?)" if hint else ""
                    found.append((i + 2, f"api: {event} is not a BBj event name{fix}"))
                continue
            if i in in_type:  # new java.util.ArrayList(): a class, not a method
                continue
            if prev == "#":  # #method(): this class or a superclass, possibly in another file
                continue
            if prev == ".":
                if tok[-1] in "$%!@":  # rec.name$(1,3): a substring of a template field
                    continue
                low = tok.lower()
                if low in declared or low in api._methods or tok in _JAVA_METHODS:
                    continue
                hint = nearest(tok, "method")
                fix = f" (did you mean {hint}?)" if hint else ""
                found.append((i, f"api: method {tok}() exists on no BBj class{fix}"))
                continue
            up = tok.upper()
            if up in ("AND", "OR") and prev and (prev[-1:].isalnum() or prev[-1:] in '$!%@)]"_'):
                continue  # `x or (y)`: the operator, not a call
            if (
                tok[-1] in "$!%@"
                or up.startswith("FN")
                or prev.upper() in ("NEW", "DEF")
                or prev[:2] == "::"
                or api.is_verb(up)
                or up in _OPTION_WORDS
            ):
                continue
            arity = api.function_arity(up)
            if arity is None and up in _FOREIGN_FUNCTIONS:
                found.append((i, f"api: {_FOREIGN_FUNCTIONS[up]}"))
                continue
            if arity is None:
                hint = nearest(up, "function")
                fix = f" (did you mean {hint}()?)" if hint else ""
                found.append((i, f"api: {tok}() is not a BBj built-in function{fix}"))
                continue
            count, _ = _call_args(toks, i + 1)
            least, most = arity
            if count < least or (most is not None and count > most):
                want = (
                    f"{least}"
                    if least == most
                    else f"{least} to {most}"
                    if most is not None
                    else f"at least {least}"
                )
                found.append(
                    (i, f"api: {up}() takes {want} argument{'s' if want != '1' else ''}, found {count}")
                )
        for i, message in found:
            if offsets is None:
                offsets = token_offsets(ll.text)
            line, col = ll.position(offsets[i])
            out.append(Diagnostic(line, col, message))
    return sorted(set(out))
