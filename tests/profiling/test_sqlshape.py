"""Which columns a statement filters and sorts on, and the candidate indexes from them."""

from __future__ import annotations

from harness.profiling.sqlshape import candidate_indexes, column_use

COLUMNS = ("id", "name", "category", "price", "quantity")


def test_filtered_and_sorted_columns_of_one_table() -> None:
    sql = (
        "SELECT id FROM items WHERE ((category IN (?, ...)) AND (quantity >= ?)) "
        "AND name LIKE ? ORDER BY price DESC, id DESC LIMIT ? OFFSET ?"
    )
    use = column_use(sql, COLUMNS)
    assert use.equality == ("category",)
    assert use.ranges == ("quantity", "name")
    assert use.order_by == ("price", "id")
    assert column_use("SELECT name FROM items", COLUMNS).filtered == ()
    assert column_use("SELECT 1 FROM t WHERE t.price = ANY($1)", COLUMNS).equality == ("price",)


def test_candidates_skip_columns_an_index_already_leads() -> None:
    use = column_use("SELECT 1 FROM items WHERE category = ? ORDER BY price", COLUMNS)
    assert candidate_indexes(use, {"id"}, sorted_scan=True) == [
        ("category",),
        ("category", "price"),
    ]
    assert candidate_indexes(use, {"id", "category", "price"}, sorted_scan=False) == []


def test_a_candidate_an_existing_index_already_starts_with_is_dropped() -> None:
    from harness.profiling.sqlshape import not_covered

    existing = [("customer", "id"), ("id",)]
    assert not_covered([("customer",), ("customer", "id"), ("amount",)], existing) == [("amount",)]
