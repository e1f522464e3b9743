import os
from pathlib import Path

import pytest

from freshrec.errors import ReadError
from freshrec.readers import read_movielens
from freshrec.types import Event

GENRES = (
    "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
    "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
    "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"
)


def flags(*on: int) -> str:
    return "|".join("1" if k in on else "0" for k in range(19))


def make_100k(folder: Path) -> Path:
    folder.mkdir()
    (folder / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    (folder / "u.genre").write_text(GENRES)
    lines = [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags(3, 4, 5)}",
        f"2|Café Society (1995)|01-Jan-1939||http://y|{flags(8)}",
        f"267|unknown||||{flags(0)}",
    ]
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


def test_100k_layout(tmp_path: Path) -> None:
    data = read_movielens(make_100k(tmp_path / "ml-100k"))
    assert data.layout == "100k"
    assert data.errors == []
    assert data.lines == 2
    assert data.events == [
        Event("196", "242", "rating", 881_250_949.0, 3.0),
        Event("186", "302", "rating", 891_717_742.0, 3.0),
    ]
    toy, cafe, unknown = data.items
    assert toy.item_id == "1"
    assert toy.title == "Toy Story (1995)"
    assert toy.categories == ("Animation", "Children's", "Comedy")
    assert toy.text == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert toy.created_at == 788_918_400.0  # 1995-01-01 UTC
    assert cafe.title == "Café Society (1995)"  # latin-1 decoded
    assert cafe.created_at is None  # 1939 is before the epoch
    assert unknown.categories == ()
    assert unknown.text == "unknown."


def test_100k_bad_rows_keep_the_rest(tmp_path: Path) -> None:
    folder = make_100k(tmp_path / "ml")
    (folder / "u.data").write_text("1\t2\t3\t4\n1\t2\t3\n\n1\t\t3\t4\n5\t6\t4\t881250949\n")
    with (folder / "u.item").open("a", encoding="latin-1") as out:
        out.write("99|Short row|01-Jan-1995\n")
    data = read_movielens(folder)
    assert data.errors == [
        (2, "u.data: expected 4 fields, got 3"),
        (4, "u.data: item_id: must not be empty"),
        (4, "u.item: expected 24 fields, got 3"),
    ]
    assert [e.user_id for e in data.events] == ["1", "5"]
    assert [i.item_id for i in data.items] == ["1", "2", "267"]


def test_strict_raises_with_file_and_line(tmp_path: Path) -> None:
    folder = make_100k(tmp_path / "ml")
    (folder / "u.data").write_text("1\t2\t3\t4\n1\t2\tfive\t4\n")
    with pytest.raises(ReadError, match=r"u\.data") as caught:
        read_movielens(folder, strict=True)
    assert caught.value.line == 2


def test_100k_without_u_genre_uses_the_standard_genres(tmp_path: Path) -> None:
    folder = make_100k(tmp_path / "ml")
    (folder / "u.genre").unlink()
    assert read_movielens(folder).items[0].categories == ("Animation", "Children's", "Comedy")


def test_1m_layout(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    movies = "1193::Cuckoo's Nest (1975)::Drama\n661::Pêche géante (1996)::Animation|Musical\n"
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    data = read_movielens(folder)
    assert data.layout == "1m"
    assert data.errors == []
    assert data.events[0] == Event("1", "1193", "rating", 978_300_760.0, 5.0)
    assert [i.title for i in data.items] == ["Cuckoo's Nest (1975)", "Pêche géante (1996)"]
    assert data.items[1].categories == ("Animation", "Musical")
    assert data.items[1].text == "Pêche géante (1996). Genres: Animation, Musical."
    assert data.items[1].created_at is None


def test_latest_layout_with_quoted_titles(tmp_path: Path) -> None:
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,x,964981247\n1,6,4.5,964982224\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation\n"
        '3,"Grumpier Old Men, The (1995)",Comedy|Romance\n'
        "6,Heat,(no genres listed)\n"
        "7,broken\n",
        encoding="utf-8",
    )
    data = read_movielens(folder)
    assert data.layout == "latest"
    assert [(e.item_id, e.value) for e in data.events] == [("1", 4.0), ("6", 4.5)]
    assert data.errors == [
        (3, "ratings.csv: value: must be a number, got 'x'"),
        (5, "movies.csv: expected 3 fields, got 2"),
    ]
    titles = [i.title for i in data.items]
    assert titles == ["Toy Story (1995)", "Grumpier Old Men, The (1995)", "Heat"]
    assert data.items[2].categories == ()
    assert data.items[2].text == "Heat."


def test_a_folder_without_ratings_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no MovieLens"):
        read_movielens(tmp_path)


def test_ratings_without_movies_give_no_items(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::2::3::4\n")
    data = read_movielens(folder)
    assert len(data.events) == 1
    assert data.items == []


def real_100k() -> Path:
    configured = os.environ.get("FRESHREC_ML100K")
    if configured:
        return Path(configured)
    # tests/readers/ -> project root -> its sibling shared/data (see DESIGN "Data at hand").
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"


def test_real_movielens_100k() -> None:
    folder = real_100k()
    if not (folder / "u.data").is_file():
        pytest.skip(f"MovieLens 100K not present at {folder}")
    data = read_movielens(folder)
    assert data.errors == []
    assert len(data.events) == 100_000
    assert len(data.items) == 1_682
    assert {e.value for e in data.events} == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len({e.user_id for e in data.events}) == 943
