"""Experiment definitions: variants with settings, traffic shares and salted assignment.

An experiment runs over one scenario. Each variant overrides part of the engine's answering
settings (``blend``, ``retrieval``, the ``scenarios`` answer settings). ``design="ab"`` gives
every user one variant, chosen by a salted hash of their id (stable, no per-user state);
``design="interleave"`` answers every request with both variants' lists merged by team draft.

>>> spec = ExperimentSpec.from_dict("e1", {"scenario": "home", "variants": [
...     {"name": "a", "share": 0.5, "settings": {}},
...     {"name": "b", "share": 0.5, "settings": {"blend": {"trending": 1.0}}}]})
>>> spec.variant_of("u1") == spec.variant_of("u1"), spec.variant_of("u1") in ("a", "b")
(True, True)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from freshrec import scenarios
from freshrec.config import BlendConfig, EngineConfig, NewUserBlendConfig
from freshrec.errors import ValidationError
from freshrec.sources import registry
from freshrec.types import check_id

AB = "ab"
INTERLEAVE = "interleave"
DESIGNS = (AB, INTERLEAVE)
RUNNING, STOPPED = "running", "stopped"
# The variant name an interleaved list is logged under (its items carry the drafting team).
INTERLEAVED = "interleaved"
# Settings a variant may override: those read when an answer is made. Everything else builds
# state (models, segments, the log) that one engine keeps once for all variants.
ANSWER_SECTIONS = frozenset({"blend", "retrieval", "scenarios"})
STATE_SETTINGS = frozenset(
    {
        "scenarios.segment_properties",
        "scenarios.segment_max_values_per_key",
        "scenarios.segment_min_users",
        "scenarios.fresh_max_events",
        "scenarios.fresh_max_age_seconds",
    }
)
# Scenarios whose answers a variant's settings can change (new_item ranks fresh items by its
# own fixed blend).
EXPERIMENT_SCENARIOS = (scenarios.HOME, scenarios.NEW_USER)
# Sources whose per-event state the engine keeps only when its own weight is positive.
KEPT_UP_ONLY_WHEN_ON = ("factors", "ease")
# Shares are relative (normalised); bounded so their sum stays finite.
MAX_SHARE = 1e6
# A blend weight above this would make scores overflow to inf (weights are relative too).
MAX_WEIGHT = 1e6
_SPEC_FIELDS = frozenset({"scenario", "design", "variants", "salt", "cuped"})
_VARIANT_FIELDS = frozenset({"name", "share", "settings"})


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm: its name, its share of users (normalised), its settings override."""

    name: str
    share: float
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """A validated experiment (see ``from_dict``)."""

    name: str
    scenario: str
    design: str
    variants: tuple[Variant, ...]
    salt: str
    cuped: bool = False
    status: str = RUNNING
    created_at: float = field(default_factory=time.time)

    @classmethod
    def from_dict(
        cls, name: str, raw: Any, base: EngineConfig | None = None, created_at: float | None = None
    ) -> ExperimentSpec:
        """Validate the body of ``PUT /v1/experiments/{name}``.

        Raises:
            ValidationError: naming the bad field (``variants[1].settings.blend.trending``).
        """
        check_id(name, "name")
        if not isinstance(raw, dict):
            raise ValidationError("expected a JSON object", None)
        unknown = sorted(raw.keys() - _SPEC_FIELDS)
        if unknown:
            raise ValidationError("unknown field", unknown[0])
        scenario = raw.get("scenario", scenarios.HOME)
        if scenario not in EXPERIMENT_SCENARIOS:
            raise ValidationError(
                f"must be one of {', '.join(EXPERIMENT_SCENARIOS)} (the scenarios a blend answers)",
                "scenario",
            )
        design = raw.get("design", AB)
        if design not in DESIGNS:
            raise ValidationError(f"must be one of {', '.join(DESIGNS)}", "design")
        salt = raw.get("salt", name)
        if not isinstance(salt, str):
            raise ValidationError("must be a string", "salt")
        cuped = raw.get("cuped", False)
        if not isinstance(cuped, bool):
            raise ValidationError("must be true or false", "cuped")
        variants = _variants(raw.get("variants"), design, base or EngineConfig())
        return cls(
            name,
            scenario,
            design,
            variants,
            salt,
            cuped,
            created_at=time.time() if created_at is None else created_at,
        )

    def variant_of(self, user_id: str) -> str:
        """The user's variant: a salted hash of the id mapped onto the cumulative shares.

        For an interleaved experiment every user sees both (``INTERLEAVED``).
        """
        if self.design == INTERLEAVE:
            return INTERLEAVED
        digest = hashlib.blake2b(f"{self.salt}\x00{user_id}".encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2.0**64
        cumulative = 0.0
        for variant in self.variants:
            cumulative += variant.share
            if point < cumulative:
                return variant.name
        return self.variants[-1].name  # rounding of the shares' sum

    def variant(self, name: str) -> Variant:
        """The variant called ``name`` (KeyError when there is none)."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)

    def stopped(self) -> ExperimentSpec:
        """This experiment, stopped (answers return to the scenario's own settings)."""
        return ExperimentSpec(
            self.name,
            self.scenario,
            self.design,
            self.variants,
            self.salt,
            self.cuped,
            STOPPED,
            self.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """The definition as stored and as ``GET`` shows it."""
        return {
            "name": self.name,
            "scenario": self.scenario,
            "design": self.design,
            "salt": self.salt,
            "cuped": self.cuped,
            "status": self.status,
            "created_at": self.created_at,
            "variants": [
                {"name": v.name, "share": v.share, "settings": v.settings} for v in self.variants
            ],
        }

    def to_json(self) -> str:
        """``to_dict`` as JSON (the stored form)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExperimentSpec:
        """Read back ``to_json`` (stored definitions were validated when written)."""
        data = json.loads(text)
        variants = tuple(Variant(v["name"], v["share"], v["settings"]) for v in data["variants"])
        return cls(
            data["name"],
            data["scenario"],
            data["design"],
            variants,
            data["salt"],
            data.get("cuped", False),
            data["status"],
            data["created_at"],
        )


def _variants(raw: Any, design: str, base: EngineConfig) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ValidationError("must be a list of at least two variants", "variants")
    if design == INTERLEAVE and len(raw) != 2:
        raise ValidationError("an interleaved experiment has exactly two variants", "variants")
    names: set[str] = set()
    parsed = []
    for index, entry in enumerate(raw):
        where = f"variants[{index}]"
        if not isinstance(entry, dict):
            raise ValidationError("expected an object with name, share and settings", where)
        unknown = sorted(entry.keys() - _VARIANT_FIELDS)
        if unknown:
            raise ValidationError("unknown field", f"{where}.{unknown[0]}")
        name = check_id(entry.get("name"), f"{where}.name")
        if name in names or name == INTERLEAVED:
            raise ValidationError("must be unique (and not 'interleaved')", f"{where}.name")
        names.add(name)
        share = entry.get("share", 1.0 / len(raw))
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 < share <= MAX_SHARE
        ):
            raise ValidationError(f"must be a number in (0, {MAX_SHARE:g}]", f"{where}.share")
        settings = entry.get("settings", {})
        _check_settings(settings, base, f"{where}.settings")
        parsed.append((name, float(share), settings))
    total = sum(share for _, share, _ in parsed)
    return tuple(Variant(name, share / total, settings) for name, share, settings in parsed)


def _check_settings(settings: Any, base: EngineConfig, where: str) -> None:
    if not isinstance(settings, dict):
        raise ValidationError("must be a partial settings object", where)
    for section, value in settings.items():
        if section not in ANSWER_SECTIONS:
            raise ValidationError(
                f"a variant may override only {', '.join(sorted(ANSWER_SECTIONS))}",
                f"{where}.{section}",
            )
        if isinstance(value, dict):
            for key in value:
                if f"{section}.{key}" in STATE_SETTINGS:
                    raise ValidationError(
                        "builds state shared by every variant: set it in the engine's settings",
                        f"{where}.{section}.{key}",
                    )
    try:
        merged = base.merged(settings)
    except ValidationError as exc:
        raise ValidationError(exc.message, f"{where}.{exc.field}") from None
    _check_weights(merged, where)
    for source in KEPT_UP_ONLY_WHEN_ON:
        if getattr(merged.blend, source) > 0 and getattr(base.blend, source) <= 0:
            raise ValidationError(
                "the engine keeps this model up only when its own blend weight is above 0",
                f"{where}.blend.{source}",
            )


def _check_weights(merged: EngineConfig, where: str) -> None:
    """Source names the registry knows; finite weights that cannot overflow a score."""
    blends: dict[str, BlendConfig | NewUserBlendConfig] = {
        "blend": merged.blend,
        "scenarios.new_user_blend": merged.scenarios.new_user_blend,
    }
    for prefix, blend in blends.items():
        registry.check_names(blend.sources, f"{where}.{prefix}.sources")
        weights = {**blend.model_dump(exclude={"sources"}), **blend.sources}
        for name, weight in weights.items():
            if isinstance(weight, float | int) and not (
                math.isfinite(weight) and abs(weight) <= MAX_WEIGHT
            ):
                raise ValidationError(
                    f"must be a finite weight of at most {MAX_WEIGHT:g}", f"{where}.{prefix}.{name}"
                )
