"""`text_table`: plain aligned columns that keep within their width."""

from __future__ import annotations

from daemon.cli.output import text_table


def test_columns_align_and_numbers_are_right_aligned():
    """Each column is as wide as its widest cell; an all-number column is right-aligned."""
    table = text_table(["name", "count"], [["a", "5"], ["long name", "12"]])
    expected = ["name       count", "---------  -----", "a              5", "long name     12"]
    assert expected == table.splitlines()


def test_the_last_column_is_cut_to_the_width():
    """A long last cell is cut with an ellipsis so that no line exceeds the width."""
    table = text_table(["id", "reason"], [["1", "x" * 200]], width=40)
    lines = table.splitlines()
    assert 40 == max(len(line) for line in lines)
    assert lines[-1].endswith("x…")


def test_no_rows_is_the_header_and_its_rule():
    """An empty table still shows what its columns would be."""
    assert ["id  reason", "--  ------"] == text_table(["id", "reason"], []).splitlines()
