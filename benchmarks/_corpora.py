"""Corpora the benchmarks share: a synthetic corpus or the EmoDB import, made once and reused."""
from __future__ import annotations

from pathlib import Path

from emowb.data.corpus import Corpus, CorpusError


def synth_corpus(path: Path, *, dialogues: int, seed: int) -> Corpus:
    """The corpus in ``path``, generated there first (``dialogues``, ``seed``) if it is not one yet."""
    try:
        return Corpus.load(path)
    except CorpusError:
        from emowb.data.synth import SynthConfig, generate

        print(f"generating a synthetic corpus ({dialogues} dialogues, seed {seed}) in {path}", flush=True)
        return generate(path, SynthConfig(dialogues=dialogues, seed=seed), overwrite=True,
                        progress=False, report=False)


def emodb_corpus(emodb: Path, work: Path) -> Corpus:
    """The 4-class EmoDB corpus in ``work/emodb4`` (imported from ``emodb`` once, then reused)."""
    try:
        return Corpus.load(work / "emodb4")
    except CorpusError:
        from emowb.data.importers import import_corpus

        return import_corpus("emodb", emodb, work / "emodb4", classes=4)
