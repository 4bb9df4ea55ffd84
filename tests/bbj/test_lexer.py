"""Tokens and logical lines: suffixes, literals, mnemonics, program paths, continuation positions."""

from __future__ import annotations

from bbjcoder.bbj.lexer import logical_lines, token_offsets, tokenize


def test_identifiers_keep_their_type_suffix() -> None:
    assert tokenize("a$ b% c! d e@ rem15 remark") == ["a$", "b%", "c!", "d", "e@", "rem15", "remark"]


def test_literals_and_mnemonics_are_single_tokens() -> None:
    assert tokenize('x$ = "say ""hi""" + $0D0A$') == ["x$", "=", '"say ""hi"""', "+", "$0D0A$"]
    assert tokenize("PRINT 'CS',@(1,2)") == ["PRINT", "'CS'", ",", "@(", "1", ",", "2", ")"]
    assert tokenize("x = .5 + 10.25") == ["x", "=", ".5", "+", "10.25"]


def test_program_paths_are_single_tokens() -> None:
    assert tokenize("use ::lib/util.bbj::Util") == ["use", "::lib/util.bbj::", "Util"]


def test_unterminated_string_runs_to_end_of_line() -> None:
    assert tokenize('PRINT "abc, d') == ["PRINT", '"abc, d']


def test_foreign_operators_are_single_tokens() -> None:
    assert tokenize("a == b != c && d // e") == ["a", "==", "b", "!=", "c", "&&", "d", "//", "e"]


def test_object_suffix_binds_before_equals() -> None:
    assert tokenize("x!=y!") == ["x!", "=", "y!"]


def test_offsets_match_tokens() -> None:
    text = '  PRINT  "a",b$'
    assert [text[o] for o in token_offsets(text)] == ["P", '"', ",", "b"]
    assert len(token_offsets(text)) == len(tokenize(text))


def test_continuation_positions_map_back_to_physical_lines() -> None:
    (first, second) = list(logical_lines('x$ = "a" +\n:"b"\ny = 1'))
    assert first.text == 'x$ = "a" +"b"' and first.first_line == 1
    offset = first.text.index('"b"')
    assert first.position(offset) == (2, 2)
    assert first.position(0) == (1, 1)
    assert second.first_line == 3


def test_byte_order_mark_and_crlf_are_ignored() -> None:
    assert [ll.text for ll in logical_lines("\ufeffa\r\nb\r\n")] == ["a", "b", ""]
