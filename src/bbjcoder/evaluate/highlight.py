"""A small BBj syntax highlighter for the review page: source text in, escaped HTML spans out.

Pygments has no BBj lexer, so this is a regex tokenizer over the parts a reviewer's eye needs:
comments, strings, keywords, line numbers, numbers, typed variables and method calls.
"""

from __future__ import annotations

import html
import re

_KEYWORD_TEXT = (
    "ADDR BEGIN BREAK CALL CASE CLASS CLASSEND CLOSE CONTINUE DATA DEF DIM DIRECT DREAD ELSE END ENDIF "
    "ENTER ERASE ESCAPE EXECUTE EXTRACT FI FIELD FIELDEND FILE FIND FNEND FOR GOSUB GOTO IF INPUT "
    "INTERFACE INTERFACEEND IOLIST KEY LET LIST MKEYED METHOD METHODEND MODE NEXT NOT ON OPEN OR AND "
    "PRECISION PRINT PROCESS_EVENTS READ RECORD RELEASE REM REMOVE RETURN RETRY RUN SELECT SETERR SETESC "
    "SETTRACE STOP SWEND SWITCH THEN TO STEP UNTIL USE WAIT WEND WHILE WRITE DECLARE PUBLIC PRIVATE "
    "PROTECTED STATIC EXTENDS IMPLEMENTS NEW NULL CALLBACK ERR DOM IND SIZ TBL BREAK CASE DEFAULT "
    "REPEAT EXITTO ENTER SQLOPEN SQLPREP SQLEXEC SQLFETCH SQLCLOSE"
)
KEYWORDS: tuple[str, ...] = tuple(_KEYWORD_TEXT.split())
_KW = "|".join(sorted(set(KEYWORDS), key=len, reverse=True))

_TOKEN = re.compile(
    r"""(?P<com>(?:^|(?<=[\s:;]))(?i:rem)\b[^\n]*)"""
    r"""|(?P<str>"[^"\n]*"?)"""
    r"""|(?P<ln>^[ \t]*\d{1,5}(?=\s))"""
    rf"""|(?P<kw>\b(?i:{_KW})\b)"""
    r"""|(?P<num>\b\d+(?:\.\d+)?\b)"""
    r"""|(?P<call>(?<=\.)[A-Za-z_]\w*(?=\())"""
    r"""|(?P<var>\b[A-Za-z_][\w.]*[$!%](?!\w))""",
    re.MULTILINE,
)


def highlight_bbj(code: str) -> str:
    """HTML for `code` with <span class="kw|str|com|ln|num|call|var">; everything is escaped."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(code):
        out.append(html.escape(code[pos : m.start()]))
        kind = m.lastgroup or ""
        out.append(f'<span class="{kind}">{html.escape(m.group())}</span>')
        pos = m.end()
    out.append(html.escape(code[pos:]))
    return "".join(out)
