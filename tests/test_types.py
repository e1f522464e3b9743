"""Validation of events, items and users: every error is a ValidationError naming its field."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshrec.errors import ValidationError
from freshrec.types import (
    BUILTIN_EVENT_TYPES,
    EVENT_FIELDS,
    ITEM_FIELDS,
    MAX_ID_LENGTH,
    USER_FIELDS,
    Event,
    Item,
    User,
    parse_event,
    parse_events,
    parse_item,
    parse_user,
)

NOW = 1_732_270_000.0  # 2024-11-22T10:06:40Z
TYPES = BUILTIN_EVENT_TYPES


def event(**fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1_000}
    raw.update(fields)
    return {k: v for k, v in raw.items() if v is not _MISSING}


_MISSING = object()


def field_of(call: Any) -> str | None:
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.field is None or caught.value.field in str(caught.value)
    return caught.value.field


# -- events ---------------------------------------------------------------------------------


def test_a_full_event_parses() -> None:
    raw = event(type="rating", value=4, event_id="e1", recommendation_id="r1")
    assert parse_event(raw, TYPES, NOW) == Event("u1", "i1", "rating", 1000.0, 4.0, "e1", "r1")


def test_missing_timestamp_means_now() -> None:
    assert parse_event(event(timestamp=_MISSING), TYPES, NOW).timestamp == NOW
    assert parse_event(event(timestamp=None), TYPES, NOW).timestamp == NOW


@pytest.mark.parametrize("name", ["userId", "extra", "Type", ""])
def test_unknown_field_is_named(name: str) -> None:
    assert field_of(lambda: parse_event({**event(), name: 1}, TYPES, NOW)) == name


ID_FIELDS = ["user_id", "item_id", "event_id", "recommendation_id"]


@pytest.mark.parametrize("name", ID_FIELDS)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("", id="empty"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("tab\t", id="tab"),
        pytest.param("\x1b[31m", id="escape"),
        pytest.param("x" * (MAX_ID_LENGTH + 1), id="too-long"),
        pytest.param(5, id="int"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="bool"),
        pytest.param(["u1"], id="list"),
    ],
)
def test_bad_id_is_named(name: str, bad: Any) -> None:
    assert field_of(lambda: parse_event(event(**{name: bad}), TYPES, NOW)) == name


@pytest.mark.parametrize("name", ["user_id", "item_id"])
def test_missing_required_id_is_named(name: str) -> None:
    assert field_of(lambda: parse_event(event(**{name: _MISSING}), TYPES, NOW)) == name


@pytest.mark.parametrize("good", ["x" * MAX_ID_LENGTH, "é", "用户 42", "a/b:c", "ünï côdé"])
def test_printable_ids_up_to_the_limit_are_kept_verbatim(good: str) -> None:
    parsed = parse_event(event(user_id=good, item_id=good, event_id=good), TYPES, NOW)
    assert parsed.user_id == parsed.item_id == parsed.event_id == good


@pytest.mark.parametrize("kind", ["share", "", "CLICK", None, 3, ["click"]])
def test_unknown_type_is_named(kind: Any) -> None:
    assert field_of(lambda: parse_event(event(type=kind), TYPES, NOW)) == "type"


def test_types_declared_in_the_config_are_accepted() -> None:
    weights = {"view": 0.5, "share": 1.5}
    assert parse_event(event(type="share"), weights, NOW).type == "share"
    assert field_of(lambda: parse_event(event(type="click"), weights, NOW)) == "type"


def test_rating_needs_a_value() -> None:
    assert field_of(lambda: parse_event(event(type="rating"), TYPES, NOW)) == "value"
    assert parse_event(event(type="rating", value="4.5"), TYPES, NOW).value == 4.5


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, "nan", "inf", "four", True, [1], {"v": 1}]
)
def test_bad_value_is_named(bad: Any) -> None:
    assert field_of(lambda: parse_event(event(value=bad), TYPES, NOW)) == "value"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (1_732_269_600, 1_732_269_600.0),
        (1_732_269_600.5, 1_732_269_600.5),
        ("1732269600", 1_732_269_600.0),
        ("2024-11-22T10:00:00Z", 1_732_269_600.0),
        ("2024-11-22T10:00:00.250Z", 1_732_269_600.25),
        ("2024-11-22T12:00:00+02:00", 1_732_269_600.0),
        ("2024-11-22T05:30:00-04:30", 1_732_269_600.0),
        ("2024-11-22T10:00:00+00:00", 1_732_269_600.0),
        ("2024-11-22T10:00:00", 1_732_269_600.0),  # naive means UTC
        ("2024-11-22 10:00:00Z", 1_732_269_600.0),
        ("  2024-11-22T10:00:00Z ", 1_732_269_600.0),
        (0, 0.0),
    ],
)
def test_timestamps_unix_seconds_and_iso_8601(stamp: Any, expected: float) -> None:
    assert parse_event(event(timestamp=stamp), TYPES, NOW).timestamp == expected


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "2024-13-01T00:00:00Z",
        "",
        -1,
        math.nan,
        math.inf,
        "nan",
        True,
        [1],
        {"t": 1},
    ],
)
def test_bad_timestamp_is_named(bad: Any) -> None:
    assert field_of(lambda: parse_event(event(timestamp=bad), TYPES, NOW)) == "timestamp"


def test_future_timestamps_beyond_a_day_of_skew_are_rejected() -> None:
    assert parse_event(event(timestamp=NOW + 3_600), TYPES, NOW).timestamp == NOW + 3_600
    assert field_of(lambda: parse_event(event(timestamp=NOW + 2 * 86_400), TYPES, NOW)) == (
        "timestamp"
    )
    assert field_of(lambda: parse_event(event(timestamp="2999-01-01T00:00:00Z"), TYPES, NOW)) == (
        "timestamp"
    )


@pytest.mark.parametrize("raw", [None, [], "event", 5, [("user_id", "u1")]])
def test_an_event_must_be_an_object(raw: Any) -> None:
    with pytest.raises(ValidationError):
        parse_event(raw, TYPES, NOW)


@pytest.mark.parametrize("name", ["timestamp", "value"])
def test_huge_integers_are_validation_errors(name: str) -> None:
    assert field_of(lambda: parse_event(event(**{name: 10**400}), TYPES, NOW)) == name


def test_non_string_keys_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        parse_event({**event(), 1: "x", "extra": 2}, TYPES, NOW)


# -- items and users ------------------------------------------------------------------------


def test_a_full_item_parses() -> None:
    raw = {
        "item_id": "i1",
        "title": "Kind of Blue",
        "text": "modal jazz",
        "categories": ["jazz", "vinyl"],
        "properties": {"price": 9.5},
        "created_at": "2024-11-22T10:00:00Z",
        "vector": [1, 2.5],
        "available": False,
    }
    assert parse_item(raw) == Item(
        "i1", "Kind of Blue", "modal jazz", ("jazz", "vinyl"), {"price": 9.5}, 1_732_269_600.0,
        (1.0, 2.5), False,
    )  # fmt: skip
    assert parse_item({"item_id": "i2"}) == Item("i2")
    # A string where a list belongs is an error, not a one-element list (CSV cells "a|b"
    # are split by the file reader, not here).
    for bare in ("books", "a|b||c"):
        with pytest.raises(ValidationError, match="must be a list of strings, got str") as caught:
            parse_item({"item_id": "i3", "categories": bare})
        assert caught.value.field == "categories"


def test_missing_fields_say_required_and_unknown_types_list_the_valid_ones() -> None:
    weights = {"click": 1.0, "view": 0.5}
    for missing in ("user_id", "item_id", "type"):
        record = {"user_id": "u", "item_id": "i", "type": "click"}
        del record[missing]
        with pytest.raises(ValidationError) as caught:
            parse_event(record, weights)
        assert caught.value.field == missing
        assert caught.value.message.startswith(f"{missing} is required")
    with pytest.raises(ValidationError) as caught:
        parse_event({"user_id": "u", "item_id": "i", "type": "teleport"}, weights)
    assert caught.value.field == "type"
    assert caught.value.message == "unknown event type 'teleport'; valid types: click, view"
    with pytest.raises(ValidationError, match="required"):
        parse_item({"title": "no id"})


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("item_id", ""),
        ("item_id", "a\tb"),
        ("item_id", 7),
        ("item_id", "x" * (MAX_ID_LENGTH + 1)),
        ("title", 5),
        ("text", ["t"]),
        ("categories", 5),
        ("categories", ["ok", ""]),
        ("categories", ["ok", "bad\n"]),
        ("categories", [1]),
        ("properties", [1, 2]),
        ("properties", "p"),
        ("created_at", "soon"),
        ("created_at", -5),
        ("vector", []),
        ("vector", "1,2"),
        ("vector", [1, "x"]),
        ("vector", [1, math.nan]),
        ("vector", [math.inf]),
        ("available", "yes"),
        ("available", 1),
        ("colour", "red"),
    ],
)
def test_bad_item_field_is_named(field: str, bad: Any) -> None:
    raw = {"item_id": "i1", field: bad}
    assert field_of(lambda: parse_item(raw)) == field


def test_missing_item_id_is_named() -> None:
    assert field_of(lambda: parse_item({"title": "t"})) == "item_id"


def test_users_parse_and_bad_fields_are_named() -> None:
    assert parse_user({"user_id": "u1", "text": "likes jazz", "properties": {"age": 3}}) == User(
        "u1", {"age": 3}, "likes jazz"
    )
    assert parse_user({"user_id": "u2"}) == User("u2")
    assert field_of(lambda: parse_user({"user_id": ""})) == "user_id"
    assert field_of(lambda: parse_user({"user_id": "a\rb"})) == "user_id"
    assert field_of(lambda: parse_user({"user_id": "u", "text": 1})) == "text"
    assert field_of(lambda: parse_user({"user_id": "u", "properties": 1})) == "properties"
    assert field_of(lambda: parse_user({"user_id": "u", "age": 1})) == "age"
    assert field_of(lambda: parse_user({})) == "user_id"


# -- properties: nothing but ValidationError escapes ----------------------------------------

# Integers stay within float range here: the overflow case has its own test above.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | st.sampled_from([*TYPES, "2024-11-22T10:00:00Z", "2024-11-22T10:00:00+05:00", "1e400"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def json_objects(fields: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(sorted(fields)) | st.text(max_size=8)
    return st.dictionaries(keys, json_values, max_size=len(fields) + 2)


def well_formed_event() -> st.SearchStrategy[dict[str, Any]]:
    ids = st.text(min_size=1, max_size=20)
    return st.fixed_dictionaries(
        {"user_id": ids, "item_id": ids, "type": st.sampled_from(TYPES)},
        optional={
            "timestamp": json_scalars,
            "value": json_scalars,
            "event_id": ids | json_scalars,
            "recommendation_id": ids | json_scalars,
        },
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=json_objects(EVENT_FIELDS) | well_formed_event())
def test_parse_event_raises_only_validation_errors(raw: dict[str, Any]) -> None:
    try:
        parsed = parse_event(raw, TYPES, NOW)
    except ValidationError as exc:
        assert exc.field is None or exc.field in EVENT_FIELDS or exc.field in raw
        return
    # What passes is well-formed: printable ids, a known type, finite times, finite values.
    assert parsed.type in TYPES
    assert 0 <= parsed.timestamp <= NOW + 86_400
    assert parsed.value is None or math.isfinite(parsed.value)
    assert parsed.user_id.isprintable() and 0 < len(parsed.user_id) <= MAX_ID_LENGTH
    assert parsed.type != "rating" or parsed.value is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(json_objects(EVENT_FIELDS) | well_formed_event(), max_size=6))
def test_batch_parsing_agrees_with_parse_event_record_by_record(raws: list[Any]) -> None:
    """``parse_events`` checks plain records inline: it must accept, build and reject exactly
    what ``parse_event`` does, with the same message for the same index."""
    events, errors = parse_events(raws, TYPES, NOW)
    expected_events, expected_errors = [], []
    for index, raw in enumerate(raws):
        try:
            expected_events.append(parse_event(raw, TYPES, NOW))
        except ValidationError as exc:
            expected_errors.append((index, str(exc), exc.field))
    assert events == expected_events
    assert [type(e) for e in events] == [Event] * len(events)
    assert [(i, str(exc), exc.field) for i, exc in errors] == expected_errors


@pytest.mark.parametrize(
    "raw",
    [
        {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": 5, "value": 4},
        {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": 5.5, "value": 4.5},
        {"user_id": "u", "item_id": "i", "type": "click", "timestamp": NOW + 86_400},
        {"user_id": "u", "item_id": "i", "type": "click", "timestamp": 0, "event_id": "e"},
        {"user_id": "u", "item_id": "i", "type": "click", "timestamp": 2**60},
        {"user_id": "u", "item_id": "i", "type": "click", "timestamp": True},
        {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": 1, "value": None},
        {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": 1, "value": 2**60},
        {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": 1, "value": math.nan},
        {"user_id": "u\n", "item_id": "i", "type": "click", "timestamp": 1},
        {"user_id": "u", "item_id": "i" * 257, "type": "click", "timestamp": 1},
        {"user_id": "u", "item_id": "i", "type": "click", "timestamp": 1, "event_id": ""},
    ],
)
def test_batch_parsing_edges_agree_with_parse_event(raw: dict[str, Any]) -> None:
    events, errors = parse_events([raw], TYPES, NOW)
    try:
        expected = parse_event(raw, TYPES, NOW)
    except ValidationError as exc:
        assert events == [] and [(i, str(e)) for i, e in errors] == [(0, str(exc))]
    else:
        assert events == [expected] and errors == []


@settings(max_examples=200, deadline=None)
@given(raw=json_objects(ITEM_FIELDS))
def test_parse_item_raises_only_validation_errors(raw: dict[str, Any]) -> None:
    with contextlib.suppress(ValidationError):
        parse_item(raw)


@settings(max_examples=200, deadline=None)
@given(raw=json_objects(USER_FIELDS))
def test_parse_user_raises_only_validation_errors(raw: dict[str, Any]) -> None:
    with contextlib.suppress(ValidationError):
        parse_user(raw)


def test_item_vector_with_huge_integer_is_a_validation_error() -> None:
    assert field_of(lambda: parse_item({"item_id": "i", "vector": [10**400]})) == "vector"
