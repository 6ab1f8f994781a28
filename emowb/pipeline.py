"""Shared first steps of the notebooks and the demo: a corpus with its features, cached.

Every notebook calls :func:`prepare_corpus` first, so each can run on its own; the corpus and
feature caches make the second and later calls cheap no-ops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from emowb.data.corpus import Corpus, CorpusError

#: feature sets the demo uses: voice functionals (COGMEN audio), face AU statistics (COGMEN
#: video), text embeddings (linguistic teacher), voice low-level descriptors (prosodic teacher).
DEMO_FEATURES = ("egemaps", "openface-au", "minilm", "egemaps-lld")


def prepare_corpus(corpus: str | os.PathLike, *, dialogues: int = 50, seed: int = 0,
                   features: Sequence[str] = DEMO_FEATURES, progress: bool = False) -> Corpus:
    """Load ``corpus`` (generating the synthetic corpus there if the folder does not exist yet),
    and make sure the named feature sets are extracted (cached).

    Args:
        corpus: a corpus folder. If it does not exist, the synthetic dyadic corpus is generated
            into it with ``dialogues`` and ``seed``; an existing folder is used as it is (any
            imported corpus works, e.g. IEMOCAP).
        features: feature sets to extract; names a corpus cannot provide (e.g. ``openface-au``
            for a corpus without faces) raise, so pass only what applies.
    """
    root = Path(corpus)
    if not root.exists():
        from emowb.data.synth import SynthConfig, generate

        generate(root, SynthConfig(dialogues=dialogues, seed=seed), progress=progress, report=False)
    try:
        c = Corpus.load(root)
    except CorpusError as e:
        raise CorpusError(f"{root} exists but is not a usable corpus: {e}") from e
    from emowb.features import extract

    for name in features:
        extract(c, name, progress=progress)
    return c
