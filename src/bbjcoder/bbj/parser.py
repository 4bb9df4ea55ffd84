"""The builtin BBj syntax checker: a hand-written recursive-descent parser over logical lines.

It validates and builds no tree. Grammar facts follow BASIS's documentation and the public BBj
language-server grammar; block pairing follows what `bbjcpl -N` rejects (see `check_source`).
"""

from __future__ import annotations

from collections.abc import Callable

from bbjcoder.bbj import Diagnostic
from bbjcoder.bbj.lexer import LogicalLine, logical_lines, token_offsets, tokenize

_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset("0123456789")
_SUFFIXES = frozenset("$%!@")

_BINOPS = frozenset({"+", "-", "*", "/", "^", "=", "<>", "<", ">", "<=", ">="})
_WORD_BINOPS = frozenset({"AND", "OR"})
# Words that end an expression in some statement and so cannot be operands themselves.
_NOT_OPERANDS = frozenset({"THEN", "ELSE", "TO", "STEP", "GOTO", "GOSUB", "AND", "OR"})
_LABEL_OPTIONS = frozenset({"ERR", "DOM", "END", "TBL"})
_EXPR_OPTIONS = frozenset(
    {
        "KEY",
        "KNUM",
        "IND",
        "TIM",
        "MODE",
        "SIZ",
        "LEN",
        "ISZ",
        "BSZ",
        "REC",
        "SEP",
        "ATR",
        "NUM",
        "DIR",
    }
)
# Options of other Business BASIC dialects; listed in _OPTIONS only so that `_option` names the fix.
_FOREIGN_OPTIONS = {"KNO": "KNO= is ProvideX, not BBj: BBj selects the key chain with KNUM="}
_OPTIONS = _LABEL_OPTIONS | _EXPR_OPTIONS | {"IOL"} | frozenset(_FOREIGN_OPTIONS)
# Functions of other Business BASIC dialects that BBj lacks (bbjcpl rejects the call).
_FOREIGN_FUNCTIONS = {
    "UCS": "UCS() is not a BBj function: use CVS(s$,4) to convert to upper case",
    "LCS": "LCS() is not a BBj function: use CVS(s$,8) to convert to lower case",
}
LIBRARY_MESSAGE = (
    "not a BBj program: `library` starts a BBj language-server library file (declarations of "
    "functions, variables and events), which the compiler does not take"
)
# what a member/call chain ends in (Parser._postfix)
_NO_CALL, _BARE_CALL, _METHOD_CALL = 0, 1, 2
_VISIBILITY = frozenset({"PUBLIC", "PRIVATE", "PROTECTED"})
_MODIFIERS = frozenset({"PUBLIC", "PRIVATE", "PROTECTED", "STATIC"})
_IF_ENDERS = frozenset({"ELSE", "FI", "ENDIF"})

# Fabricated syntax that code LLMs write for BBj: first word of a statement -> what to say.
_FOREIGN_WORDS = {
    "FUNCTION": "`function` is not BBj: use DEF FN ... FNEND or a METHOD",
    "SUB": "`sub` is not BBj: use a label with GOSUB/RETURN, DEF FN ... FNEND or a METHOD",
    "VAR": "`var` is not BBj: assign directly (x = ...) or use DECLARE",
    "CONST": "`const` is not BBj: assign the value to a variable",
    "IMPORT": "`import` is not BBj: use USE java.package.Class or USE ::file.bbj::Class",
    "ELSEIF": "`elseif` is not BBj: use ELSE followed by IF ... THEN",
    "ELIF": "`elif` is not BBj: use ELSE followed by IF ... THEN",
    "ELSIF": "`elsif` is not BBj: use ELSE followed by IF ... THEN",
    "ENDWHILE": "`endwhile` is not BBj: close a WHILE with WEND",
    "ENDFOR": "`endfor` is not BBj: close a FOR with NEXT",
    "LOOP": "`loop` is not BBj: close a WHILE with WEND, a REPEAT with UNTIL",
    "DO": "`do` is not BBj: use WHILE ... WEND or REPEAT ... UNTIL",
    "TRY": "`try` is not BBj: use ERR= options or SETERR",
    "CATCH": "`catch` is not BBj: use ERR= options or SETERR",
    "FINALLY": "`finally` is not BBj: use ERR= options or SETERR",
    "ENDCLASS": "`endclass` is not BBj: close a CLASS with CLASSEND",
    "ENDMETHOD": "`endmethod` is not BBj: close a METHOD with METHODEND",
    "ENDSWITCH": "`endswitch` is not BBj: close a SWITCH with SWEND",
    "PUBLIC": "a statement cannot start with `public`: write METHOD PUBLIC, FIELD PUBLIC or CLASS PUBLIC",
    "PRIVATE": "a statement cannot start with `private`: write METHOD PRIVATE or FIELD PRIVATE",
    "PROTECTED": "a statement cannot start with `protected`: write METHOD PROTECTED or FIELD PROTECTED",
    "STATIC": "a statement cannot start with `static`: write METHOD PUBLIC STATIC or FIELD STATIC",
    "PRINTLN": "`println` is not BBj: use PRINT",
    "ECHO": "`echo` is not BBj: use PRINT",
}
_FOREIGN_TOKENS = {
    "{": "`{` blocks are not BBj: blocks end with keywords (FI, WEND, NEXT, METHODEND, ...)",
    "}": "`}` blocks are not BBj: blocks end with keywords (FI, WEND, NEXT, METHODEND, ...)",
    "//": "`//` comments are not BBj: use REM",
    "/*": "`/* */` comments are not BBj: use REM",
    "*/": "`/* */` comments are not BBj: use REM",
    "==": "`==` is not BBj: compare with =",
    "!=": "`!=` is not BBj: compare with <>",
    "&&": "`&&` is not BBj: use AND",
    "||": "`||` is not BBj: use OR",
    "+=": "`+=` is not BBj: write x = x + ...",
    "-=": "`-=` is not BBj: write x = x - ...",
    "++": "`++` is not BBj: write x = x + 1",
    "=>": "`=>` is not BBj",
    "->": "`->` is not BBj",
}


def _starts_operand(tok: str) -> bool:
    """True if `tok` can begin an operand (a name, number, string, `!x`, `-x`, `#field`, ...)."""
    first = tok[:1]
    return first != "" and (first in _ID_START or first in _DIGITS or first in "\"'$.!-+#@")


class ParseError(Exception):
    """A syntax error at token index `at`; `{col}` in the message is the column of token `ref`."""

    def __init__(self, message: str, at: int, ref: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.ref = ref


def _show(tok: str) -> str:
    if tok == "":
        return "end of line"
    return repr(tok if len(tok) <= 24 else tok[:21] + "...")


class _Frame:
    """An open CLASS / INTERFACE / METHOD / DEF FN block (always checked)."""

    __slots__ = ("blocks_at", "broken", "kind", "line")

    def __init__(self, kind: str, line: int, broken: bool, blocks_at: int) -> None:
        self.kind = kind
        self.line = line
        self.broken = broken
        self.blocks_at = blocks_at


class Parser:
    """Checks one source text; `run()` returns the diagnostics (unsorted tuples)."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.diags: list[tuple[int, int, str]] = []
        self.frames: list[_Frame] = []
        # strict mode only: open FOR/WHILE/REPEAT/IF/SWITCH blocks as (kind, line)
        self.blocks: list[tuple[str, int]] = []
        self.t: list[str] = []
        self.i = 0
        self.line = 1
        self.in_if = False
        self.stmt_start = 0
        self.key_segments = False

    # --- driver ---------------------------------------------------------------------------------

    def run(self, text: str) -> list[tuple[int, int, str]]:
        handlers = _HANDLERS
        first = True
        for ll in logical_lines(text):
            toks = tokenize(ll.text)
            if not toks:
                continue
            if first:
                first = False
                if toks == ["library"]:
                    self.diags.append((ll.first_line, 1, LIBRARY_MESSAGE))
                    return self.diags
            self.line = ll.first_line
            toks.append("")
            toks.append("")
            self.t = toks
            self.i = 0
            self.in_if = False
            try:
                self._line(handlers)
            except ParseError as exc:
                self._report(ll, exc)
            except RecursionError:
                self._report(ll, ParseError("expression nested too deeply", self.i))
        self._finish()
        return self.diags

    def _report(self, ll: LogicalLine, exc: ParseError) -> None:
        offsets = token_offsets(ll.text)
        end = len(ll.text.rstrip())

        def pos(k: int) -> tuple[int, int]:
            return ll.position(offsets[k] if 0 <= k < len(offsets) else end)

        line, col = pos(exc.at)
        message = exc.message
        if "{col}" in message:
            rline, rcol = pos(exc.ref)
            where = f"column {rcol}" if rline == line else f"line {rline} column {rcol}"
            message = message.replace("{col}", where)
        self.diags.append((line, col, message))

    def _flag(self, line: int, message: str) -> None:
        self.diags.append((line, 1, message))

    def _line(self, handlers: dict[str, Callable[[Parser], None]]) -> None:
        t = self.t
        tok = t[0]
        if tok[:1] in _DIGITS and tok.isdigit():  # legacy line number
            self.i = 1
        while True:
            self._statement(handlers)
            tok = t[self.i]
            if tok == "":
                return
            if tok == ";":
                self.i += 1
                continue
            if self.in_if and tok.upper() in _IF_ENDERS:
                continue
            raise ParseError(self._unexpected(tok, "expected ';' or end of line"), self.i)

    def _close_parameter_list(self, opened: int) -> None:
        """Step over the ')' of a DEF FN or METHOD parameter list opened at token `opened`."""
        if self.t[self.i] != ")":
            raise ParseError(
                self._unexpected(self.t[self.i], "expected ')' to close the parameter list opened at {col}"),
                self.i,
                opened,
            )
        self.i += 1

    def _unexpected(self, tok: str, expected: str) -> str:
        foreign = _FOREIGN_TOKENS.get(tok)
        if foreign:
            return foreign
        if tok[:1] == '"' and (len(tok) == 1 or tok[-1] != '"'):
            return 'unterminated string literal: expected a closing "'
        if tok == "'":
            return "single quotes are not BBj strings: use double quotes (or 'NAME' for a mnemonic)"
        return f"{expected}, found {_show(tok)}"

    def _statement(self, handlers: dict[str, Callable[[Parser], None]]) -> None:
        t = self.t
        i = self.i
        tok = t[i]
        if tok == "" or tok == ";":
            return
        self.stmt_start = i
        c = tok[0]
        if c in _ID_START:
            up = tok.upper()
            nxt = t[i + 1]
            if up == "REM":
                self.i = len(t) - 2
                return
            if nxt == ":" and tok[-1] not in _SUFFIXES:  # label
                self.i = i + 2
                self._in_class_body_check()
                self._statement(handlers)
                return
            if nxt != "=" and nxt != "." and nxt != "[":
                handler = handlers.get(up)
                if handler is not None:
                    if up not in _CLASS_LEVEL:
                        self._in_class_body_check()
                    handler(self)
                    return
                foreign = _FOREIGN_WORDS.get(up)
                if foreign:
                    if up in _MODIFIERS and self.frames and self.frames[-1].kind == "CLASS":
                        # `public void f()` in a class body: a broken METHOD header, whose
                        # METHODEND bbjcpl then flags too
                        self._push("METHOD", True)
                    raise ParseError(foreign, i)
            self._in_class_body_check()
            self._expression_statement()
            return
        if c == "#":
            self._in_class_body_check()
            self._expression_statement()
            return
        if c == "?":
            self._in_class_body_check()
            self.i = i + 1
            self._print_rest()
            return
        raise ParseError(self._unexpected(tok, "expected a statement"), i)

    def _in_class_body_check(self) -> None:
        frames = self.frames
        # Statements in a CLASS body outside any METHOD compile (bbjcpl -N accepts them; they
        # never run), but an INTERFACE holds only METHOD headers.
        if frames and frames[-1].kind == "INTERFACE":
            raise ParseError(
                "statement inside an INTERFACE: expected a METHOD header or INTERFACEEND",
                self.stmt_start,
            )

    def _finish(self) -> None:
        for kind, line in self.blocks:
            self._flag(line, _UNCLOSED_BLOCK[kind])
        for frame in self.frames:
            # A multi-line DEF FN still open at the end of the program is accepted by bbjcpl.
            if frame.kind != "DEF":
                self._flag(frame.line, _UNCLOSED_FRAME[frame.kind])

    # --- expressions ----------------------------------------------------------------------------

    def expr(self) -> None:
        """An expression: operands joined by binary operators; precedence does not affect validity."""
        self._unary()
        self._rest_of_expression()

    def _rest_of_expression(self) -> None:
        """Binary operators and their operands (and a trailing mask) after a first operand."""
        t = self.t
        while True:
            tok = t[self.i]
            if tok in _BINOPS or (tok[:1] in _ID_START and tok.upper() in _WORD_BINOPS):
                self.i += 1
                self._unary()
                continue
            if tok == ":":  # string mask  n:"##0.00", or input verification  x:("Y"=lbl)
                self.i += 1
                if t[self.i] == "(":
                    self._skip_balanced()
                    return
                self._unary()
                continue
            return

    def _unary(self) -> None:
        t = self.t
        tok = t[self.i]
        if tok == "!":  # logical not: the grammar's prefix `!` before a member call (!x, !#f(), !(a))
            self.i += 1
            self._primary()
            self._postfix()
            return
        while tok == "-" or tok == "+":
            self.i += 1
            tok = t[self.i]
        if tok.upper() == "NOT" and t[self.i + 1] != "(" and _starts_operand(t[self.i + 1]):
            # BBj has no NOT operator (BASIS "Numeric and Logical Operators": AND, OR; the
            # language server's prefix operators are ! - +): NOT(s$) is the string function.
            raise ParseError(
                "NOT is a string function, not an operator: negate a condition with !(...) "
                "or compare it with 0",
                self.i,
            )
        self._primary()
        self._postfix()

    def _primary(self) -> None:
        t = self.t
        i = self.i
        tok = t[i]
        c = tok[:1]
        if c in _ID_START:
            up = tok.upper()
            if up in _NOT_OPERANDS:
                if up == "AND" and t[i + 1] == "(":  # AND(a$,b$): the bitwise string function
                    self.i = i + 1
                    return
                raise ParseError(f"expected an expression, found keyword {tok}", i)
            if up in _FOREIGN_FUNCTIONS and t[i + 1] == "(":
                raise ParseError(_FOREIGN_FUNCTIONS[up], i)
            if up == "NEW" and (t[i + 1][:1] in _ID_START or t[i + 1][:2] == "::"):
                self.i = i + 1
                self._qualified_type()
                opener = t[self.i]
                if opener == "(":
                    self._args(")", "argument list")
                elif opener == "[":
                    self._args("]", "array dimensions")
                else:
                    raise ParseError(
                        self._unexpected(opener, "expected '(' with constructor arguments after the class"),
                        self.i,
                    )
                return
            self.i = i + 1
            return
        if c in _DIGITS or (c == "." and len(tok) > 1):
            self.i = i + 1
            return
        if c == '"':
            if len(tok) == 1 or tok[-1] != '"':
                raise ParseError('unterminated string literal: expected a closing "', i)
            self.i = i + 1
            return
        if c == "(":
            self.i = i + 1
            self.expr()
            if t[self.i] != ")":
                raise ParseError(
                    self._unexpected(t[self.i], "expected ')' to close the parenthesis opened at {col}"),
                    self.i,
                    i,
                )
            self.i += 1
            return
        if c == "#":
            if t[i + 1][:1] not in _ID_START:
                raise ParseError("expected a field or method name after '#'", i + 1)
            self.i = i + 2
            return
        if c == "'":
            if len(tok) < 2:
                raise ParseError(self._unexpected(tok, "expected an expression"), i)
            self.i = i + 1
            if t[self.i] == "(":
                self._args(")", "mnemonic arguments")
            return
        if tok == "@(":
            self._args(")", "@( position")
            return
        if c == "[" and self.key_segments:  # MKEYED "f",[1:6],[7:10:"N"],0,16
            self._args("]", "key segment")
            return
        if c == "$" and len(tok) > 1:
            self.i = i + 1
            return
        if c == ":" and tok[:2] == "::":  # ::file.bbj::Class
            self.i = i + 1
            if t[self.i][:1] in _ID_START:
                self.i += 1
            return
        raise ParseError(self._unexpected(tok, "expected an expression"), i)

    def _postfix(self, member: bool = False) -> int:
        """Members, calls and indices after a primary.

        Returns _NO_CALL, _BARE_CALL (the chain ends in `name(...)`: a function) or _METHOD_CALL
        (it ends in `.name(...)`, or `#name(...)` when `member` says the primary was `#name`).
        """
        t = self.t
        called = _NO_CALL
        while True:
            tok = t[self.i]
            if tok == ".":
                if t[self.i + 1][:1] not in _ID_START:
                    raise ParseError(
                        self._unexpected(t[self.i + 1], "expected a member name after '.'"), self.i + 1
                    )
                self.i += 2
                called = _NO_CALL
                member = True
            elif tok == "(":
                self._args(")", "argument list")
                called = _METHOD_CALL if member else _BARE_CALL
                member = False
            elif tok == "[":
                if t[self.i + 1].upper() == "ALL" and t[self.i + 2] == "]":
                    self.i += 3
                else:
                    self._args("]", "index list")
                called = _NO_CALL
                member = False
            else:
                return called

    def _args(self, close: str, what: str, options: bool = False) -> None:
        """`(` or `[` at self.i, comma-separated expressions (and ERR=/END=/DOM= options), `close`.

        With `options`, any I/O option (KEY=, MODE=, ...) may appear too.
        """
        t = self.t
        opened = self.i
        self.i += 1
        if t[self.i] == close:
            self.i += 1
            return
        while True:
            tok = t[self.i]
            if t[self.i + 1] == "=" and tok.upper() in _LABEL_OPTIONS:
                self.i += 2
                self._label_ref(tok.upper())
            elif options and t[self.i + 1] == "=" and tok.upper() in _OPTIONS:
                self._option()
            else:
                self.expr()
            tok = t[self.i]
            if tok == ",":
                self.i += 1
                continue
            if tok == close:
                self.i += 1
                return
            raise ParseError(
                self._unexpected(tok, f"expected '{close}' to close the {what} opened at {{col}}"),
                self.i,
                opened,
            )

    def _skip_balanced(self) -> None:
        t = self.t
        opened = self.i
        depth = 0
        while True:
            tok = t[self.i]
            if tok == "":
                raise ParseError("expected ')' to close the parenthesis opened at {col}", self.i, opened)
            self.i += 1
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
                if depth == 0:
                    return

    def _label_ref(self, option: str = "") -> None:
        """A line reference: label name, line number or *NEXT-style symbolic label."""
        t = self.t
        tok = t[self.i]
        if tok == "*" and t[self.i + 1][:1] in _ID_START:
            self.i += 2
            return
        if (tok[:1] in _ID_START and tok[-1] not in "$%!") or tok.isdigit():
            self.i += 1
            return
        after = f" after {option}=" if option else ""
        raise ParseError(self._unexpected(tok, f"expected a label or line number{after}"), self.i)

    def _qualified_type(self) -> None:
        """A class name: `::file.bbj::Class`, `java.util.HashMap` or `BBjString`, optionally `[]`."""
        t = self.t
        tok = t[self.i]
        if tok[:2] == "::":
            self.i += 1
            self._name("expected a class name after the ::file::")
        elif tok[:1] in _ID_START:
            self.i += 1
            while t[self.i] == "." and t[self.i + 1][:1] in _ID_START:
                self.i += 2
        else:
            raise ParseError(self._unexpected(tok, "expected a class name"), self.i)
        if t[self.i] == "[" and t[self.i + 1] == "]":
            self.i += 2

    def _lvalue_chain(self) -> int:
        """An assignable or callable: [#]name with members, calls, indices (see `_postfix`)."""
        t = self.t
        tok = t[self.i]
        if tok == "#":
            if t[self.i + 1][:1] not in _ID_START:
                raise ParseError("expected a field or method name after '#'", self.i + 1)
            self.i += 2
            return self._postfix(member=True)
        if tok[:1] in _ID_START:
            self.i += 1
            return self._postfix()
        raise ParseError(self._unexpected(tok, "expected a variable"), self.i)

    def _check_assignable(self, start: int) -> None:
        """Reject `name(args) = ...`: a function call (ctrl(...), str(x)) cannot take a value.

        Substrings of string variables (`a$(1,3) = "x"`) stay valid; so do array elements,
        fields and members, which end in `]`, `$`-suffixed names or `.name`.
        """
        t = self.t
        name = t[start]
        if name[:1] not in _ID_START or name[-1] in _SUFFIXES or t[start + 1] != "(":
            return
        depth = 0
        k = start + 1
        while True:
            tok = t[k]
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        if k + 1 == self.i:
            raise ParseError(
                f"cannot assign to {name}(...): a function call is not a variable "
                "(only variables, array elements, fields and substrings such as a$(1,3) take '=')",
                start,
            )

    # --- statements -----------------------------------------------------------------------------

    def _expression_statement(self) -> None:
        """Implicit LET (`x = 1`, `a$(1,2) = "x"`, `#f! = y`) or a method call (`o!.m()`, `#m()`)."""
        t = self.t
        start = self.i
        first = t[start]
        if first.upper() == "NEW" and (t[start + 1][:1] in _ID_START or t[start + 1][:2] == "::"):
            # `new Gen(a!, b$)`: a constructor called for its side effect, maybe with a method chain
            self._primary()
            self._postfix()
            if not self._end_of_statement():
                raise ParseError(self._unexpected(t[self.i], "expected end of statement"), self.i)
            return
        called = self._lvalue_chain()
        tok = t[self.i]
        if tok == "=":
            self._check_assignable(start)
            self.i += 1
            self.expr()
            if t[self.i] == "," and t[self.i + 1][:1] in _ID_START | {"#"}:  # a=1,b=2
                self.i += 1
                self._expression_statement()
            return
        if called == _BARE_CALL and first.upper() == "CAST" and t[start + 1] == "(":
            called = _METHOD_CALL  # CAST(Type, obj!) is a typed expression, not a function call
        if called == _METHOD_CALL:
            return
        if (
            called == _BARE_CALL
            and first[-1] not in _SUFFIXES
            and (tok == "" or tok == ";" or (self.in_if and tok.upper() in _IF_ENDERS))
        ):
            raise ParseError(
                f"{_show(first)}(...) is not a statement: a call statement must call a method on an "
                "object (obj!.method(...), #method(...)) or start with a verb",
                start,
            )
        if tok == "" or tok == ";":
            raise ParseError(
                f"{_show(first)} is not a statement: expected a verb, an assignment (x = ...) or a method call",
                start,
            )
        raise ParseError(self._unexpected(tok, "expected '=' or a method call"), self.i)

    def _assignment(self) -> None:
        start = self.i
        self._lvalue_chain()
        if self.t[self.i] != "=":
            raise ParseError(self._unexpected(self.t[self.i], "expected '='"), self.i)
        self._check_assignable(start)
        self.i += 1
        self.expr()

    def _name(self, expected: str) -> str:
        """The identifier at the cursor, stepped over; anything else is a ParseError `expected ...`."""
        tok = self.t[self.i]
        if tok[:1] not in _ID_START:
            raise ParseError(self._unexpected(tok, expected), self.i)
        self.i += 1
        return tok

    def _comma_list(self, item: Callable[[], None]) -> None:
        """`item`, then more `item`s while a comma follows: `a, b, c`."""
        while True:
            item()
            if self.t[self.i] != ",":
                return
            self.i += 1

    def _end_of_statement(self) -> bool:
        tok = self.t[self.i]
        return tok == "" or tok == ";" or (self.in_if and tok.upper() in _IF_ENDERS)

    def _channel(self) -> bool:
        """Optional `(channel{,OPTION=value})` after an I/O verb; True if present."""
        t = self.t
        if t[self.i] != "(":
            return False
        opened = self.i
        self.i += 1
        if t[self.i] != ",":
            if t[self.i] == ")":
                raise ParseError("expected a channel number inside ( )", self.i)
            self.expr()
        while t[self.i] == ",":
            self.i += 1
            self._option()
        if t[self.i] != ")":
            raise ParseError(
                self._unexpected(t[self.i], "expected ')' to close the channel list opened at {col}"),
                self.i,
                opened,
            )
        self.i += 1
        return True

    def _option(self) -> None:
        t = self.t
        tok = t[self.i]
        up = tok.upper()
        if t[self.i + 1] != "=":
            if up in _OPTIONS:
                raise ParseError(f"expected '=' after option {up}", self.i + 1)
            raise ParseError(
                self._unexpected(tok, 'expected an option such as ERR=label, KEY=k$ or MODE="..."'),
                self.i,
            )
        if up in _FOREIGN_OPTIONS:
            raise ParseError(_FOREIGN_OPTIONS[up], self.i)
        if up not in _OPTIONS:
            raise ParseError(
                f"unknown option {tok}=: expected ERR=, DOM=, END=, KEY=, IND=, TIM=, MODE=, IOL=, ...",
                self.i,
            )
        self.i += 2
        if up in _LABEL_OPTIONS:
            self._label_ref(up)
        elif up == "IOL":
            self.expr()
        else:
            if self._end_of_statement() or t[self.i] in (",", ")"):
                raise ParseError(f"expected a value after {up}=", self.i)
            self.expr()

    def _items(self, allow_star: bool = True) -> None:
        """Comma-separated output/input items: expressions, mnemonics, `*`, IOL=label."""
        t = self.t
        if self._end_of_statement():
            return
        while True:
            tok = t[self.i]
            if tok == "*" and allow_star and t[self.i + 1] in (",", ";", ""):
                self.i += 1
            elif t[self.i + 1] == "=" and tok.upper() in _OPTIONS:
                self._option()
            else:
                self.expr()
            tok = t[self.i]
            if tok == ",":
                self.i += 1
                if self._end_of_statement():  # trailing comma: no line feed
                    return
                continue
            if self._end_of_statement():
                return
            raise ParseError(self._unexpected(tok, "expected ',' between items"), self.i)

    def _print_rest(self) -> None:
        if self.t[self.i].upper() == "RECORD":
            self.i += 1
        self._channel()
        self._items()

    def s_print(self) -> None:
        self.i += 1
        self._print_rest()

    def s_io(self) -> None:  # READ / WRITE / INPUT / EXTRACT / FIND [RECORD] [(ch,opts)] items
        self.i += 1
        if self.t[self.i].upper() == "RECORD":
            self.i += 1
        self._channel()
        self._items()

    def s_io_record(self) -> None:  # READRECORD, WRITERECORD, ...
        self.i += 1
        self._channel()
        self._items()

    def s_open(self) -> None:
        self.i += 1
        if not self._channel():
            raise ParseError(
                self._unexpected(self.t[self.i], "expected '(' and a channel after OPEN"), self.i
            )
        if self._end_of_statement():
            raise ParseError("expected a file name after OPEN (channel)", self.i)
        self.expr()

    def s_channel_only(self) -> None:  # CLOSE(ch), REMOVE(ch,KEY=), LOCK(ch), SQLCLOSE(ch) ...
        verb = self.t[self.i].upper()
        self.i += 1
        if not self._channel():
            raise ParseError(
                self._unexpected(self.t[self.i], f"expected '(' and a channel after {verb}"), self.i
            )

    def s_channel_expr(self) -> None:  # SQLOPEN(ch) dsn$, SQLPREP(ch) sql$
        verb = self.t[self.i].upper()
        self.i += 1
        if not self._channel():
            raise ParseError(
                self._unexpected(self.t[self.i], f"expected '(' and a channel after {verb}"), self.i
            )
        if self._end_of_statement():
            raise ParseError(f"expected an expression after {verb} (channel)", self.i)
        self.expr()

    def s_channel_items(self) -> None:  # SQLEXEC(ch) args...
        verb = self.t[self.i].upper()
        self.i += 1
        if not self._channel():
            raise ParseError(
                self._unexpected(self.t[self.i], f"expected '(' and a channel after {verb}"), self.i
            )
        self._items()

    def s_generic(self) -> None:
        """Less common verbs: optional (channel,options), then expressions and options."""
        t = self.t
        verb = t[self.i].upper()
        self.i += 1
        if t[self.i] == "," and (t[self.i + 2] == "=" or verb == "DELETE"):  # PROCESS_EVENTS,TIM=1
            self.i += 1  # DELETE ,label: the first line reference left out
        if t[self.i] == "(":  # (channel,options), CALLBACK(event,label,context) or CHDIR (path$)
            self._args(")", "parameter list", options=True)
            self._rest_of_expression()  # CHDIR (dir$)+"sub", ERR=x
            if t[self.i] == "," or t[self.i].upper() in ("TO", "EXCEPT"):  # RENAME (a$) TO b$
                self.i += 1
        if t[self.i].upper() == "EXCEPT":  # BEGIN EXCEPT a$, b[ALL]
            self.i += 1
        while not self._end_of_statement():
            tok = t[self.i]
            if t[self.i + 1] == "=" and tok.upper() in _OPTIONS:
                self._option()
            else:
                self.expr()
            tok = t[self.i]
            if tok == "," or tok.upper() == "TO" or tok.upper() == "EXCEPT":
                self.i += 1
                continue
            if not self._end_of_statement():
                raise ParseError(self._unexpected(tok, "expected ',' or end of statement"), self.i)

    def s_keyed(self) -> None:  # MKEYED/VKEYED/XKEYED [offset:len:flags] segments; FIELD [index]
        self.key_segments = True
        try:
            self.s_generic()
        finally:
            self.key_segments = False

    def s_bare(self) -> None:  # verbs that take nothing: RETURN, RETRY, STOP, WEND, SWEND ...
        verb = self.t[self.i].upper()
        self.i += 1
        if self._end_of_statement():
            self._block_event(verb)
            return
        tok = self.t[self.i]
        if verb == "END" and tok[:1] in _ID_START:
            raise ParseError(
                f"`end {tok.lower()}` is not BBj: use {_END_FIX.get(tok.upper(), 'the matching BBj keyword')}",
                self.stmt_start,
            )
        if verb == "RETURN":  # a value belongs in DEF FN; bbjcpl -N accepts it anywhere
            self.expr()
            return
        raise ParseError(
            self._unexpected(tok, f"{verb} takes no arguments: expected ';' or end of line"), self.i
        )

    def s_exit(self) -> None:  # EXIT [n], RELEASE [n], STOP
        self.i += 1
        if not self._end_of_statement():
            self.expr()

    def s_let(self) -> None:
        self.i += 1
        self._comma_list(self._assignment)

    def s_dim(self) -> None:
        t = self.t
        self.i += 1
        while True:
            self._name("expected an array or string name after DIM")
            if t[self.i] == ":":
                self.i += 1
                self.expr()
            else:
                if t[self.i] == "[":
                    self._args("]", "array dimensions")
                if t[self.i] == "(":
                    self._args(")", "size")
            if t[self.i] != ",":
                break
            self.i += 1
            if t[self.i + 1] == "=" and t[self.i].upper() == "ERR":
                self._option()
                break
        if not self._end_of_statement():
            raise ParseError(self._unexpected(t[self.i], "expected ',' or end of DIM"), self.i)

    def s_for(self) -> None:
        t = self.t
        self.i += 1
        self._assignment()
        if t[self.i].upper() != "TO":
            raise ParseError(self._unexpected(t[self.i], "expected TO in FOR"), self.i)
        self.i += 1
        self.expr()
        if t[self.i].upper() == "STEP":
            self.i += 1
            self.expr()
        self._open_block("FOR")

    def s_next(self) -> None:
        t = self.t
        self.i += 1
        if t[self.i][:1] in _ID_START and t[self.i].upper() not in _IF_ENDERS:
            self.i += 1
        self._close_block("FOR", "NEXT")

    def s_cond_block(self) -> None:  # WHILE expr, SWITCH expr, UNTIL expr
        verb = self.t[self.i].upper()
        self.i += 1
        if self._end_of_statement():
            raise ParseError(f"expected a condition after {verb}", self.i)
        self.expr()
        if verb == "UNTIL":
            self._close_block("REPEAT", "UNTIL")
        else:
            self._open_block(verb)

    def s_repeat(self) -> None:
        self.i += 1
        self._open_block("REPEAT")

    def s_case(self) -> None:
        t = self.t
        self.i += 1
        if t[self.i].upper() == "DEFAULT" and t[self.i + 1] in ("", ";"):
            self.i += 1
            return
        if self._end_of_statement():
            raise ParseError("expected a value or DEFAULT after CASE", self.i)
        self._comma_list(self.expr)

    def s_if(self) -> None:
        t = self.t
        self.i += 1
        if self._end_of_statement():
            raise ParseError("expected a condition after IF", self.i)
        self.expr()
        tok = t[self.i]
        if tok.upper() == "THEN":
            self.i += 1
            tok = t[self.i]
        if tok == "" or tok == ";":
            self._open_block("IF")
            return
        self.in_if = True
        if tok.isdigit():  # IF x THEN 100
            self.i += 1
            return
        if tok.upper() in _IF_ENDERS:
            return
        self._statement(_HANDLERS)

    def s_else(self) -> None:
        self.i += 1
        tok = self.t[self.i]
        if tok == "" or tok == ";":
            return
        if tok.isdigit():  # ELSE 100
            self.i += 1
            return
        self._statement(_HANDLERS)

    def s_fi(self) -> None:
        self.i += 1
        if not self.in_if:
            self._close_block("IF", "FI")

    def s_goto(self) -> None:
        """GOTO/GOSUB/EXITTO/SETERR/SETESC: the verb, then one line reference."""
        verb = self.t[self.i].upper()
        self.i += 1
        self._label_ref(verb)

    def s_on(self) -> None:
        t = self.t
        self.i += 1
        self.expr()
        if t[self.i].upper() not in ("GOTO", "GOSUB"):
            raise ParseError(self._unexpected(t[self.i], "expected GOTO or GOSUB in ON ... GOTO"), self.i)
        self.i += 1
        self._comma_list(self._label_ref)

    def s_call(self) -> None:
        t = self.t
        self.i += 1
        if t[self.i][:2] == "::":  # CALL ::file.bbj::label
            self.i += 1
            if t[self.i][:1] in _ID_START:
                self.i += 1
        else:
            if self._end_of_statement():
                raise ParseError("expected a program name after CALL", self.i)
            self.expr()
        while t[self.i] == ",":
            self.i += 1
            tok = t[self.i]
            if t[self.i + 1] == "=" and tok.upper() in _OPTIONS:
                self._option()
            else:
                self.expr()
        if not self._end_of_statement():
            raise ParseError(self._unexpected(t[self.i], "expected ',' between CALL arguments"), self.i)

    def s_run(self) -> None:
        self.i += 1
        if self._end_of_statement():
            return
        self.s_generic_rest()

    def s_generic_rest(self) -> None:
        t = self.t
        while not self._end_of_statement():
            tok = t[self.i]
            if t[self.i + 1] == "=" and tok.upper() in _OPTIONS:
                self._option()
            else:
                self.expr()
            if t[self.i] == ",":
                self.i += 1
                continue
            if not self._end_of_statement():
                raise ParseError(self._unexpected(t[self.i], "expected ',' or end of statement"), self.i)

    def s_def(self) -> None:
        t = self.t
        self.i += 1
        name = t[self.i]
        if name[:1] not in _ID_START or name[:2].upper() != "FN":
            raise ParseError(
                self._unexpected(
                    name, "expected a function name starting with FN after DEF (DEF FNTOTAL(X))"
                ),
                self.i,
            )
        self.i += 1
        if t[self.i] != "(":
            raise ParseError(
                self._unexpected(t[self.i], f"expected '(' and parameters after DEF {name}"), self.i
            )
        opened = self.i
        self.i += 1
        if t[self.i] != ")":
            while True:
                if t[self.i][:1] not in _ID_START:
                    raise ParseError(self._unexpected(t[self.i], "expected a parameter name"), self.i)
                self.i += 1
                if t[self.i] != ",":
                    break
                self.i += 1
        self._close_parameter_list(opened)
        if t[self.i] == "=":
            self.i += 1
            self.expr()
            return
        # A multi-line DEF FN still open is closed by the next one (as by the end of the program):
        # programs that never write FNEND compile.
        self._close_open_defs()
        self._push("DEF", False)

    def s_fnend(self) -> None:
        self.i += 1
        frames = self.frames
        if frames and frames[-1].kind == "DEF":
            self._pop_blocks(frames.pop())
            return
        raise ParseError("FNEND without DEF FN", self.stmt_start)

    def s_class(self) -> None:
        t = self.t
        verb = t[self.i].upper()
        start = self.stmt_start
        self._close_open_defs()
        if self.frames:
            raise ParseError(
                f"{verb} inside {self.frames[-1].kind}: close it with {_CLOSER[self.frames[-1].kind]} first",
                start,
            )
        frame = self._push(verb, True)
        self.i += 1
        if t[self.i].upper() in _VISIBILITY:
            self.i += 1
        if verb == "CLASS" and t[self.i].upper() == "STATIC":
            self.i += 1
        name = t[self.i]
        if name[:1] not in _ID_START or name[-1] in "$%!":
            raise ParseError(self._unexpected(name, f"expected a class name after {verb}"), self.i)
        self.i += 1
        for word in ("EXTENDS", "IMPLEMENTS"):
            if t[self.i].upper() == word:
                self.i += 1
                self._qualified_type()
                while t[self.i] == ",":
                    self.i += 1
                    self._qualified_type()
        if not self._end_of_statement():
            raise ParseError(
                self._unexpected(t[self.i], f"expected EXTENDS, IMPLEMENTS or end of the {verb} line"), self.i
            )
        frame.broken = False

    def s_classend(self) -> None:
        verb = self.t[self.i].upper()
        kind = "CLASS" if verb == "CLASSEND" else "INTERFACE"
        self.i += 1
        self._close_open_defs()
        frames = self.frames
        if frames and frames[-1].kind == "METHOD" and kind == "CLASS":
            method = frames.pop()
            self._pop_blocks(method)
            self._flag(method.line, "METHOD without METHODEND")
        if frames and frames[-1].kind == kind:
            self._pop_blocks(frames.pop())
            return
        raise ParseError(f"{verb} without {kind}", self.stmt_start)

    def s_field(self) -> None:
        t = self.t
        frames = self.frames
        if frames and frames[-1].kind == "INTERFACE":
            raise ParseError(
                "FIELD inside an INTERFACE: an INTERFACE holds only METHOD headers", self.stmt_start
            )
        if not frames or frames[-1].kind != "CLASS":
            self.s_keyed()  # the legacy FIELD verb: FIELD rec$, name$ = value; FIELD s$,f$,[i]=v$
            return
        self.i += 1
        if t[self.i].upper() in _VISIBILITY:
            self.i += 1
        if t[self.i].upper() == "STATIC":
            self.i += 1
        self._qualified_type()
        self._name("expected a field name after the type")
        if t[self.i] == "=":
            self.i += 1
            self.expr()

    def s_method(self) -> None:
        t = self.t
        frames = self.frames
        start = self.stmt_start
        self._close_open_defs()
        in_interface = bool(frames) and frames[-1].kind == "INTERFACE"
        if frames and frames[-1].kind == "METHOD":
            previous = frames.pop()
            self._pop_blocks(previous)
            self._flag(previous.line, "METHOD without METHODEND")
        if not frames or frames[-1].kind not in ("CLASS", "INTERFACE"):
            raise ParseError("METHOD outside a CLASS or INTERFACE", start)
        frame = None if in_interface else self._push("METHOD", True)
        self.i += 1
        if t[self.i].upper() in _VISIBILITY:
            self.i += 1
        if t[self.i].upper() == "STATIC":
            self.i += 1
        if t[self.i][:1] not in _ID_START and t[self.i][:2] != "::":
            raise ParseError(
                self._unexpected(t[self.i], "expected a return type or method name after METHOD"), self.i
            )
        if t[self.i + 1] != "(":
            self._qualified_type()  # return type
        name = t[self.i]
        if name[:1] not in _ID_START or name[-1] in "$%!":
            raise ParseError(self._unexpected(name, "expected a method name"), self.i)
        self.i += 1
        if t[self.i] != "(":
            raise ParseError(self._unexpected(t[self.i], f"expected '(' after method name {name}"), self.i)
        opened = self.i
        self.i += 1
        if t[self.i] != ")":
            while True:
                self._qualified_type()
                self._name("expected a parameter name after its type (BBjString name$)")
                if t[self.i] == "[":  # an array parameter: BBjArray chans$[all] (or name$[])
                    if t[self.i + 1].upper() == "ALL" and t[self.i + 2] == "]":
                        self.i += 3
                    elif t[self.i + 1] == "]":
                        self.i += 2
                if t[self.i] != ",":
                    break
                self.i += 1
        self._close_parameter_list(opened)
        if not self._end_of_statement():
            raise ParseError(
                self._unexpected(t[self.i], "expected end of line after the METHOD header"), self.i
            )
        if frame is not None:
            frame.broken = False

    def s_methodend(self) -> None:
        self.i += 1
        self._close_open_defs()
        frames = self.frames
        if frames and frames[-1].kind == "METHOD":
            frame = frames.pop()
            self._pop_blocks(frame)
            if frame.broken:
                raise ParseError(
                    f"METHODEND of the METHOD at line {frame.line}, whose header has errors", self.stmt_start
                )
            return
        raise ParseError("METHODEND without METHOD", self.stmt_start)

    def s_methodret(self) -> None:
        self.i += 1
        if not self._in_frame("METHOD"):
            raise ParseError("METHODRET outside a METHOD", self.stmt_start)
        if not self._end_of_statement():
            self.expr()

    def s_use(self) -> None:
        t = self.t
        self.i += 1
        tok = t[self.i]
        if tok[:2] == "::":
            self.i += 1
            self._name("expected a class name after USE ::file::")
            return
        if tok[:1] not in _ID_START:
            raise ParseError(
                self._unexpected(tok, "expected ::file.bbj::Class or a Java class name after USE"), self.i
            )
        self._qualified_type()

    def s_declare(self) -> None:
        t = self.t
        self.i += 1
        if t[self.i].upper() == "AUTO":
            self.i += 1
        self._qualified_type()
        self._name("expected a variable name after the type in DECLARE")

    def s_table(self) -> None:  # TABLE data is opaque to the syntax
        self.i = len(self.t) - 2

    def s_select(self) -> None:
        """SELECT (ch{,MODE=,ERR=}) template{:field,...} FROM fileid {WHERE e} {SORTBY e} {LIMIT a,b}."""
        t = self.t
        self.i += 1
        if not self._channel():
            raise ParseError(self._unexpected(t[self.i], "expected '(' and a channel after SELECT"), self.i)
        self.expr()
        while t[self.i] == ",":
            self.i += 1
            self.expr()
        if t[self.i].upper() != "FROM":
            raise ParseError(self._unexpected(t[self.i], "expected FROM in SELECT"), self.i)
        self.i += 1
        self.expr()
        for word in ("WHERE", "SORTBY", "LIMIT"):
            if t[self.i].upper() == word:
                self.i += 1
                self.expr()
                if word == "LIMIT" and t[self.i] == ",":
                    self.i += 1
                    self.expr()

    def s_iolist(self) -> None:
        self.i += 1
        if self._end_of_statement():
            raise ParseError("expected variables after IOLIST", self.i)
        self._items()

    # --- block bookkeeping ----------------------------------------------------------------------

    def _push(self, kind: str, broken: bool) -> _Frame:
        frame = _Frame(kind, self.line, broken, len(self.blocks))
        self.frames.append(frame)
        return frame

    def _close_open_defs(self) -> None:
        """Close multi-line DEF FNs left open (without FNEND) before a block word that ends them."""
        frames = self.frames
        while frames and frames[-1].kind == "DEF":
            self._pop_blocks(frames.pop())

    def _in_frame(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.frames)

    def _pop_blocks(self, frame: _Frame) -> None:
        while len(self.blocks) > frame.blocks_at:
            kind, line = self.blocks.pop()
            self._flag(line, _UNCLOSED_BLOCK[kind])

    def _block_event(self, verb: str) -> None:
        closes = _BARE_CLOSERS.get(verb)
        if closes:
            self._close_block(closes, verb)

    def _open_block(self, kind: str) -> None:
        if self.strict:
            self.blocks.append((kind, self.line))

    def _close_block(self, kind: str, verb: str) -> None:
        if not self.strict:
            return
        blocks = self.blocks
        floor = self.frames[-1].blocks_at if self.frames else 0
        for k in range(len(blocks) - 1, floor - 1, -1):
            if blocks[k][0] == kind:
                for other_kind, line in blocks[k + 1 :]:
                    self._flag(line, _UNCLOSED_BLOCK[other_kind])
                del blocks[k:]
                return
        raise ParseError(f"{verb} without {kind}", self.stmt_start)


_UNCLOSED_BLOCK = {
    "FOR": "FOR without NEXT",
    "WHILE": "WHILE without WEND",
    "REPEAT": "REPEAT without UNTIL",
    "IF": "IF ... THEN block without FI or ENDIF",
    "SWITCH": "SWITCH without SWEND",
}
_UNCLOSED_FRAME = {
    "CLASS": "CLASS without CLASSEND",
    "INTERFACE": "INTERFACE without INTERFACEEND",
    "METHOD": "METHOD without METHODEND",
    "DEF": "DEF FN without FNEND",
}
_CLOSER = {"CLASS": "CLASSEND", "INTERFACE": "INTERFACEEND", "METHOD": "METHODEND", "DEF": "FNEND"}
_BARE_CLOSERS = {"WEND": "WHILE", "SWEND": "SWITCH"}
_END_FIX = {
    "IF": "FI or ENDIF",
    "WHILE": "WEND",
    "FOR": "NEXT",
    "SWITCH": "SWEND",
    "SELECT": "SWEND",
    "FUNCTION": "FNEND (DEF FN) or METHODEND",
    "SUB": "RETURN",
    "CLASS": "CLASSEND",
    "METHOD": "METHODEND",
    "LOOP": "WEND or UNTIL",
}
# Verbs allowed directly in a CLASS / INTERFACE body (everything else needs a METHOD around it).
_CLASS_LEVEL = frozenset(
    {
        "FIELD",
        "METHOD",
        "METHODEND",
        "CLASSEND",
        "INTERFACEEND",
        "CLASS",
        "INTERFACE",
        "REM",
        "USE",
        "DECLARE",
    }
)

_HANDLERS: dict[str, Callable[[Parser], None]] = {}


def _register(func: Callable[[Parser], None], *verbs: str) -> None:
    for verb in verbs:
        _HANDLERS[verb] = func


_register(Parser.s_print, "PRINT")
_register(Parser.s_io, "READ", "WRITE", "INPUT", "EXTRACT", "FIND", "INPUTE", "INPUTN")
_register(
    Parser.s_io_record,
    "READRECORD",
    "WRITERECORD",
    "PRINTRECORD",
    "INPUTRECORD",
    "EXTRACTRECORD",
    "FINDRECORD",
)
_register(Parser.s_open, "OPEN")
_register(
    Parser.s_channel_only,
    "CLOSE",
    "REMOVE",
    "LOCK",
    "UNLOCK",
    "SQLCLOSE",
    "SQLCOMMIT",
    "SQLROLLBACK",
    "RESCLOSE",
    "LCHECKIN",
)
_register(Parser.s_channel_expr, "SQLOPEN", "SQLPREP", "CHANOPT")
_register(Parser.s_channel_items, "SQLEXEC", "SQLSET")
_register(
    Parser.s_generic,
    "ADDR",
    "BACKGROUND",
    "CALLBACK",
    "CHDIR",
    "CISAM",
    "CLEARP",
    "CLIPCLEAR",
    "CLIPFROMFILE",
    "CLIPFROMSTR",
    "CLIPLOCK",
    "CLIPTOFILE",
    "CLIPUNLOCK",
    "DATA",
    "DELETE",
    "DIRECT",
    "DROP",
    "DUMP",
    "ENTER",
    "ERASE",
    "EXECUTE",
    "FILE",
    "FILEOPT",
    "FNERR",
    "FULLTEXT",
    "INDEXED",
    "INITFILE",
    "LIST",
    "LOAD",
    "MERGE",
    "MKDIR",
    "PRECISION",
    "PREFIX",
    "PROCESS_EVENTS",
    "REDIM",
    "REMOVE_CALLBACK",
    "RENAME",
    "RESTORE",
    "RMDIR",
    "SAVE",
    "SAVEP",
    "SETDAY",
    "SETDRIVE",
    "ESCOFF",
    "ESCON",
    "SERIAL",
    "PROGRAM",
    "EDIT",
    "ENABLE",
    "DISABLE",
    "SETOPTS",
    "SETTERM",
    "SETTIME",
    "SETTRACE",
    "SORT",
    "START",
    "STRING",
    "THROW",
    "UPDATELIC",
    "WAIT",
    "XCALL",
    "XFILE",
    "BEGIN",
    "CLEAR",
    "AUTO",
    "DREAD",
    "JERASE",
    "JKEYED",
    "JOPEN",
    "RENUM",
    "RESERVE",
    "SCAN",
    "TCLOSE",
    "TCOMMIT",
    "TROLLBACK",
)
_register(
    Parser.s_bare,
    "RETURN",
    "RETRY",
    "END",
    "WEND",
    "SWEND",
    "BREAK",
    "CONTINUE",
    "BYE",
    "ESCAPE",
    "RESET",
    "ENDTRACE",
    "DENUM",
    "FLOATINGPOINT",
)
_register(Parser.s_keyed, "MKEYED", "VKEYED", "XKEYED")
_register(Parser.s_exit, "EXIT", "RELEASE", "STOP")
_register(Parser.s_let, "LET")
_register(Parser.s_dim, "DIM")
_register(Parser.s_for, "FOR")
_register(Parser.s_next, "NEXT")
_register(Parser.s_cond_block, "WHILE", "SWITCH", "UNTIL")
_register(Parser.s_repeat, "REPEAT")
_register(Parser.s_case, "CASE")
_register(Parser.s_if, "IF")
_register(Parser.s_else, "ELSE")
_register(Parser.s_fi, "FI", "ENDIF")
_register(Parser.s_goto, "GOTO", "GOSUB", "EXITTO", "SETERR", "SETESC")
_register(Parser.s_on, "ON")
_register(Parser.s_call, "CALL")
_register(Parser.s_run, "RUN")
_register(Parser.s_def, "DEF")
_register(Parser.s_fnend, "FNEND")
_register(Parser.s_class, "CLASS", "INTERFACE")
_register(Parser.s_classend, "CLASSEND", "INTERFACEEND")
_register(Parser.s_field, "FIELD")
_register(Parser.s_method, "METHOD")
_register(Parser.s_methodend, "METHODEND")
_register(Parser.s_methodret, "METHODRET")
_register(Parser.s_use, "USE")
_register(Parser.s_declare, "DECLARE")
_register(Parser.s_table, "TABLE")
_register(Parser.s_iolist, "IOLIST")
_register(Parser.s_select, "SELECT")


def is_library(text: str) -> bool:
    """True for a BBj language-server `library` file (declarations, not a program)."""
    for ll in logical_lines(text):
        toks = tokenize(ll.text)
        if toks:
            return toks == ["library"]
    return False


def check_source(text: str, *, strict: bool = False) -> list[Diagnostic]:
    """Syntax-check BBj source the way `bbjcpl -N` does; an empty list means it compiles.

    Every bad logical line gets one diagnostic (parsing resumes on the next line). Block pairing
    that bbjcpl enforces is always checked: CLASS/CLASSEND, INTERFACE/INTERFACEEND,
    METHOD/METHODEND, DEF FN/FNEND. A METHOD whose header is broken also flags its METHODEND.
    FOR/NEXT, WHILE/WEND, REPEAT/UNTIL, IF/FI and SWITCH/SWEND nesting is checked only with
    `strict=True`: legacy BBj leaves loops with GOTO and may close one FOR with several NEXTs, and
    bbjcpl accepts that.

    Method and class names are not resolved (bbjcpl -N does not either), so a syntactically valid
    call such as `btn!.addEventListener("click", x)` passes; variable type suffixes are not checked.
    """
    parser = Parser(strict=strict)
    return [Diagnostic(line, col, msg) for line, col, msg in sorted(set(parser.run(text)))]
