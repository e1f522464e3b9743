import gzip
import json
from pathlib import Path

import pytest

from freshrec.errors import ReadError
from freshrec.readers import read_events, read_events_any
from freshrec.types import BUILTIN_EVENT_TYPES, Event

TYPES = BUILTIN_EVENT_TYPES

GOOD_CSV = (
    "user_id,item_id,type,timestamp,value,event_id\n"
    "u1,i1,click,1700000000,,\n"
    "u1,i2,rating,2023-11-14T22:13:21Z,4.5,e-2\n"
    "u2,i1,purchase,1700000100.5,,e-3\n"
)


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: object) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_csv_rows_become_events_and_empty_cells_are_missing(tmp_path: Path) -> None:
    result = read_events(write(tmp_path / "e.csv", GOOD_CSV), known_types=TYPES)
    assert result.errors == []
    assert result.lines == 4
    assert result.records == [
        Event("u1", "i1", "click", 1_700_000_000.0),
        Event("u1", "i2", "rating", 1_700_000_001.0, 4.5, "e-2"),
        Event("u2", "i1", "purchase", 1_700_000_100.5, None, "e-3"),
    ]


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.jsonl.gz", "e.JSONL"])
def test_json_lines_files(tmp_path: Path, name: str) -> None:
    text = jsonl(
        {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": 1_700_000_000},
        {"user_id": "u1", "item_id": "i1", "type": "rating", "timestamp": 5, "value": 3},
    )
    result = read_events(write(tmp_path / name, text), known_types=TYPES)
    assert result.errors == []
    assert [(e.type, e.value) for e in result.records] == [("view", None), ("rating", 3.0)]


def test_gzipped_csv(tmp_path: Path) -> None:
    result = read_events(write(tmp_path / "e.csv.gz", GOOD_CSV), known_types=TYPES)
    assert len(result.records) == 3


def test_bad_csv_rows_are_reported_by_physical_line_and_the_rest_kept(tmp_path: Path) -> None:
    text = (
        "user_id,item_id,type,timestamp,value\n"  # 1
        "u1,i1,click,1700000000,\n"  # 2
        "u1,i1,teleport,1700000000,\n"  # 3: unknown type
        '"u\n2",i1,click,1700000000,\n'  # 4-5: a quoted newline; the id has a control char
        ",i1,click,1700000000,\n"  # 6: empty user_id counts as missing
        "u3,i1,click\n"  # 7: too few fields
        "\n"  # 8: blank, skipped
        "u4,i4,rating,1700000000,\n"  # 9: rating without value
        "u5,i5,view,yesterday,\n"  # 10: bad timestamp
        "u6,i6,view,1700000000,\n"  # 11
    )
    result = read_events(write(tmp_path / "e.csv", text), known_types=TYPES)
    assert [line for line, _ in result.errors] == [3, 4, 6, 7, 9, 10]
    messages = dict(result.errors)
    assert "type" in messages[3]
    assert messages[6].startswith("user_id")
    assert "expected 5 fields" in messages[7]
    assert messages[9].startswith("value")
    assert messages[10].startswith("timestamp")
    assert [e.user_id for e in result.records] == ["u1", "u6"]
    assert result.lines == 11


def test_bad_json_lines_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    good = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1}
    text = (
        json.dumps(good) + "\n"  # 1
        "{not json\n"  # 2
        "\n"  # 3: blank
        "[1, 2]\n"  # 4: not an object
        + json.dumps({**good, "colour": "red"})  # 5: unknown field
        + "\n"
        + json.dumps({**good, "user_id": "u9"})  # 6
        + "\n"
    )
    result = read_events(write(tmp_path / "e.jsonl", text), known_types=TYPES)
    assert [line for line, _ in result.errors] == [2, 4, 5]
    assert "invalid JSON" in result.errors[0][1]
    assert "colour" in result.errors[2][1]
    assert [e.user_id for e in result.records] == ["u1", "u9"]


def test_strict_raises_on_the_first_bad_row_with_its_line(tmp_path: Path) -> None:
    text = "user_id,item_id,type,timestamp\nu1,i1,click,1\nu1,i1,click,1\nu2,i2,nope,1\nu3,,x,1\n"
    with pytest.raises(ReadError) as caught:
        read_events(write(tmp_path / "e.csv", text), known_types=TYPES, strict=True)
    assert caught.value.line == 4
    assert str(caught.value).startswith("line 4:")


def test_strict_json_lines(tmp_path: Path) -> None:
    with pytest.raises(ReadError) as caught:
        read_events(
            write(tmp_path / "e.jsonl", '\n\n{"user_id": \n'), known_types=TYPES, strict=True
        )
    assert caught.value.line == 3


def test_timestamps_far_in_the_future_are_rejected(tmp_path: Path) -> None:
    text = "user_id,item_id,type,timestamp\nu1,i1,click,99999999999\n"
    result = read_events(write(tmp_path / "e.csv", text), known_types=TYPES)
    assert result.records == []
    assert result.errors[0][0] == 2
    assert "future" in result.errors[0][1]


def test_declared_types_are_accepted(tmp_path: Path) -> None:
    text = "user_id,item_id,type,timestamp\nu1,i1,share,1\nu1,i1,view,1\n"
    result = read_events(write(tmp_path / "e.csv", text), known_types={"share": 2.0})
    assert [e.type for e in result.records] == ["share"]
    assert [line for line, _ in result.errors] == [3]


@pytest.mark.parametrize(
    ("header", "needle"),
    [("user_id,item_id,type,timestamp,colour", "colour"), ("user_id,item_id,type", "timestamp")],
)
def test_a_bad_csv_header_fails_the_whole_file_at_line_1(
    tmp_path: Path, header: str, needle: str
) -> None:
    with pytest.raises(ReadError, match=needle) as caught:
        read_events(write(tmp_path / "e.csv", header + "\n"), known_types=TYPES)
    assert caught.value.line == 1


def test_empty_csv_needs_a_header(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="header"):
        read_events(write(tmp_path / "e.csv", ""), known_types=TYPES)


def test_unreadable_inputs_raise_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="unknown file type"):
        read_events(write(tmp_path / "e.txt", GOOD_CSV), known_types=TYPES)
    with pytest.raises(ReadError):
        read_events(tmp_path / "missing.csv", known_types=TYPES)
    (tmp_path / "fake.csv.gz").write_text("not gzip at all")
    with pytest.raises(ReadError, match="unreadable"):
        read_events(tmp_path / "fake.csv.gz", known_types=TYPES)
    (tmp_path / "latin.csv").write_bytes(b"user_id,item_id,type,timestamp\nu\xe9,i,view,1\n")
    with pytest.raises(ReadError, match="unreadable"):
        read_events(tmp_path / "latin.csv", known_types=TYPES)


@pytest.mark.parametrize("name", ["big.csv", "big.csv.gz"])
def test_progress_adds_up_to_the_file_size(tmp_path: Path, name: str) -> None:
    rows = "".join(f"u{n},i{n % 7},view,{1_700_000_000 + n}\n" for n in range(10_000))
    path = write(tmp_path / name, "user_id,item_id,type,timestamp\n" + rows)
    calls: list[int] = []
    result = read_events(path, known_types=TYPES, progress=calls.append)
    assert len(result.records) == 10_000
    assert len(calls) > 1
    assert all(step >= 0 for step in calls)
    assert sum(calls) == path.stat().st_size


def test_read_events_any_reads_files_and_movielens_directories(tmp_path: Path) -> None:
    from_file = read_events_any(write(tmp_path / "e.csv", GOOD_CSV), TYPES)
    assert len(from_file.records) == 3
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t10\tx\t881250950\n")
    from_dir = read_events_any(folder, TYPES)
    assert from_dir.records == [Event("1", "10", "rating", 881_250_949.0, 4.0)]
    assert from_dir.errors == [(2, "u.data: value: must be a number, got 'x'")]
    assert from_dir.lines == 2
