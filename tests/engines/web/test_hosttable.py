from hypothesis import given
from hypothesis import strategies as st

from openmtd.engines.web.hosttable import MISSING, HostTable


def test_finds_every_name_and_nothing_else() -> None:
    names = [f"d{i}.example{i % 7}.com" for i in range(5000)]
    table = HostTable.build([(n, i % 100) for i, n in enumerate(names)])
    assert len(table) == 5000
    for i, n in enumerate(names):
        assert table.values(table.get(n)) == (i % 100,)
    assert table.get("d5000.example0.com") == MISSING
    assert table.values(MISSING) == ()


def test_a_name_with_several_values_keeps_them_all() -> None:
    table = HostTable.build([("a.example", 1), ("a.example", 2), ("a.example", 1), ("b", 3)])
    assert sorted(table.values(table.get("a.example"))) == [1, 2]
    assert table.values(table.get("b")) == (3,)
    assert len(table) == 2


def test_empty_table_answers_missing() -> None:
    assert HostTable.build([]).get("example.com") == MISSING
    assert HostTable().get("") == MISSING


@given(st.sets(st.text(max_size=30), max_size=200), st.text(max_size=30))
def test_matches_a_set(names: set[str], probe: str) -> None:
    table = HostTable.build([(n, 0) for n in names])
    assert (table.get(probe) != MISSING) == (probe in names)
    for n in names:
        assert table.get(n) == 0
