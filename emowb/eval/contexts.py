"""Evaluation contexts: score a model with a subset of its input modalities.

A context ``"a"`` for an audio-video model marks video unavailable for every utterance (the model
then fills it as configured: zeros, as the paper's "A inference", the training mean, or its
learned vector). :func:`all_contexts` lists every non-empty subset, largest first, so the result
table is a train-modalities × test-modalities matrix.
"""

from __future__ import annotations

import dataclasses
import itertools

from emowb.types import Modality

__all__ = ["ModalityContext", "all_contexts", "parse_contexts"]


@dataclasses.dataclass(frozen=True)
class ModalityContext:
    """Keep only ``keep``'s modalities available; every other modality becomes unavailable.

    ``__call__(batch) -> batch`` returns a new batch (the input is not modified). A modality
    that the model does not take at all is an error (the context makes no sense for it).
    """

    keep: tuple[Modality, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep", Modality.parse(self.keep))

    @property
    def name(self) -> str:
        return Modality.code(self.keep)

    def __call__(self, batch):
        unknown = [m.value for m in self.keep if m not in batch.modalities]
        if unknown:
            raise ValueError(f"context {self.name!r} keeps modality {unknown} but the batch only has "
                             f"{Modality.code(batch.modalities)}")
        avail = batch.avail.clone()
        for i, m in enumerate(batch.modalities):
            if m not in self.keep:
                avail[..., i] = False
        info = dict(batch.info)
        info["context"] = self.name
        return batch.replace(avail=avail, info=info)


def all_contexts(modalities) -> dict[str, ModalityContext]:
    """``{"av": ..., "a": ..., "v": ...}`` for ``"av"``: every non-empty subset, largest first."""
    mods = Modality.parse(modalities)
    out = {}
    for k in range(len(mods), 0, -1):
        for sub in itertools.combinations(mods, k):
            ctx = ModalityContext(sub)
            out[ctx.name] = ctx
    return out


def parse_contexts(spec, modalities) -> dict[str, ModalityContext]:
    """Contexts from ``"a,av"`` / ``["a", "av"]`` / None (= all), checked against ``modalities``."""
    mods = Modality.parse(modalities)
    if spec is None:
        return all_contexts(mods)
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    out = {}
    for item in items:
        ctx = ModalityContext(Modality.parse(item))
        extra = [m.value for m in ctx.keep if m not in mods]
        if extra:
            raise ValueError(f"context {ctx.name!r} needs modality {extra} that the model "
                             f"({Modality.code(mods)}) does not take")
        out[ctx.name] = ctx
    return out
