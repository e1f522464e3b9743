"""Query parameters shared by the answer routes, with their documented ranges."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from freshrec import scenarios
from freshrec.reading import MAX_N, MAX_QUERY_CHARS

N = Annotated[int, Query(ge=1, le=MAX_N, description="How many items, at most.")]
Limit = Annotated[int, Query(ge=1, le=MAX_N, description="How many records, at most.")]
Cursor = Annotated[
    str | None,
    Query(max_length=2_000, description="`next_cursor` of the page before (none: the first)."),
]
Exclude = Annotated[
    list[str] | None,
    Query(description="Item ids to leave out: comma-separated, or the parameter repeated."),
]
Category = Annotated[
    list[str] | None,
    Query(description="Only items of this category; repeat it for any of several."),
]
Scenario = Annotated[
    str, Query(description=f"A configured scenario: {', '.join(scenarios.SCENARIOS)}.")
]
SearchText = Annotated[
    str,
    Query(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for, in words."),
]
AtLeast = Annotated[
    int | None,
    Query(
        ge=0,
        description="Answer from a state reflecting at least this log offset (the `offset` "
        "a POST /v1/events returned); waits up to a second for it, else 400.",
    ),
]
