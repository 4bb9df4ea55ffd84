"""The BBj API table: derived from the language server's metadata, looked up, and `check_api` warnings."""

from __future__ import annotations

from pathlib import Path

from bbjcoder.bbj import check_api, load_api
from bbjcoder.bbj.apitable import main as apitable_main
from bbjcoder.bbj.apitable import parse_functions


def test_table_has_the_bbj_classes_methods_functions_events_and_verbs() -> None:
    api = load_api()
    assert len(api.classes) > 300 and api.method_count > 3500
    assert api.has_class("BBjWindow") and api.has_class("bbjwindow")
    assert api.has_method("addButton") and "BBjWindow" in api.classes_with_method("addButton")
    assert api.function_arity("cvs") == (2, 2)
    assert api.function_arity("CTRL") == (1, 4)
    assert api.function_arity("MAX") == (1, None)
    assert api.is_event("ON_BUTTON_PUSH") and api.is_verb("SQLPREP")
    assert "SSN" in api.variables and "*NEXT" in api.labels


def test_ucs_and_lcs_are_not_bbj_functions() -> None:
    api = load_api()
    assert not api.is_function("UCS") and not api.is_function("LCS")


def test_nearest_names_suggest_the_real_spelling() -> None:
    api = load_api()
    assert api.nearest("adButton", "method") == "addButton"
    assert api.nearest("CVX", "function") in {"CVS", "CVT"}
    assert api.nearest("zzzzqqq", "function") is None


def test_function_signatures_count_options_apart_from_arguments() -> None:
    text = (
        "/@@\nNOT(x) in a doc block is ignored\n@/\nKEY(channelno: int, ERR?!:lineref, IND?!:int): string\n"
    )
    text += "POS(expr: any, interval?: int, occurrence?: int): int\nFNnum(expr: num): num\n"
    assert parse_functions(text) == {"KEY": [1, 1], "POS": [1, 3]}


def test_check_api_warns_about_unknown_methods_functions_and_argument_counts() -> None:
    source = "\n".join(
        [
            "x$ = ucs(a$)",
            "w!.adButton(101, 10, 10, 80, 25)",
            "y$ = cvs(a$)",
            'z$ = str(1:"##0")',
            "read record(1, key=k$, err=done) r$",
            "k$ = key(1, err=done)",
            "q$ = a$(1, 3)",
            "v = fnTotal(1, 2, 3)",
            "b! = BBjAPI().getSysGui()",
            "n = frobnicate(1)",
            'if a$ = "X" or (b = 1 and (c = 2)) then x = and(a$, $01$)',
            "m! = new java.util.ArrayList(); p$ = rec.name$(1, 3)",
        ]
    )
    found = [(d.line, d.message) for d in check_api(source)]
    assert found == [
        (1, "api: UCS() is not BBj: use CVS(s$,4) to convert to upper case"),
        (2, "api: method adButton() exists on no BBj class (did you mean addButton?)"),
        (3, "api: CVS() takes 2 arguments, found 1"),
        (10, "api: frobnicate() is not a BBj built-in function"),
    ]


def test_check_api_warns_about_unknown_event_names_in_callback() -> None:
    source = "callback(ON_BUTTON_PUSH, pushed, 0, 101)\ncallback(ON_BUTON_PUSH, pushed, 0, 101)\n"
    found = check_api(source)
    assert [(d.line, d.message) for d in found] == [
        (2, "api: ON_BUTON_PUSH is not a BBj event name (did you mean ON_BUTTON_PUSH?)")
    ]


def test_check_api_accepts_methods_the_source_declares() -> None:
    source = "class public Shop\n  field public BBjString Owner$\n  method public void restock(BBjInt n%)\n"
    source += '  methodend\nclassend\ns! = new Shop()\ns!.restock(3)\ns!.setOwner("x")\n'
    assert check_api(source) == []


def test_shipped_table_matches_the_reference(bbj_real: Path, tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "src" / "bbjcoder" / "bbj" / "api_table.json"
    out = tmp_path / "api_table.json"
    assert apitable_main([str(bbj_real / "reference"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
    assert "MIT" in (tmp_path / "api_table.LICENSE").read_text(encoding="utf-8")


def test_bbjvector_methods_come_from_its_basis_page_in_the_table() -> None:
    # The language server's metadata names BBjVector only as a parameter type; the table adds
    # its documented methods, so `check --api` knows them like any other class's.
    api = load_api()
    assert api.has_class("BBjVector")
    assert api.method_arities("BBjVector", "insertItem") == (2,)
    assert api.method_arities("BBjVector", "size") == (0,)
    source = 'v! = BBjAPI().makeVector()\nv!.setItem(0, "b")\nv!.insertItem(1, "c")\nx$ = v!.getItem(0)\n'
    assert check_api(source) == []
