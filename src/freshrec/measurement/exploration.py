"""Randomised answers for off-policy evaluation: Plackett-Luce sampling with propensities.

A share of answers (``measurement.exploration_share``) is not the top of the ranking but a
sample from it: ``n`` of the ``pool`` best items drawn one position at a time, each with
probability proportional to ``exp(score / (temperature * top score))`` among those left
(the Plackett-Luce model, drawn with the Gumbel-top-k trick). Each shown item's
*propensity* is the probability that the logging policy puts that item at that position
(the marginal, estimated from ``samples`` draws of the same model): what item-position
inverse-propensity estimators divide by (``freshrec.measurement.off_policy``).

>>> rng = np.random.default_rng(0)
>>> order, propensity = plackett_luce(np.array([3.0, 2.0, 1.0, 0.5]), 2, 0.5, rng)
>>> sorted(order.tolist()) == sorted(set(order.tolist())), len(propensity)
(True, 2)
>>> bool(np.all((propensity > 0) & (propensity <= 1)))
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Draws behind each marginal propensity: the relative error of a propensity p is about
# sqrt((1 - p) / (p * SAMPLES)), 7 % at p = 0.1.
SAMPLES = 2_000
# The smallest propensity logged: a weight of 1/p above 1,000 would make one click dominate
# an estimate (and a p of 0 from a finite sample is not a real zero).
MIN_PROPENSITY = 1e-3


def sample_order(logits: FloatArray, n: int, rng: np.random.Generator) -> IntArray:
    """One Plackett-Luce draw of ``n`` positions (Gumbel-top-k): cheap, on the request path."""
    keys = logits + rng.gumbel(size=len(logits))
    return np.argsort(-keys)[: min(n, len(logits))].astype(np.int64)


def logits_of(scores: FloatArray, temperature: float) -> FloatArray:
    """Plackett-Luce log-weights: scores over ``temperature`` times the top score."""
    top = float(np.max(scores)) if len(scores) else 0.0
    return np.asarray(scores, dtype=np.float64) / (temperature * (top if top > 0 else 1.0))


def marginal_propensities(
    logits: FloatArray, drawn: IntArray, rng: np.random.Generator, samples: int = SAMPLES
) -> FloatArray:
    """Estimated P(the model puts ``drawn[k]`` at position k), for each k.

    Off the request path (the measurement log's writer computes it before the commit):
    ``samples`` draws cost a few milliseconds.
    """
    n = len(drawn)
    keys = logits + rng.gumbel(size=(samples, len(logits)))
    top = np.argpartition(-keys, n - 1, axis=1)[:, :n] if n < len(logits) else np.argsort(-keys, 1)
    ranked = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
    hits = (ranked[:, :n] == drawn[np.newaxis, :]).mean(axis=0)
    return np.maximum(hits, MIN_PROPENSITY)


def plackett_luce(
    scores: FloatArray,
    n: int,
    temperature: float,
    rng: np.random.Generator,
    samples: int = SAMPLES,
) -> tuple[IntArray, FloatArray]:
    """Draw ``n`` positions from ``scores``; return them and their marginal propensities.

    Args:
        scores: the pool's scores (any order), shape [pool].
        n: how many to draw (at most the pool).
        temperature: relative to the top score; lower is closer to the plain ranking.
        rng: the random source.
        samples: draws behind each marginal propensity.
    """
    logits = logits_of(scores, temperature)
    drawn = sample_order(logits, n, rng)
    return drawn, marginal_propensities(logits, drawn, rng, samples)
