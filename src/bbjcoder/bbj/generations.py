"""Which BBj generation(s) a snippet is written for, judged from its idioms.

The data and eval stages use this to check an example's `generation` label against its code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Each signal: (generations it implies, compiled pattern, short description for messages).
# character: terminal I/O, cursor positioning and screen mnemonics.
# vpro5: Visual PRO/5 GUI, drawn through mnemonics PRINTed to the SYSGUI channel, CTRL() queries.
# bbj-gui + dwc: the BBj object API (BBjAPI, SysGui, windows, callbacks): the same code runs in the
#   desktop GUI and in the browser (DWC), so it alone cannot tell the two apart.
# dwc: browser-only API (web manager, JavaScript, CSS styling, class names).
_SIGNALS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (frozenset({"character"}), re.compile(r"@\s*\("), "PRINT @(x,y) cursor positioning"),
    (
        frozenset({"character"}),
        re.compile(
            r"'(?:CS|CE|CL|CH|BR|ER|SB|SF|BU|EU|RB|GS|GE|BELL|VT|LF|FF|UC|LC|DN|UP|RT|LT|BG|EG|SR|ER)'"
        ),
        "screen mnemonics such as 'CS'",
    ),
    (
        frozenset({"vpro5"}),
        re.compile(
            r"'(?:WINDOW|BUTTON|EDIT|TEXT|LISTBOX|LISTBUTTON|LISTEDIT|CHECKBOX|RADIOBUTTON|TOOLBUTTON|"
            r"GROUPBOX|HSCROLL|VSCROLL|TABCTRL|INPUTE|INPUTN|MENU|DIALOG|CONTEXT|FOCUS|DESTROY|STATUSBAR)'"
            r"\s*\(",
            re.IGNORECASE,
        ),
        "SYSGUI control mnemonics such as 'WINDOW'(...)",
    ),
    (frozenset({"vpro5"}), re.compile(r"\bCTRL\s*\(", re.IGNORECASE), "CTRL() queries"),
    (
        frozenset({"vpro5"}),
        re.compile(r"\bSYSGUI\b(?![!$%.])|\"X0\"", re.IGNORECASE),
        'a SYSGUI channel (OPEN ..."X0")',
    ),
    (
        frozenset({"bbj-gui", "dwc"}),
        re.compile(
            r"\bBBjAPI\s*\(\s*\)\s*\.\s*(?:getSysGui|openSysGui)|\bgetSysGui\s*\(|\baddWindow\s*\(|"
            r"\bsetCallback\s*\(|\bprocess_events\b|\bBBj(?:TopLevel)?Window\b|\bBBjSysGui\b|"
            r"\badd(?:Button|EditBox|StaticText|ListBox|ListButton|CheckBox|InputE|InputN|Grid|ChildWindow)\s*\(",
            re.IGNORECASE,
        ),
        "the BBj object GUI API (getSysGui, addWindow, setCallback, PROCESS_EVENTS)",
    ),
    (
        frozenset({"dwc"}),
        re.compile(
            r"\bgetWebManager\s*\(|\bBBjWebManager\b|\bexecute(?:Async)?Script\s*\(|\bsetStyle\s*\(|"
            r"\baddClassName\s*\(|\bremoveClassName\s*\(|\binjectScript|\binjectStyle|\bsetTheme\s*\(|"
            r"\bgetClientType\s*\(|\bsetExpanse\s*\(|\bdwc-[a-z]",
            re.IGNORECASE,
        ),
        "DWC-only API (getWebManager, executeAsyncScript, setStyle, addClassName)",
    ),
)
_STRING_RE = re.compile(r'"[^"\n]*"')
_REM_RE = re.compile(r"(?im)^[ \t]*(?:\d+[ \t]+)?rem(?![\w$%!@]).*$")


def _keep_device_strings(match: re.Match[str]) -> str:
    literal = match.group(0)
    return literal if literal == '"X0"' or "dwc-" in literal else '""'


def _evidence(text: str) -> dict[str, list[str]]:
    """Generation -> descriptions of the idioms found (comments and string contents ignored)."""
    code = _REM_RE.sub("", text)
    # String contents are not code, except the SYSGUI device name "X0" and DWC CSS names "dwc-...".
    stripped = _STRING_RE.sub(_keep_device_strings, code)
    found: dict[str, list[str]] = {}
    for gens, pattern, what in _SIGNALS:
        if pattern.search(stripped):
            for gen in gens:
                found.setdefault(gen, []).append(what)
    return found


def detect_generations(text: str) -> set[str]:
    """The generations whose idioms `text` uses, or {"all"} when it has none (universal code).

    Signals: `PRINT @(x,y)` and screen mnemonics ('CS', 'BR', ...) -> character; SYSGUI mnemonics
    ('WINDOW'(...), 'BUTTON'(...)), CTRL(...) and SYSGUI channel opens -> vpro5; the BBj object GUI
    API (BBjAPI().getSysGui(), addWindow, setCallback, PROCESS_EVENTS) -> bbj-gui and dwc, since
    the same code runs in both; browser-only API (getWebManager, executeAsyncScript, setStyle,
    addClassName, BBjWebManager, getClientType) -> dwc alone (bbj-gui dropped unless other signals
    than the shared object API point at it).
    """
    found = _evidence(text)
    if not found:
        return {"all"}
    gens = set(found)
    if "dwc" in gens and any(w.startswith("DWC") for w in found["dwc"]):
        gens.discard("bbj-gui")
    return gens


def generation_mismatch(labels: Iterable[str] | str, text: str) -> str | None:
    """Why the generation label(s) clearly contradict the code, or None when they are compatible.

    Universal code fits every label, and a label of "all" is never contradicted: only a specific
    label that shares no generation with the idioms found counts as a clear mismatch.
    """
    wanted = {labels} if isinstance(labels, str) else set(labels)
    wanted = {w.strip().lower() for w in wanted if w and w.strip()}
    if not wanted or wanted & {"all", "universal"}:
        return None
    found = _evidence(text)
    detected = detect_generations(text)
    if detected == {"all"} or detected & wanted:
        return None
    reasons = "; ".join(sorted({w for g in detected for w in found.get(g, [])}))
    return f"labelled {', '.join(sorted(wanted))} but the code uses {', '.join(sorted(detected))} idioms: {reasons}"
