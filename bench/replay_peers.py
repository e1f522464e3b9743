"""Prequential replay of peer recommender baselines on MovieLens-100K.

Protocol (test-then-train, one pass over the stream):

* Events are all rows of ``u.data`` (user, item, rating, unix timestamp), or of a freshrec
  event file (``load_event_file``), stably sorted by timestamp so ties keep file order. User
  and item ids are strings.
* For each event in order: if it is positive (rating >= 4; in an event file the engine's rule:
  click, like, cart, purchase or rating >= 4), the user has at least one earlier event (any
  type) and has not interacted with this item before, the event is *evaluated*.
  The peer ranks the candidates, i.e. the items seen earlier in the stream (by anyone) minus the
  items the user has already interacted with. It is a hit if the event's item is in the top k;
  ndcg@k = 1 / log2(rank + 2) for a hit at 0-based rank, else 0. Then the event is ingested.
* Score ties are broken by one fixed random item order (a permutation drawn with seed 0).
* hr@k = hits / evaluated. On the full ML-100K the number of evaluated events is 54,802.
* events/second covers the whole replay for one peer: recommend + update for every event,
  including periodic refits.

Peers ("positives" are the positive events above):

* popularity: count of all events per item so far.
* itemknn: symmetric co-occurrence counts between each event's item and the same user's previous
  10 items (all events); candidates are scored by summed co-occurrence with the last 10 items.
* ease: EASE (lambda=500) on the binary user-item matrix of positives so far, refitted every
  5,000 events; the user profile is the user's last 10 items (any event).
* als: implicit's ALS (factors=32, regularization=10, alpha=4, iterations=15, random_state=0)
  refitted from scratch every 5,000 events on all positives so far; at query time the user's
  factors are recomputed (fold-in) from their positives so far. Users without positives get the
  popularity fallback.
* als_nofoldin: the same ALS, but only user factors from the last refit are used; users without
  positives at the last refit get the popularity fallback.
* river_funkmf: listed for completeness; skipped with a message (river is not installed).

Before the first refit (the first 5,000 events) ease and the als variants fall back to popularity.
BLAS and implicit run single-threaded for a fair speed comparison.

Usage: python bench/replay_peers.py [--data DIR] [--peers a,b] [--k 10] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "ml-100k"
POSITIVE_RATING = 4.0
HISTORY_LEN = 10
REFIT_EVERY = 5_000
TIE_SEED = 0
EXPECTED_ML100K_ROWS = 100_000
EXPECTED_ML100K_EVALUATED = 54_802
PEERS = ("popularity", "itemknn", "ease", "als", "als_nofoldin", "river_funkmf")


@dataclass(frozen=True)
class Stream:
    """Events in replay order, with ids mapped to dense indices."""

    users: list[int]
    items: list[int]
    positive: list[bool]
    n_users: int
    n_items: int


def _indexed(pairs: list[tuple[str, str, bool]]) -> Stream:
    """Index ids by first appearance, keeping the given (already replay) order."""
    user_index: dict[str, int] = {}
    item_index: dict[str, int] = {}
    users, items, positive = [], [], []
    for user, item, is_positive in pairs:
        users.append(user_index.setdefault(user, len(user_index)))
        items.append(item_index.setdefault(item, len(item_index)))
        positive.append(is_positive)
    return Stream(users, items, positive, len(user_index), len(item_index))


def load_stream(data_dir: Path) -> Stream:
    """Read ``u.data``, stably sort by timestamp and index ids by first appearance."""
    rows = [line.split("\t") for line in (data_dir / "u.data").read_text().splitlines() if line]
    timestamps = np.array([int(row[3]) for row in rows], dtype=np.int64)
    order = np.argsort(timestamps, kind="stable")
    return _indexed(
        [
            (rows[pos][0], rows[pos][1], float(rows[pos][2]) >= POSITIVE_RATING)
            for pos in order.tolist()
        ]
    )


def load_event_file(path: Path) -> Stream:
    """Read a freshrec event file (CSV or JSON Lines) in the order ``freshrec replay`` uses.

    Positives follow the engine's rule (``EngineConfig.is_positive``: click, like, cart,
    purchase, rating >= 4); views and dislikes count as interactions only.
    """
    from freshrec.config import EngineConfig
    from freshrec.readers import read_events_any

    config = EngineConfig()
    events = read_events_any(path, config.events.weights, strict=True).records
    ordered = sorted(events, key=lambda event: event.timestamp)
    return _indexed([(e.user_id, e.item_id, config.is_positive(e.type, e.value)) for e in ordered])


class StreamState:
    """What is known about the stream so far; shared by the protocol and the peers."""

    def __init__(self, n_users: int, n_items: int) -> None:
        self.n_users = n_users
        self.n_items = n_items
        self.n_events = 0
        self.seen = np.zeros(n_items, dtype=bool)
        self.interacted = np.zeros((n_users, n_items), dtype=bool)
        self.user_events = np.zeros(n_users, dtype=np.int64)
        self.popularity = np.zeros(n_items, dtype=np.float64)
        self.recent: list[deque[int]] = [deque(maxlen=HISTORY_LEN) for _ in range(n_users)]
        self.positives: list[list[int]] = [[] for _ in range(n_users)]
        self.pos_users: list[int] = []
        self.pos_items: list[int] = []

    def is_evaluated(self, user: int, item: int, positive: bool) -> bool:
        return positive and self.user_events[user] > 0 and not self.interacted[user, item]

    def candidates(self, user: int) -> np.ndarray:
        return self.seen & ~self.interacted[user]

    def ingest(self, user: int, item: int, positive: bool) -> None:
        self.n_events += 1
        self.seen[item] = True
        self.interacted[user, item] = True
        self.user_events[user] += 1
        self.popularity[item] += 1.0
        self.recent[user].append(item)
        if positive:
            self.positives[user].append(item)
            self.pos_users.append(user)
            self.pos_items.append(item)

    def positive_matrix(self) -> csr_matrix:
        """Binary user-item CSR matrix of all positives so far."""
        data = np.ones(len(self.pos_users), dtype=np.float32)
        shape = (self.n_users, self.n_items)
        matrix = csr_matrix((data, (self.pos_users, self.pos_items)), shape=shape)
        matrix.data[:] = 1.0  # binary even if a pair repeats
        return matrix


class Peer:
    """A baseline: scores every item for a user, learns from each event."""

    def scores(self, state: StreamState, user: int) -> np.ndarray:
        raise NotImplementedError

    def update(self, state: StreamState, user: int, item: int, positive: bool) -> None:
        """Learn from an event; ``state`` does not contain it yet."""

    def refit(self, state: StreamState) -> None:
        """Periodic batch refit; ``state`` contains every event so far."""


class Popularity(Peer):
    def scores(self, state: StreamState, user: int) -> np.ndarray:
        return state.popularity


class ItemKNN(Peer):
    def __init__(self, n_items: int) -> None:
        self.cooc = np.zeros((n_items, n_items), dtype=np.float64)

    def scores(self, state: StreamState, user: int) -> np.ndarray:
        return self.cooc[list(state.recent[user])].sum(axis=0)

    def update(self, state: StreamState, user: int, item: int, positive: bool) -> None:
        previous = [other for other in state.recent[user] if other != item]
        if previous:
            np.add.at(self.cooc[item], previous, 1.0)
            np.add.at(self.cooc[:, item], previous, 1.0)


class Ease(Peer):
    def __init__(self, lam: float = 500.0) -> None:
        self.lam = lam
        self.weights: np.ndarray | None = None

    def scores(self, state: StreamState, user: int) -> np.ndarray:
        if self.weights is None:
            return state.popularity
        return self.weights[list(state.recent[user])].sum(axis=0)

    def refit(self, state: StreamState) -> None:
        dense = np.zeros((state.n_users, state.n_items), dtype=np.float64)
        dense[state.pos_users, state.pos_items] = 1.0
        gram = dense.T @ dense
        gram[np.diag_indices_from(gram)] += self.lam
        inverse = np.linalg.inv(gram)
        weights = inverse / -np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights


class Als(Peer):
    def __init__(self, fold_in: bool) -> None:
        self.fold_in = fold_in
        self.model: AlternatingLeastSquares | None = None
        self.item_factors: np.ndarray | None = None
        self.user_factors: np.ndarray | None = None
        self.trained_users: np.ndarray | None = None

    def scores(self, state: StreamState, user: int) -> np.ndarray:
        if self.item_factors is None:
            return state.popularity
        if self.fold_in:
            positives = state.positives[user]
            if not positives:
                return state.popularity
            row = csr_matrix(
                (np.ones(len(positives), dtype=np.float32), positives, [0, len(positives)]),
                shape=(1, state.n_items),
            )
            factors = self.model.recalculate_user(user, row)
        else:
            if not self.trained_users[user]:
                return state.popularity
            factors = self.user_factors[user]
        return self.item_factors @ factors.astype(np.float64)

    def refit(self, state: StreamState) -> None:
        matrix = state.positive_matrix()
        model = AlternatingLeastSquares(
            factors=32,
            regularization=10.0,
            alpha=4.0,
            iterations=15,
            random_state=0,
            num_threads=1,
        )
        model.fit(matrix, show_progress=False)
        self.model = model
        self.item_factors = np.asarray(model.item_factors, dtype=np.float64)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float64)
        self.trained_users = np.diff(matrix.indptr) > 0


def make_peer(name: str, n_items: int) -> Peer | None:
    """Build a peer by name; ``None`` (with a message) when it cannot run here."""
    if name == "popularity":
        return Popularity()
    if name == "itemknn":
        return ItemKNN(n_items)
    if name == "ease":
        return Ease()
    if name in ("als", "als_nofoldin"):
        return Als(fold_in=name == "als")
    if name == "river_funkmf":
        if importlib.util.find_spec("river") is None:
            print("river_funkmf: skipped, `river` is not importable (not installed).")
        else:
            print("river_funkmf: skipped, no adapter implemented in this benchmark.")
        return None
    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")


def target_rank(
    scores: np.ndarray, candidates: np.ndarray, target: int, tie_order: np.ndarray
) -> int | None:
    """0-based rank of ``target`` among candidates; ``None`` if it is not a candidate."""
    if not candidates[target]:
        return None
    target_score = scores[target]
    ahead = (scores > target_score) | ((scores == target_score) & (tie_order < tie_order[target]))
    return int(np.count_nonzero(ahead & candidates))


def replay(stream: Stream, peer: Peer, k: int, tie_order: np.ndarray) -> dict[str, float]:
    """Run the prequential protocol for one peer and return its metrics."""
    state = StreamState(stream.n_users, stream.n_items)
    hits, ndcg, evaluated = 0, 0.0, 0
    middle = len(stream.users) // 2
    halves = [[0, 0], [0, 0]]  # [hits, evaluated] of the first and second half of the stream
    start = time.perf_counter()
    events = zip(stream.users, stream.items, stream.positive, strict=True)
    for position, (user, item, positive) in enumerate(events):
        if state.is_evaluated(user, item, positive):
            evaluated += 1
            half = halves[0 if position < middle else 1]
            half[1] += 1
            scores = peer.scores(state, user)
            rank = target_rank(scores, state.candidates(user), item, tie_order)
            if rank is not None and rank < k:
                hits += 1
                half[0] += 1
                ndcg += 1.0 / math.log2(rank + 2)
        peer.update(state, user, item, positive)
        state.ingest(user, item, positive)
        if state.n_events % REFIT_EVERY == 0:
            peer.refit(state)
    elapsed = time.perf_counter() - start
    return {
        f"hr@{k}": hits / max(evaluated, 1),
        f"ndcg@{k}": ndcg / max(evaluated, 1),
        "evaluated": evaluated,
        "events_per_second": len(stream.users) / elapsed,
        "hr_first_half": halves[0][0] / max(halves[0][1], 1),
        "hr_second_half": halves[1][0] / max(halves[1][1], 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-100k directory")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peer names")
    parser.add_argument("--k", type=int, default=10, help="cutoff for hr@k and ndcg@k")
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    return parser.parse_args(argv)


def print_table(results: dict[str, dict[str, float]], k: int) -> None:
    header = (
        f"{'peer':<14}{f'hr@{k}':>9}{f'ndcg@{k}':>10}{'evaluated':>11}{'events/s':>11}"
        f"{'1st half':>10}{'2nd half':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        print(
            f"{name:<14}{row[f'hr@{k}']:>9.4f}{row[f'ndcg@{k}']:>10.4f}"
            f"{row['evaluated']:>11,}{row['events_per_second']:>11,.0f}"
            f"{row['hr_first_half']:>10.4f}{row['hr_second_half']:>10.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.data.resolve()
    if not (data_dir / "u.data").is_file():
        print(f"MovieLens-100K not found at {data_dir} (no u.data); nothing to benchmark.")
        return 0
    names = [name.strip() for name in args.peers.split(",") if name.strip()]
    stream = load_stream(data_dir)
    tie_order = np.random.default_rng(TIE_SEED).permutation(stream.n_items)
    print(f"{len(stream.users):,} events, {stream.n_users} users, {stream.n_items} items")
    results: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=1):
        for name in names:
            peer = make_peer(name, stream.n_items)
            if peer is None:
                continue
            results[name] = replay(stream, peer, args.k, tie_order)
            row = results[name]
            print(f"{name}: hr@{args.k}={row[f'hr@{args.k}']:.4f} evaluated={row['evaluated']:,}")
            if len(stream.users) == EXPECTED_ML100K_ROWS:
                assert row["evaluated"] == EXPECTED_ML100K_EVALUATED, row["evaluated"]
    print_table(results, args.k)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
