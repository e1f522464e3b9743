"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008).

Two rankings are merged as two captains pick teams: the team with fewer picks so far (a fair
coin when they are even) adds its best item not yet in the merged list. Each merged item
remembers the team that drafted it; a click credits that team, and the team with more clicks
wins the request.

>>> merged = team_draft(["a", "b", "c"], ["b", "d", "a"], 4, "A", "B", coin=lambda: True)
>>> merged
[('a', 'A'), ('b', 'B'), ('c', 'A'), ('d', 'B')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def team_draft(
    first: Sequence[str],
    second: Sequence[str],
    n: int,
    first_team: str,
    second_team: str,
    coin: Callable[[], bool],
) -> list[tuple[str, str]]:
    """Merge two rankings by team draft; return ``(item_id, team)`` pairs, best first.

    Args:
        first: the first team's ranking, best first.
        second: the second team's ranking, best first.
        n: the length of the merged list (shorter when both rankings run out).
        first_team: the first team's name.
        second_team: the second team's name.
        coin: a fair coin, True when the first team picks first on a tie.

    Returns:
        Up to ``n`` distinct items, each with the team that drafted it.
    """
    merged: list[tuple[str, str]] = []
    taken: set[str] = set()
    picks = [0, 0]
    cursors = [0, 0]
    rankings = (first, second)
    teams = (first_team, second_team)
    while len(merged) < n:
        left = [_advance(rankings[k], cursors[k], taken) for k in (0, 1)]
        cursors = left
        open_teams = [k for k in (0, 1) if left[k] < len(rankings[k])]
        if not open_teams:
            break
        if len(open_teams) == 1:
            team = open_teams[0]
        elif picks[0] != picks[1]:
            team = 0 if picks[0] < picks[1] else 1
        else:
            team = 0 if coin() else 1
        item = rankings[team][cursors[team]]
        merged.append((item, teams[team]))
        taken.add(item)
        picks[team] += 1
    return merged


def _advance(ranking: Sequence[str], cursor: int, taken: set[str]) -> int:
    """The first position at or after ``cursor`` holding an item not yet taken."""
    while cursor < len(ranking) and ranking[cursor] in taken:
        cursor += 1
    return cursor
