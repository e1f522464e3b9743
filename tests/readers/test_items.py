import gzip
import json
from pathlib import Path

import pytest

from freshrec.errors import ReadError
from freshrec.readers import read_items


def test_csv_items_with_categories_json_cells_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,title,text,categories,properties,created_at,vector,available\n"
        'i1,"Blue Train","Hard bop, 1957",jazz|bop,"{""price"": 9.5}",2024-01-02T00:00:00Z,'
        '"[0.5, 1]",true\n'
        "i2,,,,,,,false\n",
        encoding="utf-8",
    )
    result = read_items(path)
    assert result.errors == []
    first, second = result.records
    assert first.title == "Blue Train"
    assert first.text == "Hard bop, 1957"
    assert first.categories == ("jazz", "bop")
    assert first.properties == {"price": 9.5}
    assert first.created_at == 1_704_153_600.0
    assert first.vector == (0.5, 1.0)
    assert first.available is True
    assert (second.item_id, second.title, second.categories, second.available) == (
        "i2",
        "",
        (),
        False,
    )


def test_json_lines_items(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    rows = [
        {"item_id": "i1", "title": "A", "categories": ["x", "y"], "properties": {"k": 1}},
        {"item_id": "i2", "created_at": 1_700_000_000, "vector": [1, 2, 3]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = read_items(path)
    assert [item.item_id for item in result.records] == ["i1", "i2"]
    assert result.records[0].categories == ("x", "y")
    assert result.records[1].vector == (1.0, 2.0, 3.0)
    assert result.lines == 2


def test_bad_item_rows_are_reported_by_line_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,title,properties,vector,available\n"  # 1
        "i1,ok,,,\n"  # 2
        "i2,bad json,{oops,,\n"  # 3
        "i3,bad vector,,[],\n"  # 4
        ",no id,,,\n"  # 5
        "i5,bad flag,,,maybe\n"  # 6
        'i6,"two\nlines",,"[1, ""x""]",\n'  # 7-8: vector not numbers
        "i7,ok,,,\n",  # 9
        encoding="utf-8",
    )
    result = read_items(path)
    assert [line for line, _ in result.errors] == [3, 4, 5, 6, 7]
    fields = [message.split(":")[0].split(" is required")[0] for _, message in result.errors]
    assert fields == ["properties", "vector", "item_id", "available", "vector"]
    assert [item.item_id for item in result.records] == ["i1", "i7"]


def test_bad_json_lines_items(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl.gz"
    text = '{"item_id": "i1"}\n"just a string"\n{"item_id": "i3", "categories": 5}\n'
    path.write_bytes(gzip.compress(text.encode()))
    result = read_items(path)
    assert [line for line, _ in result.errors] == [2, 3]
    assert [item.item_id for item in result.records] == ["i1"]


def test_strict_raises_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title\ni1,a\ni2,b\n,c\n", encoding="utf-8")
    with pytest.raises(ReadError) as caught:
        read_items(path, strict=True)
    assert caught.value.line == 4


def test_unknown_column_fails_at_the_header(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,colour\ni1,red\n", encoding="utf-8")
    with pytest.raises(ReadError, match="colour") as caught:
        read_items(path)
    assert caught.value.line == 1
