"""The builtin checker, construct by construct: what it accepts, what it rejects and where it says so."""

from __future__ import annotations

import pytest

from bbjcoder.bbj import Diagnostic, check_source


def lines_flagged(src: str, *, strict: bool = False) -> list[int]:
    return sorted({d.line for d in check_source(src, strict=strict)})


def messages(src: str, *, strict: bool = False) -> str:
    return " | ".join(d.message for d in check_source(src, strict=strict))


VALID = {
    "line-numbers": '0010 PRINT "x"\n0020 GOTO 0010\n',
    "label": 'start:\nPRINT "a"\ngoto start\n',
    "label-with-statement": 'loop: PRINT "a"; goto loop\n',
    "joined": "a = 1; b = 2; PRINT a, b\n",
    "empty-statement-semicolon": 'PRINT "x";\n',
    "continuation": 'x$ = "a" +\n:"b" +\n:"c"\n',
    "rem": 'rem anything: goes } { // here "\nREM\n',
    "rem-after-statement": "x = 1; rem set x\n",
    "remark-identifier": "remark = 1\nrem15 = remark + 1\n",
    "suffixes": 'a$ = "s"; b% = 1; c! = null(); d = 1.5; e@ = f@\n',
    "print-question": '? "hello", 1\n',
    "print-mnemonics": "PRINT 'CS','BR',@(10,5),\"x\",'ER'\n",
    "print-trailing-comma": 'PRINT "no newline",\n',
    "print-channel": 'PRINT (1,ERR=bad)"x",y\nbad: end\n',
    "print-sysgui": "PRINT (sysgui)'WINDOW'(10,10,200,100,\"T\",$00010003$,$$)\n",
    "io-options": "READ (1,KEY=k$,DOM=nf,ERR=*NEXT,END=eof,TIM=5)a$,b\nnf: eof:\n",
    "read-record": "READ RECORD(1,IND=2,ERR=bad)rec$\nbad: end\n",
    "write-record": "WRITE RECORD(2,KEY=k$)rec$\n",
    "extract-find-remove": "EXTRACT(1,KEY=k$)a$\nFIND(1,KEY=k$,DOM=*NEXT)a$\nREMOVE(1,KEY=k$,DOM=*NEXT)\n",
    "input": 'INPUT "Name: ",name$\n',
    "open-close": 'OPEN (1,MODE="O_READ",ERR=no)"f.txt"\nCLOSE (1)\nno: stop\n',
    "iol": "IOLIST a$, b, c$\nWRITE (1,IOL=0010)\n",
    "dim-redim": 'DIM a$(10,"x"), b[3,4], c$:"id:c(6)"\nREDIM b[5]\n',
    "let": 'LET a = 1, b$ = "x"\n',
    "for-next": "FOR i = 1 TO 10 STEP 2\nNEXT i\nFOR j = 1 TO 2; NEXT\n",
    "while-wend": "WHILE x < 10\nx = x + 1\nWEND\n",
    "repeat-until": "REPEAT\nx = x + 1\nUNTIL x > 10\n",
    "if-block": "IF x THEN\nPRINT 1\nELSE\nPRINT 2\nFI\nif y then\nendif\n",
    "if-single": 'IF a = 1 THEN PRINT "a" ELSE PRINT "b"\nIF a THEN 100\n',
    "if-no-then": "IF a > 1 b = 2\n",
    "switch": "SWITCH x\nCASE 1\nBREAK\nCASE 2, 3\nCASE DEFAULT\nSWEND\n",
    "continue-break": "WHILE 1\nCONTINUE\nBREAK\nWEND\n",
    "gosub-return": "GOSUB sub\nEND\nsub: RETURN\n",
    "on-goto": "ON x GOTO a, b, c\nON y GOSUB 100, 200\n",
    "exitto": "EXITTO done\ndone:\n",
    "seterr": "SETERR oops\nSETESC 0\noops: RETRY\n",
    "call": 'CALL "prog.bbj::sub", a$, b[ALL], ERR=bad\nCALL ::util.bbj::helper, x\n',
    "run-enter-exit": 'RUN "next.bbj", ERR=*NEXT\nENTER a$, b\nEXIT\nEXIT 2\nSTOP\nEND\nRELEASE\n',
    "def-fn-single": 'DEF FNA(X) = X * 2\nDEF FNB$(A$, N) = A$(1, N)\nPRINT FNA(2), FNB$("abc", 2)\n',
    "def-fn-block": "DEF FNTOTAL(A, B)\nLET C = A + B\nRETURN C\nFNEND\n",
    "sql": 'SQLOPEN(1,ERR=e)"ds"\nSQLPREP(1)"select 1"\nSQLEXEC(1)a$,b\nr$ = SQLFETCH(1,END=e)\nSQLCLOSE(1)\ne: end\n',
    "process-events": "PROCESS_EVENTS\nPROCESS_EVENTS,TIM=1\n",
    "use-declare": "use java.util.HashMap\nuse ::lib.bbj::Thing\ndeclare java.util.HashMap m!\ndeclare auto BBjString[] a!\n",
    "new-java": "m! = new java.util.HashMap()\na! = new String[3]\n",
    "method-chain": 'sg! = BBjAPI().getSysGui()\nwnd!.addButton(1,1,1,1,1,"x").setCallback(1,"h")\n',
    "add-event-listener-is-syntax": 'btn!.addEventListener("click", h!)\n',
    "operators": "x = -a ^ 2 * b / c + d - e\nIF a = b OR c <> d AND e <= f AND g >= h and i < j or k > l THEN x = 1\n",
    "not-prefix": "IF !x THEN y = 1\nIF !(a = b) THEN y = 2\n",
    "substrings": 'a$ = b$(1,3) + b$(4)\nb$(2,1) = "x"\n',
    "functions": 'x = LEN(a$) + POS("a"=a$) + NUM(b$) + FNX(1)\nc$ = STR(x:"##0.00") + CVS(a$, 3)\n',
    "string-literals": 'a$ = "say ""hi"""\nb$ = $0D0A$\nc$ = ""\n',
    "numbers": "x = .5 + 1. + 10.25 + 007\n",
    "keyword-member-names": "x!.print(); y!.open(1); z = x!.read\n",
    "class-full": (
        "class public Foo extends ::base.bbj::Base implements java.io.Serializable, Other\n"
        'field private static BBjString Name$ = "x"\n'
        "field public java.util.HashMap[] Maps!\n"
        "method public Foo(BBjString n$)\n#Name$ = n$\n#super!.init()\nmethodend\n"
        "method public static BBjString[] names()\nmethodret null()\nmethodend\n"
        "method private void nothing()\nmethodret\nmethodend\n"
        "classend\n"
    ),
    "interface": "interface public Shape extends Other\nmethod public BBjNumber area()\ninterfaceend\n",
    "throw-wait-precision": 'THROW "bad", 42\nWAIT 1\nPRECISION 4\nBEGIN\nCLEAR EXCEPT a$\n',
    "js-style-semicolons": 'x = 1;\nPRINT "a";;\n',
    "hash-method-call": "class public A\nmethod public void f()\n#g()\n#this!.g()\nmethodend\nmethod public void g()\nmethodend\nclassend\n",
    "crlf": 'PRINT "a"\r\nPRINT "b"\r\n',
    "mask-in-print": 'PRINT x:"##0.00", y\n',
    "input-verify": 'INPUT x$:("Y"=yes,"N"=no)\nyes: no:\n',
}


@pytest.mark.parametrize("src", list(VALID.values()), ids=list(VALID))
def test_valid_construct_has_no_diagnostics(src: str) -> None:
    assert check_source(src) == []


INVALID = {
    # fabricated syntax code LLMs produce
    "function": ("function foo()\n", [1], "`function` is not BBj"),
    "end-if": ("IF x THEN\nPRINT 1\nend if\n", [3], "`end if` is not BBj: use FI or ENDIF"),
    "brace-close": ("IF x THEN\n}\n", [2], "`}` blocks are not BBj"),
    "brace-open": ("while x < 1 {\n", [1], "`{` blocks are not BBj"),
    "slash-comment": ("// comment\n", [1], "`//` comments are not BBj"),
    "var": ("var x = 5\n", [1], "`var` is not BBj"),
    "import": ("import java.util.HashMap\n", [1], "`import` is not BBj"),
    "double-equals": ("IF a == b THEN x = 1\n", [1], "`==` is not BBj"),
    "not-equals": ("IF a != b THEN x = 1\n", [1], "`!=` is not BBj"),
    "and-and": ("IF a && b THEN x = 1\n", [1], "`&&` is not BBj"),
    "plus-equals": ("x += 1\n", [1], "`+=` is not BBj"),
    "single-quoted-string": ("x$ = 'hello world'\n", [1], "single quotes"),
    "generics": ("m! = new java.util.ArrayList<String>()\n", [1], "expected '('"),
    "try-catch": ("try\n", [1], "`try` is not BBj"),
    # mutations of good code
    "unclosed-paren": ("x = (1 + 2\n", [1], "expected ')' to close the parenthesis opened at column 5"),
    "unclosed-args": ("x = len(a$\n", [1], "expected ')' to close the argument list opened at column 8"),
    "unterminated-string": ('PRINT "abc\n', [1], "unterminated string literal"),
    "missing-comma": ('PRINT "a" "b"\n', [1], "expected ',' between items"),
    "bad-option": ("READ (1,FOO=3)a$\n", [1], "unknown option FOO="),
    "option-without-label": ("READ (1,ERR=)a$\n", [1], "expected a label or line number after ERR="),
    "option-missing-equals": ("READ (1,ERR)a$\n", [1], "expected '=' after option ERR"),
    "open-without-channel": ('OPEN "file"\n', [1], "expected '(' and a channel after OPEN"),
    "for-without-to": ("FOR i = 1 10\n", [1], "expected TO in FOR"),
    "misspelled-verb": ('PRNT "x"\n', [1], "expected '=' or a method call"),
    "bare-name": ("foo\n", [1], "is not a statement"),
    "trailing-junk": ("x = 1 2\n", [1], "expected ';' or end of line"),
    "def-without-fn": ("DEF total(x) = x\n", [1], "starting with FN"),
    "goto-without-label": ("GOTO\n", [1], "expected a label or line number after GOTO"),
    "operator-at-end": ("x = 1 +\n", [1], "expected an expression"),
    "keyword-as-operand": ("IF x = THEN y = 1\n", [1], "found keyword THEN"),
    "end-takes-nothing": ("END x\n", [1], "`end x` is not BBj"),
    "method-call-without-parens-as-statement": ("x!.foo\n", [1], "is not a statement"),
}


@pytest.mark.parametrize(("src", "bad", "message"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_construct_is_flagged_with_a_useful_message(src: str, bad: list[int], message: str) -> None:
    assert lines_flagged(src) == bad
    assert message in messages(src)


def test_columns_point_at_the_offending_token() -> None:
    assert check_source('PRINT "a" "b"\n') == [Diagnostic(1, 11, "expected ',' between items, found '\"b\"'")]
    (diag,) = check_source("  x = y +* 2\n")
    assert (diag.line, diag.column) == (1, 10)


def test_keywords_are_case_insensitive() -> None:
    assert check_source('print "a"\nPrInT "b"\nfor i = 1 to 2\nnext i\nIf a Then b = 1 Else b = 2\n') == []


def test_keywords_can_be_used_as_variable_names_in_assignments() -> None:
    assert check_source('step = 1\nname$ = "x"\nprint.x = 2\n') == []


# --- structure --------------------------------------------------------------------------------


def test_class_without_classend_flags_the_class_line() -> None:
    src = "class public A\nmethod public void f()\nmethodend\n"
    assert [d.message for d in check_source(src)] == ["CLASS without CLASSEND"]
    assert lines_flagged(src) == [1]


def test_classend_without_class_is_flagged() -> None:
    assert lines_flagged('PRINT "a"\nclassend\n') == [2]


def test_method_without_methodend_flags_the_method_line_only() -> None:
    src = "class public A\nmethod public void f()\nx = 1\nmethod public void g()\nmethodend\nclassend\n"
    assert lines_flagged(src) == [2]
    assert "METHOD without METHODEND" in messages(src)


def test_method_without_methodend_before_classend() -> None:
    src = "class public A\nmethod public void f()\nx = 1\nclassend\n"
    assert lines_flagged(src) == [2]


def test_broken_method_header_also_flags_its_methodend_but_not_the_rest() -> None:
    src = (
        "class public A\n"
        "method public void f(\n"  # 2: broken header
        "x = 1\n"
        "methodend\n"  # 4: flagged with it
        "method public void g()\n"
        "methodend\n"
        "classend\n"
    )
    assert lines_flagged(src) == [2, 4]
    assert "whose header has errors" in messages(src)


def test_methodend_without_method_is_flagged() -> None:
    assert lines_flagged("class public A\nmethodend\nclassend\n") == [2]


def test_method_outside_class_is_flagged() -> None:
    assert "METHOD outside a CLASS" in messages("method public void f()\n")


def test_statement_in_class_body_outside_methods_compiles() -> None:
    src = 'class public A\nPRINT "x"\nmethod public void f()\nmethodend\nclassend\n'
    assert check_source(src) == []


def test_statement_in_interface_body_is_flagged() -> None:
    src = 'interface public I\nPRINT "x"\nmethod public void f()\ninterfaceend\n'
    assert lines_flagged(src) == [2]


def test_field_inside_method_is_flagged() -> None:
    src = "class public A\nmethod public void f()\nfield public BBjNumber x\nmethodend\nclassend\n"
    assert lines_flagged(src) == [3]


def test_nested_class_is_flagged() -> None:
    src = "class public A\nclass public B\nclassend\n"
    assert 2 in lines_flagged(src)


def test_interface_methods_have_no_methodend() -> None:
    src = "interface public I\nmethod public void f()\nmethodend\ninterfaceend\n"
    assert lines_flagged(src) == [3]


def test_interface_without_interfaceend_is_flagged() -> None:
    assert messages("interface public I\nmethod public void f()\n") == "INTERFACE without INTERFACEEND"


def test_def_fn_pairing() -> None:
    assert lines_flagged("DEF FNA(X)\nRETURN X\n") == []  # bbjcpl ends an open DEF FN at EOF
    assert lines_flagged("DEF FNA(X)\nRETURN X\nFNEND\nFNEND\n") == [4]
    assert lines_flagged("FNEND\n") == [1]
    # the next DEF FN closes an open one, as the end of the program does
    assert lines_flagged("DEF FNA(X)\nDEF FNB(Y)\nFNEND\nFNEND\n") == [4]


def test_loop_and_if_nesting_is_not_checked_by_default() -> None:
    legacy = "FOR i = 1 TO 10\nIF i = 5 THEN GOTO out\nNEXT i\nNEXT i\nout: WHILE 1\nIF x THEN\n"
    assert check_source(legacy) == []


def test_strict_mode_checks_loop_and_if_nesting() -> None:
    assert lines_flagged("FOR i = 1 TO 2\n", strict=True) == [1]
    assert lines_flagged("NEXT i\n", strict=True) == [1]
    assert lines_flagged("WHILE 1\nFOR i = 1 TO 2\nWEND\n", strict=True) == [2]
    assert lines_flagged("REPEAT\nIF x THEN\nFI\nUNTIL 1\nSWITCH x\nCASE 1\nSWEND\n", strict=True) == []
    assert lines_flagged("IF x THEN\nPRINT 1\n", strict=True) == [1]
    assert messages("SWITCH x\n", strict=True) == "SWITCH without SWEND"
    assert messages("UNTIL x\n", strict=True) == "UNTIL without REPEAT"


def test_strict_mode_reports_blocks_left_open_in_a_method() -> None:
    src = "class public A\nmethod public void f()\nwhile 1\nmethodend\nclassend\n"
    assert lines_flagged(src, strict=True) == [3]


def test_single_line_if_opens_no_block_in_strict_mode() -> None:
    assert check_source('IF x THEN PRINT "a" ELSE PRINT "b"\nIF y THEN z = 1 FI\n', strict=True) == []


# --- error recovery ---------------------------------------------------------------------------


def test_every_bad_line_is_reported() -> None:
    src = 'x = 1\nx = (\nPRINT "ok"\nend if\ny = 2\n}\nfunction f()\nz = 3\n'
    assert lines_flagged(src) == [2, 4, 6, 7]


def test_physical_line_numbers_survive_continuation_lines() -> None:
    src = (
        'a$ = "x" +\n'  # 1
        ':"y" +\n'  # 2
        ':"z"\n'  # 3
        "b = (1\n"  # 4: bad
        "c$ = 1 +\n"  # 5
        ": * 2\n"  # 6: the bad token is on the continuation line
        'PRINT "fine"\n'  # 7
        "end if\n"  # 8: bad
    )
    diags = check_source(src)
    assert [d.line for d in diags] == [4, 6, 8]
    assert diags[1].column == 3  # ": * 2": the '*' is column 3 of the physical line


def test_one_bad_statement_does_not_hide_block_structure() -> None:
    src = "class public A\nmethod public void f()\nx = (\nmethodend\nclassend\n"
    assert lines_flagged(src) == [3]


def test_diagnostics_are_sorted_by_line_and_column() -> None:
    src = "class public A\nmethod public void f()\nx = (\nclassend\n"
    diags = check_source(src)
    assert diags == sorted(diags)
    assert [d.line for d in diags] == [2, 3]


NEW_REJECTIONS = {
    "function-on-left": (
        "ctrl(sysgui,105,0)=name$\n",
        "cannot assign to ctrl(...): a function call is not a variable",
    ),
    "str-on-left": ("str(x)=1\n", "cannot assign to str(...)"),
    "bare-call-with-dot-inside": (
        "alert(msg!.toString())\n",
        "a call statement must call a method on an object",
    ),
    "misspelled-read-call": ("raed(ch,key=rec.field$)\n", "'raed'(...) is not a statement"),
    "kno-option": (
        "read (1,kno=2,key=k$) a$\n",
        "KNO= is ProvideX, not BBj: BBj selects the key chain with KNUM=",
    ),
    "ucs": ('u$ = ucs("a")\n', "UCS() is not a BBj function: use CVS(s$,4)"),
    "lcs": ('l$ = lcs("A")\n', "LCS() is not a BBj function: use CVS(s$,8)"),
}


@pytest.mark.parametrize(("src", "message"), list(NEW_REJECTIONS.values()), ids=list(NEW_REJECTIONS))
def test_rejections_name_the_fix(src: str, message: str) -> None:
    assert lines_flagged(src) == [1]
    assert message in messages(src)


def test_substring_assignment_and_def_fn_stay_valid_beside_the_function_rule() -> None:
    assert check_source('a$(1,3)="x"\nDEF FNA(X)=X*2\nLET b$(2)="y"\nFOR i=1 TO 2\nNEXT i\n') == []


def test_a_language_server_library_file_is_not_a_program() -> None:
    diags = check_source("library\n\n/@@\ndoc\n@/\nABS(num:num): num\n")
    assert [d.line for d in diags] == [1]
    assert diags[0].message.startswith(
        "not a BBj program: `library` starts a BBj language-server library file"
    )


def test_and_is_a_function_in_operand_position_and_an_operator_between_operands() -> None:
    assert check_source("if a and and(b$,$01$)=$01$ then x = 1\n") == []
    assert lines_flagged("x = and\n") == [1]


def test_not_prefix_applies_to_one_operand() -> None:
    assert check_source("f! = !f!\nif !#isReady() and !(a > b) then x = 1\n") == []
    assert "expected an expression" in messages("if ! then x = 1\n")
