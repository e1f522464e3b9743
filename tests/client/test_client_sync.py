"""``freshrec.Client`` against a real ``freshrec serve --open`` process: every method."""

from __future__ import annotations

import pickle
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

import freshrec
from freshrec.client import (
    ApiError,
    ApiValidationError,
    Forgotten,
    ItemPage,
    NotFoundError,
    RankedList,
    RecommendationList,
)


@pytest.fixture(scope="module")
def client(open_server: str) -> Iterator[freshrec.Client]:
    with freshrec.Client(open_server + "/") as client:
        yield client


def test_health_and_metrics(client: freshrec.Client) -> None:
    assert client.health_live() is True
    assert client.health_ready() is True
    text = client.metrics()
    assert isinstance(text, str)
    assert "freshrec_http_requests_total" in text


def test_items_round_trip(client: freshrec.Client) -> None:
    stored = client.upsert_item(
        {"item_id": "book-1", "title": "A book", "categories": ["books"], "properties": {"p": 1}}
    )
    assert isinstance(stored, freshrec.Item)
    assert stored.item_id == "book-1" and stored.categories == ("books",)
    assert stored.properties == {"p": 1} and stored.available
    assert client.get_item("book-1") == stored

    # A freshrec.Item is accepted as it is, and batches report how many were written.
    replaced = client.upsert_item(freshrec.Item("book-1", title="Renamed", categories=("books",)))
    assert replaced.title == "Renamed"
    written = client.upsert_items(
        [{"item_id": "book-2", "title": "B"}, freshrec.Item("book-3", title="C")]
    )
    assert written == 2
    assert client.get_item("book-3").title == "C"


def test_delete_hides_an_item_from_answers(client: freshrec.Client) -> None:
    client.upsert_items([{"item_id": f"gone-{k}", "categories": ["gone"]} for k in range(3)])
    hidden = client.delete_item("gone-0")
    assert hidden.item_id == "gone-0" and hidden.available is False
    assert client.get_item("gone-0").available is False
    answer = client.recommend("someone", n=50, category="gone")
    assert "gone-0" not in answer.item_ids
    client.upsert_item({"item_id": "gone-0", "categories": ["gone"], "available": True})
    assert client.get_item("gone-0").available is True


@pytest.mark.parametrize(
    "item_id", ["shoes/42", "a b?c#d&e=f", "50%", "..", ".", "ünï ✓", "a//b", "/lead", "trail/"]
)
def test_ids_are_escaped_in_paths(client: freshrec.Client, item_id: str) -> None:
    assert client.upsert_item({"item_id": item_id, "title": "t"}).item_id == item_id
    assert client.get_item(item_id).item_id == item_id
    assert client.delete_item(item_id).item_id == item_id
    assert isinstance(client.similar(item_id), RecommendationList)
    user = client.upsert_user({"user_id": item_id, "text": "x"})
    assert user.user_id == item_id == client.get_user(item_id).user_id
    assert client.recommend(item_id, n=3).scenario == "home"


def test_users_round_trip(client: freshrec.Client) -> None:
    user = client.upsert_user({"user_id": "alice", "properties": {"age": 30}, "text": "jazz"})
    assert user == freshrec.User("alice", {"age": 30}, "jazz")
    assert client.get_user("alice") == user
    assert client.upsert_user(freshrec.User("alice", text="rock")).text == "rock"
    assert client.upsert_users([{"user_id": "bob"}, freshrec.User("carol")]) == 2
    assert client.get_user("carol").user_id == "carol"


def test_read_your_writes(client: freshrec.Client) -> None:
    before = client.recommend("ryw-user", n=10)
    assert "i0" in before.item_ids
    result = client.send_events({"user_id": "ryw-user", "item_id": "i0", "type": "click"})
    assert (result.accepted, result.duplicates, result.errors) == (1, 0, [])
    after = client.recommend("ryw-user", n=10)
    assert after.recommendation_id != before.recommendation_id
    assert "i0" not in after.item_ids  # an item the user interacted with never appears
    assert "i2" in after.item_ids[:3]  # clicked together with i0 by every even user
    assert after.item_ids != before.item_ids


def test_send_events_batches_keep_good_events_and_report_bad_ones(
    client: freshrec.Client,
) -> None:
    events: list[dict[str, Any] | freshrec.Event] = [
        {"user_id": "ev-1", "item_id": "i1", "type": "click", "event_id": "ev-1-a"},
        {"user_id": "ev-1", "item_id": "i3", "type": "no-such-type"},
        freshrec.Event("ev-1", "i5", "view", time.time(), event_id="ev-1-b"),
    ]
    result = client.send_events(events)
    assert isinstance(result, freshrec.IngestResult)
    assert result.accepted == 2 and result.duplicates == 0
    assert [index for index, _ in result.errors] == [1]
    assert "type" in result.errors[0][1]

    again = client.send_events(events[:1] + events[2:])  # event ids make resending safe
    assert (again.accepted, again.duplicates, again.errors) == (0, 2, [])


def test_send_events_atomic_and_single_bad_event_raise(client: freshrec.Client) -> None:
    good = {"user_id": "atomic-u", "item_id": "i1", "type": "click"}
    bad = {"user_id": "atomic-u", "item_id": "", "type": "click"}
    with pytest.raises(ApiValidationError) as caught:
        client.send_events([good, bad], atomic=True)
    assert caught.value.status == 400 and caught.value.field == "item_id"
    assert "1" in caught.value.message  # names the event's index
    with pytest.raises(ApiValidationError) as single:
        client.send_events({**good, "timestamp": time.time() + 30 * 86_400})
    assert single.value.field == "timestamp"
    assert client.send_events([]).accepted == 0


def test_recommend_filters(client: freshrec.Client) -> None:
    answer = client.recommend("even0", n=5)
    assert isinstance(answer, RecommendationList)
    assert answer.scenario == "home" and len(answer) <= 5 and len(answer.recommendation_id) == 32
    assert all(isinstance(rec, freshrec.Recommendation) for rec in answer)
    assert [rec.score for rec in answer] == sorted((rec.score for rec in answer), reverse=True)
    assert all(isinstance(reason, str) for rec in answer for reason in rec.why)
    excluded = client.recommend("even0", n=5, exclude=answer.item_ids[:2])
    assert not set(answer.item_ids[:2]) & set(excluded.item_ids)
    odd = client.recommend("even0", n=10, category="odd")
    assert odd.item_ids and all(int(i[1:]) % 2 == 1 for i in odd.item_ids)
    assert len(client.recommend("even0", n=1)) == 1


def test_similar_and_rank(client: freshrec.Client) -> None:
    similar = client.similar("i0", n=3)
    assert similar.scenario == "similar" and "i0" not in similar.item_ids
    assert similar[0].item_id == "i2"
    assert "i2" not in client.similar("i0", n=3, exclude=["i2"]).item_ids

    ranked = client.rank("even0", ["i1", "i4", "unknown-item"])
    assert isinstance(ranked, RankedList) and len(ranked.recommendation_id) == 32
    assert sorted(ranked.item_ids) == ["i1", "i4", "unknown-item"]
    assert ranked.item_ids[-1] == "unknown-item" and ranked[-1].score == 0.0


def test_not_found_errors(client: freshrec.Client) -> None:
    with pytest.raises(NotFoundError) as item:
        client.get_item("never-stored")
    assert (item.value.status, item.value.code, item.value.field) == (
        404,
        "unknown_item",
        "item_id",
    )
    assert "never-stored" in item.value.message
    assert isinstance(item.value, KeyError) and isinstance(item.value, freshrec.FreshrecError)
    with pytest.raises(NotFoundError) as user:
        client.get_user("never-stored")
    assert (user.value.code, user.value.field) == ("unknown_user", "user_id")
    with pytest.raises(NotFoundError):
        client.similar("never-stored")
    with pytest.raises(NotFoundError):
        client.delete_item("never-stored")


def test_validation_errors(client: freshrec.Client) -> None:
    with pytest.raises(ApiValidationError) as empty:
        client.get_item("")
    assert (empty.value.status, empty.value.field) == (400, "item_id")
    assert isinstance(empty.value, freshrec.ValidationError)  # same as the embedded engine

    with pytest.raises(ApiValidationError) as n:
        client.recommend("u", n=0)
    assert (n.value.status, n.value.field) == (422, "n")

    with pytest.raises(ApiValidationError) as scenario:
        client.recommend("u", scenario="nope")
    assert (scenario.value.code, scenario.value.field) == ("unknown_scenario", "scenario")

    with pytest.raises(ApiValidationError) as control:
        client.recommend("tab\there")
    assert control.value.field == "user_id" and "control" in control.value.message

    with pytest.raises(ApiValidationError) as field:
        client.upsert_item({"item_id": "x", "colour": "red"})
    assert field.value.field == "colour"

    with pytest.raises(ApiValidationError) as batch:
        client.upsert_items([{"item_id": "ok"}, {"item_id": "bad", "vector": []}])
    assert batch.value.field == "vector"

    with pytest.raises(ApiValidationError) as rank:
        client.rank("u", ["i1"] * 1001)
    assert rank.value.field == "item_ids"


def test_local_checks_refuse_what_cannot_be_sent(client: freshrec.Client) -> None:
    with pytest.raises(freshrec.ValidationError) as comma:
        client.recommend("u", exclude=["a,b"])
    assert comma.value.field == "exclude"
    with pytest.raises(freshrec.ValidationError) as missing:
        client.upsert_item({"title": "no id"})
    assert missing.value.field == "item_id"
    with pytest.raises(freshrec.ValidationError) as not_str:
        client.get_item(42)  # type: ignore[arg-type]
    assert not_str.value.field == "item_id"
    with pytest.raises(freshrec.ValidationError):
        client.send_events(
            {"user_id": "u", "item_id": "i1", "type": "rating", "value": float("nan")}
        )


def test_errors_pickle_and_print(client: freshrec.Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.get_item("never-stored")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is NotFoundError
    assert (copy.status, copy.code, copy.field) == (404, "unknown_item", "item_id")
    assert str(copy).startswith("HTTP 404 unknown_item: item_id: ")


def docstring_examples() -> list[str]:
    """Return the indented code blocks after ``::`` in ``freshrec.client``'s docstring."""
    doc = freshrec.client.__doc__ or ""
    blocks = []
    for chunk in doc.split("::\n\n")[1:]:
        lines = []
        for line in chunk.splitlines():
            if line and not line.startswith("    "):
                break
            lines.append(line[4:])
        blocks.append(textwrap.dedent("\n".join(lines)))
    return blocks


def test_the_module_docstring_examples_run(
    open_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = docstring_examples()
    assert len(blocks) == 2
    namespace: dict[str, Any] = {}  # the second block goes on from the first
    for block in blocks:
        exec(block.replace("http://127.0.0.1:8000", open_server), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert "404 unknown_item item_id" in lines
    assert lines[5].endswith(" items") and lines[6].startswith("{'u1': [")
    # five recommendations, the item count, the batch answers, the 404, the async answer
    assert len(lines) == 5 + 1 + 1 + 1 + 1


def test_search_by_words(client: freshrec.Client) -> None:
    deadline = time.monotonic() + 30
    while True:  # the server encodes new item texts on a worker thread
        found = client.search("Item 3", n=3)
        if found.item_ids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert isinstance(found, RecommendationList) and found.scenario == "search"
    assert found.item_ids[0] == "i3"
    assert "i3" not in client.search("Item 3", n=3, category="even").item_ids
    assert client.search("Item 3", n=3, category=["even", "odd"]).item_ids[0] == "i3"
    with pytest.raises(ApiValidationError) as caught:
        client.search("", n=3)
    assert caught.value.field == "q"


# -- managing records: patch, list, a user's events, forget -----------------------------------


def test_patch_item_changes_only_the_named_fields(client: freshrec.Client) -> None:
    client.upsert_item(
        {"item_id": "patch/1", "title": "Old", "categories": ["c"], "properties": {"a": 1, "b": 2}}
    )
    patched = client.patch_item("patch/1", {"title": "New", "properties": {"b": None, "c": 3}})
    assert isinstance(patched, freshrec.Item)
    assert (patched.title, patched.categories) == ("New", ("c",))
    assert patched.properties == {"a": 1, "c": 3}
    assert client.get_item("patch/1") == patched

    client.delete_item("patch/1")
    back = client.patch_item("patch/1", {"available": True})
    assert back.available is True and back.title == "New"  # back as it was

    with pytest.raises(NotFoundError) as unknown:
        client.patch_item("never-stored", {"title": "x"})
    assert (unknown.value.status, unknown.value.code, unknown.value.field) == (
        404,
        "unknown_item",
        "item_id",
    )
    with pytest.raises(ApiValidationError) as renamed:
        client.patch_item("patch/1", {"item_id": "other"})
    assert (renamed.value.status, renamed.value.field) == (400, "item_id")
    with pytest.raises(freshrec.ValidationError):
        client.patch_item("patch/1", ["title"])  # type: ignore[arg-type]


def test_patch_user_and_users_known_only_from_events(client: freshrec.Client) -> None:
    client.upsert_user({"user_id": "patch user", "properties": {"a": 1, "b": 2}, "text": "t"})
    patched = client.patch_user("patch user", {"properties": {"b": None, "plan": "pro"}})
    assert patched == freshrec.User("patch user", {"a": 1, "plan": "pro"}, "t")
    assert client.get_user("patch user") == patched

    client.send_events({"user_id": "events-only", "item_id": "i1", "type": "click"})
    assert client.get_user("events-only") == freshrec.User("events-only")  # an empty profile
    made = client.patch_user("events-only", {"text": "likes odd things"})
    assert made == freshrec.User("events-only", {}, "likes odd things")

    with pytest.raises(NotFoundError) as unknown:
        client.patch_user("never-mentioned", {"text": "x"})
    assert (unknown.value.status, unknown.value.field) == (404, "user_id")


def test_list_items_pages_through_the_catalogue(client: freshrec.Client) -> None:
    first = client.list_items(limit=7)
    assert isinstance(first, ItemPage) and len(first.items) == 7
    assert all(isinstance(item, freshrec.Item) for item in first.items)
    assert first.next_cursor is not None
    second = client.list_items(first.next_cursor, limit=7)
    ids = [item.item_id for item in first.items + second.items]
    assert ids == sorted(ids) and len(set(ids)) == 14

    every = [item.item_id for item in client.iter_items()]
    assert every == sorted(every) and len(set(every)) == len(every)
    assert {f"i{k}" for k in range(30)} <= set(every)
    assert [item.item_id for item in client.iter_items(page_size=4)] == every  # many pages

    client.upsert_item({"item_id": "listed-hidden"})
    client.delete_item("listed-hidden")
    hidden = [item.item_id for item in client.iter_items(page_size=3, available=False)]
    shown = [item.item_id for item in client.iter_items(available=True)]
    assert "listed-hidden" in hidden and "listed-hidden" not in shown
    assert all(not client.get_item(item_id).available for item_id in hidden)
    assert sorted(hidden + shown) == sorted([item.item_id for item in client.iter_items()])

    last = client.list_items(limit=1000)
    assert last.next_cursor is None

    with pytest.raises(ApiValidationError) as cursor:
        client.list_items(cursor="not-a-cursor")
    assert (cursor.value.status, cursor.value.field) == (400, "cursor")
    with pytest.raises(ApiValidationError) as limit:
        client.list_items(limit=0)
    assert (limit.value.status, limit.value.field) == (422, "limit")


def test_user_events_newest_first(client: freshrec.Client) -> None:
    answer = client.recommend("logged-user", n=1)
    sent = client.send_events(
        [
            {
                "user_id": "logged-user",
                "item_id": "i1",
                "type": "click",
                "timestamp": 1_000.0,
                "event_id": "logged-1",
                "recommendation_id": answer.recommendation_id,
            },
            {"user_id": "logged-user", "item_id": "i3", "type": "view", "timestamp": 2_000.0},
            {
                "user_id": "logged-user",
                "item_id": "i5",
                "type": "rating",
                "value": 4.0,
                "timestamp": 3_000.0,
                "event_id": "logged-3",
            },
        ]
    )
    events = client.user_events("logged-user")
    assert [offset for offset, _ in events] == [sent.offset, sent.offset - 1, sent.offset - 2]
    assert all(isinstance(event, freshrec.Event) for _, event in events)
    assert events[0][1] == freshrec.Event("logged-user", "i5", "rating", 3_000.0, 4.0, "logged-3")
    assert events[2][1] == freshrec.Event(
        "logged-user", "i1", "click", 1_000.0, None, "logged-1", answer.recommendation_id
    )
    assert events[1][1].event_id is not None  # the client gave it one before sending
    assert client.user_events("logged-user", limit=2) == events[:2]
    assert client.user_events("never-mentioned") == []

    with pytest.raises(ApiValidationError) as limit:
        client.user_events("logged-user", limit=0)
    assert (limit.value.status, limit.value.field) == (422, "limit")


def test_forget_user_erases_profile_events_and_lists(client: freshrec.Client) -> None:
    client.upsert_user({"user_id": "forget me", "text": "private"})
    client.send_events(
        [
            {"user_id": "forget me", "item_id": "i1", "type": "click"},
            {"user_id": "forget me", "item_id": "i3", "type": "click"},
        ]
    )
    client.recommend("forget me", n=3)
    receipt = client.forget_user("forget me")
    assert receipt == Forgotten("forget me", profile=True, events=2, lists=1)
    with pytest.raises(NotFoundError):
        client.get_user("forget me")
    assert client.user_events("forget me") == []
    fresh = client.recommend("never-seen-before", n=10).item_ids
    assert client.recommend("forget me", n=10).item_ids == fresh  # a new user's answer again
    assert client.forget_user("forget me") == Forgotten("forget me", False, 0, 1)

    with pytest.raises(ApiValidationError) as empty:
        client.forget_user("")
    assert (empty.value.status, empty.value.field) == (400, "user_id")


# -- answers for many users, several categories -------------------------------------------------


def test_recommend_many_answers_each_user_in_order(client: freshrec.Client) -> None:
    answers = client.recommend_many(["odd1", "even0", "odd1", "many-new"], n=3)
    assert list(answers) == ["odd1", "even0", "many-new"]  # a repeated user is asked once
    assert all(isinstance(answer, RecommendationList) for answer in answers.values())
    assert all(answer.scenario == "home" and len(answer) == 3 for answer in answers.values())
    assert len({answer.recommendation_id for answer in answers.values()}) == 3
    assert answers["even0"].item_ids == client.recommend("even0", n=3).item_ids

    filtered = client.recommend_many(["even0"], n=5, exclude=["i4"], category=["odd"])
    assert "i4" not in filtered["even0"].item_ids
    assert filtered["even0"].item_ids and all(int(i[1:]) % 2 for i in filtered["even0"].item_ids)

    many = client.recommend_many([f"many{k}" for k in range(230)], n=1)  # three calls
    assert list(many) == [f"many{k}" for k in range(230)]
    assert len({answer.recommendation_id for answer in many.values()}) == 230
    assert client.recommend_many([]) == {}

    with pytest.raises(ApiValidationError) as bad_id:
        client.recommend_many(["even0", "tab\there"])
    assert (bad_id.value.status, bad_id.value.field) == (400, "user_ids")
    with pytest.raises(ApiValidationError) as scenario:
        client.recommend_many(["even0"], scenario="nope")
    assert scenario.value.code == "unknown_scenario"
    with pytest.raises(freshrec.ValidationError) as one_string:
        client.recommend_many("even0")
    assert one_string.value.field == "user_ids"


def test_category_may_name_several(client: freshrec.Client) -> None:
    def parities(item_ids: list[str]) -> set[int]:
        return {int(item_id[1:]) % 2 for item_id in item_ids}

    both = client.recommend("category-user", n=30, category=["even", "odd"])
    assert parities(both.item_ids) == {0, 1}
    even = client.recommend("category-user", n=30, category=["even", "no-such-category"])
    assert even.item_ids and parities(even.item_ids) == {0}
    assert client.recommend("category-user", n=30, category=("even",)).item_ids == even.item_ids
    with pytest.raises(freshrec.ValidationError) as empty:
        client.recommend("category-user", category=[])  # would be sent as no filter at all
    assert empty.value.field == "category"
    with pytest.raises(ApiValidationError) as bad:
        client.recommend("category-user", category=["even", ""])
    assert (bad.value.status, bad.value.field) == (400, "category")
