"""Masked modality training (COGMEN-Mask): the four scenarios, for any set of modalities.

At every training step :class:`ScenarioMixture` draws **one** scenario for the whole batch:

===================  =====  ==================================================================
scenario             prob.  what it does
===================  =====  ==================================================================
``none``              0.1   nothing
``full-a``            0.3   audio unavailable for every utterance of the batch
``full-v``            0.3   video unavailable for every utterance of the batch
``random``            0.3   random spans (start probability 0.2, length 1) masked per modality
===================  =====  ==================================================================

(the paper's defaults; any modality set: ``p_full`` maps each modality to its probability).

Random masking has two granularities (:class:`MaskGranularity`), and a run records which:

- ``utterance`` (the paper's wording, "each sample is chosen as the start of a mask"): for each
  masked modality, each utterance position of each dialogue starts a mask with probability
  ``start_prob``; a mask covers ``mask_length`` consecutive utterances (clipped at the dialogue's
  end); covered utterances get that modality marked unavailable.
- ``feature`` (what the authors' code does): for each masked modality, each *feature dimension*
  starts a mask with probability ``start_prob`` and covers ``mask_length`` consecutive
  dimensions; one mask per batch, applied to every utterance (``Batch.feature_keep``).

Masked entries are then filled by the model exactly like genuinely missing input (zeros by
default; the reference multiplies by a 0/1 mask). Uni-modal masking (random masking of the
audio-only model) is :meth:`MaskingConfig.unimodal`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Mapping, Sequence

import torch

from emowb.config import Config, ConfigError, require
from emowb.types import Modality

__all__ = ["MaskGranularity", "MaskingConfig", "NoMask", "FullModalityMask", "RandomUtteranceMask",
           "RandomFeatureMask", "ScenarioMixture", "build_masker"]


class MaskGranularity(str, enum.Enum):
    UTTERANCE = "utterance"
    FEATURE = "feature"


def _default_full() -> dict[str, float]:
    return {"a": 0.3, "v": 0.3}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskingConfig(Config):
    """Scenario probabilities and random-mask parameters.

    Attributes:
        p_none: probability of no masking.
        p_full: modality code -> probability of masking that modality fully.
        p_random: probability of random masking.
        start_prob: probability that a position (utterance or feature dimension) starts a mask;
            a number, or a mapping modality code -> number.
        mask_length: positions per mask; a number or a mapping modality code -> number.
        random_modalities: modalities random masking touches (None = all the model's).
        granularity: :class:`MaskGranularity` of random masking.

    The probabilities must sum to 1.
    """

    p_none: float = 0.1
    p_full: dict[str, float] = dataclasses.field(default_factory=_default_full)
    p_random: float = 0.3
    start_prob: float | dict[str, float] = 0.2
    mask_length: int | dict[str, int] = 1
    random_modalities: str | None = None
    granularity: MaskGranularity = MaskGranularity.UTTERANCE

    def validate(self) -> None:
        probs = {"p_none": self.p_none, "p_random": self.p_random,
                 **{f"p_full[{k}]": v for k, v in self.p_full.items()}}
        for name, p in probs.items():
            require(0.0 <= p <= 1.0, f"MaskingConfig.{name} must be in [0, 1], got {p}")
        total = sum(probs.values())
        require(math.isclose(total, 1.0, abs_tol=1e-6),
                f"MaskingConfig: scenario probabilities must sum to 1, got {total:.6g} "
                f"({', '.join(f'{k}={v}' for k, v in probs.items())})")
        for k in self.p_full:
            _parse_one(k, "p_full")
        for name in ("start_prob", "mask_length"):
            v = getattr(self, name)
            items = v.items() if isinstance(v, Mapping) else [("*", v)]
            for k, x in items:
                if k != "*":
                    _parse_one(k, name)
                if name == "start_prob":
                    require(0.0 <= x <= 1.0, f"MaskingConfig.start_prob[{k}] must be in [0, 1], got {x}")
                else:
                    require(isinstance(x, int) and x >= 1,
                            f"MaskingConfig.mask_length[{k}] must be an int >= 1, got {x!r}")
        if self.random_modalities is not None:
            Modality.parse(self.random_modalities)

    @classmethod
    def unimodal(cls, modality: str = "a", **changes) -> "MaskingConfig":
        """Random masking of a one-modality model: none 0.5, random 0.5 (start 0.2, length 1).

        The paper gives no probabilities for its uni-modal variant; fully masking the only
        modality would leave no input, so only "none" and "random" remain, equally likely.
        """
        base = dict(p_none=0.5, p_full={}, p_random=0.5, random_modalities=modality)
        base.update(changes)
        return cls(**base)

    @classmethod
    def from_mode(cls, mode: str, modalities: str) -> "MaskingConfig | None":
        """The masking of a one-word mode, as ``emowb train --mask`` and ``train.ipynb`` name it.

        ``none`` -> None; ``unimodal`` -> :meth:`unimodal` on the first modality;
        ``utterance`` / ``feature`` -> the four scenarios at that granularity, the 0.6 of full
        masking shared equally by the modalities (0.3 each for audio + video, as in the paper).
        """
        if mode == "none":
            return None
        if mode == "unimodal":
            return cls.unimodal(Modality.parse(modalities)[0].value)
        mods = Modality.parse(modalities)
        return cls(p_full={m.value: 0.6 / len(mods) for m in mods}, granularity=mode)

    def value_for(self, name: str, m: Modality) -> float:
        v = getattr(self, name)
        if isinstance(v, Mapping):
            if m.value not in v:
                raise ConfigError(f"MaskingConfig.{name} has no value for modality {m.value!r}")
            return v[m.value]
        return v

    def describe(self) -> str:
        parts = [f"none {self.p_none:g}"] + [f"full-{k} {v:g}" for k, v in self.p_full.items()]
        parts.append(f"random {self.p_random:g} (start {self.start_prob}, length {self.mask_length}, "
                     f"{self.granularity.value})")
        return ", ".join(parts)


def _parse_one(code: str, field: str) -> Modality:
    mods = Modality.parse(code)
    if len(mods) != 1:
        raise ConfigError(f"MaskingConfig.{field}: key {code!r} must name one modality")
    return mods[0]


# --------------------------------------------------------------------------- scenarios
class NoMask:
    """Scenario ``none``: returns the batch unchanged."""

    name = "none"

    def __call__(self, batch, generator: torch.Generator):
        return batch


class FullModalityMask:
    """Scenario ``full-<m>``: modality ``m`` unavailable for every utterance of the batch."""

    def __init__(self, modality: Modality | str) -> None:
        self.modality = Modality(modality)
        self.name = f"full-{self.modality.value}"

    def __call__(self, batch, generator: torch.Generator):
        avail = batch.avail.clone()
        avail[..., batch.modality_index(self.modality)] = False
        return batch.replace(avail=avail)


def _spans(starts: torch.Tensor, length: int) -> torch.Tensor:
    """Positions covered by masks of ``length`` starting where ``starts`` is True (last dim)."""
    covered = starts.clone()
    for k in range(1, length):  # loop over the (small) mask length, not over positions
        covered[..., k:] |= starts[..., :-k]
    return covered


class RandomUtteranceMask:
    """Scenario ``random`` at utterance granularity.

    For each modality in ``modalities``: every utterance position of every dialogue starts a
    mask with probability ``start_prob[m]``; a mask covers ``length[m]`` consecutive utterances
    (clipped at the end of the dialogue); those utterances get modality ``m`` marked unavailable.
    """

    name = "random"

    def __init__(self, modalities: Sequence[Modality], start_prob: Mapping[Modality, float],
                 length: Mapping[Modality, int]) -> None:
        self.modalities = tuple(modalities)
        self.start_prob = dict(start_prob)
        self.length = dict(length)

    def __call__(self, batch, generator: torch.Generator):
        avail = batch.avail.clone()
        b, t = batch.mask.shape
        for m in self.modalities:
            starts = torch.rand((b, t), generator=generator) < self.start_prob[m]
            covered = _spans(starts, self.length[m]).to(avail.device) & batch.mask
            i = batch.modality_index(m)
            avail[..., i] &= ~covered
        return batch.replace(avail=avail)


class RandomFeatureMask:
    """Scenario ``random`` at feature granularity (the authors' code).

    For each modality in ``modalities``: every feature dimension starts a mask with probability
    ``start_prob[m]``; a mask covers ``length[m]`` consecutive dimensions. One mask per batch,
    the same for every utterance (``Batch.feature_keep[m]`` = dimensions kept).
    """

    name = "random"

    def __init__(self, modalities: Sequence[Modality], start_prob: Mapping[Modality, float],
                 length: Mapping[Modality, int], dims: Mapping[Modality, int]) -> None:
        self.modalities = tuple(modalities)
        self.start_prob = dict(start_prob)
        self.length = dict(length)
        self.dims = dict(dims)

    def __call__(self, batch, generator: torch.Generator):
        keep = dict(batch.feature_keep or {})
        for m in self.modalities:
            starts = torch.rand(self.dims[m], generator=generator) < self.start_prob[m]
            covered = _spans(starts, self.length[m]).to(batch.avail.device)
            keep[m] = keep[m] & ~covered if m in keep else ~covered
        return batch.replace(feature_keep=keep)


class ScenarioMixture:
    """Draws one scenario per batch with the given probabilities and applies it.

    ``__call__(batch, generator)`` returns the masked batch with ``batch.info["mask"]`` = the
    scenario's name (the trainer counts them per epoch in ``history.csv``).
    """

    def __init__(self, scenarios: Sequence[tuple[float, object]], *, config: MaskingConfig | None = None) -> None:
        if not scenarios:
            raise ValueError("ScenarioMixture needs at least one scenario")
        self.scenarios = [(float(p), s) for p, s in scenarios if p > 0]
        self.probs = torch.tensor([p for p, _ in self.scenarios], dtype=torch.float64)
        self.cum = torch.cumsum(self.probs, 0)
        self.config = config

    @property
    def names(self) -> list[str]:
        return [s.name for _, s in self.scenarios]

    def draw(self, generator: torch.Generator) -> object:
        u = torch.rand((), generator=generator, dtype=torch.float64) * self.cum[-1]
        i = int(torch.searchsorted(self.cum, u, right=True).clamp(max=len(self.scenarios) - 1))
        return self.scenarios[i][1]

    def __call__(self, batch, generator: torch.Generator):
        scenario = self.draw(generator)
        out = scenario(batch, generator)
        info = dict(out.info)
        info["mask"] = scenario.name
        return out.replace(info=info)


def build_masker(config: MaskingConfig, *, modalities, dims: Mapping[Modality | str, int]) -> ScenarioMixture:
    """The scenario mixture of ``config`` for a model taking ``modalities``.

    Raises:
        ConfigError: a scenario names a modality the model does not take.
    """
    mods = Modality.parse(modalities)
    dims = {Modality(k): int(v) for k, v in dims.items()}
    scenarios: list[tuple[float, object]] = [(config.p_none, NoMask())]
    for code, p in config.p_full.items():
        m = _parse_one(code, "p_full")
        if m not in mods:
            raise ConfigError(f"masking fully masks modality {m.value!r} but the model takes only "
                              f"{Modality.code(mods)}")
        scenarios.append((p, FullModalityMask(m)))
    rnd = Modality.parse(config.random_modalities) if config.random_modalities else mods
    extra = [m.value for m in rnd if m not in mods]
    if extra:
        raise ConfigError(f"random masking touches modality {extra} but the model takes only "
                          f"{Modality.code(mods)}")
    starts = {m: config.value_for("start_prob", m) for m in rnd}
    lengths = {m: int(config.value_for("mask_length", m)) for m in rnd}
    if config.granularity is MaskGranularity.UTTERANCE:
        scenarios.append((config.p_random, RandomUtteranceMask(rnd, starts, lengths)))
    else:
        missing = [m.value for m in rnd if m not in dims]
        if missing:
            raise ConfigError(f"feature-granularity masking needs the width of modality {missing}")
        scenarios.append((config.p_random, RandomFeatureMask(rnd, starts, lengths, dims)))
    return ScenarioMixture(scenarios, config=config)
