"""Tiny feature-only corpora and configs for the COGMEN / trainer / experiment tests."""

from __future__ import annotations

import numpy as np

from conftest import make_dyadic_table
from emowb.data import IEMOCAP4, Corpus, CorpusInfo
from emowb.features import FeatureSet
from emowb.models.cogmen import CogmenConfig
from emowb.train.trainer import TrainConfig
from emowb.types import Modality


def toy_corpus(root, *, n_groups=4, dialogues_per_group=3, utts=10, seed=0) -> Corpus:
    return Corpus(root, make_dyadic_table(n_groups=n_groups, dialogues_per_group=dialogues_per_group,
                                          utts=utts, seed=seed), CorpusInfo("toy", IEMOCAP4),
                  check_files=False)


def toy_features(corpus: Corpus, *, signal=3.0, dims=None, seed=0, video_valid=0.8):
    """Audio carries the class (one-hot × signal + noise); video is weaker; some video missing."""
    dims = dims or {"a": 6, "v": 5, "t": 4}
    rng = np.random.default_rng(seed)
    u = corpus.table["utt_id"].tolist()
    y = corpus.y
    onehot = np.eye(len(corpus.labels))[y]
    out = {}
    for code, d in dims.items():
        v = rng.normal(size=(len(u), d))
        s = signal if code == "a" else signal / 3
        v[:, :4] += s * onehot[:, : min(4, d)] if d >= 4 else 0
        valid = rng.random(len(u)) < video_valid if code == "v" else None
        if valid is not None:
            v[~valid] = 0
        out[Modality(code)] = FeatureSet(f"toy-{code}", code, u, values=v, valid=valid)
    return out


def tiny_model(**kw) -> CogmenConfig:
    base = dict(hidden_size=8, seq_ff=16, gnn_heads=2, seq_heads=1, dropout=0.1)
    base.update(kw)
    return CogmenConfig(**base)


def tiny_train(**kw) -> TrainConfig:
    base = dict(epochs=4, batch_size=4, lr=1e-2, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)
