"""Speaker-independent splits over dialogues.

Every protocol splits *dialogues* (the unit a conversational model sees) and guarantees that no
speaker of a training dialogue appears in a test dialogue, and no group (session / actor)
crosses train and test. ``check_independent`` verifies it and every split is checked on
construction.

Protocols (``emowb.Protocol``):

- ``fixed``: test = the dialogues of ``test_groups`` (default: the last group, as COGMEN's
  IEMOCAP split holds out Session 5); dev = a ``dev_share`` of the remaining dialogues.
- ``logo``: leave-one-group-out (one fold per session / actor).
- ``loso``: leave-one-speaker-out. Test = the dialogues in which speaker *s* talks, scored on
  *s*'s utterances only (the partner's utterances remain as unscored context); training uses
  only dialogues that share no speaker with the test dialogues.
- ``kfold``: grouped k-fold over groups (``k`` folds, each holding out whole groups).

Dev dialogues are drawn from the training dialogues of each fold with a seeded generator.

Classes: every split is also checked by :func:`check_classes`: training dialogues holding a
single class are a :class:`SplitError` naming the fold; a test set (its scored utterances)
without some class that training has is logged as a warning naming the fold and the classes
(their per-class scores in that fold are undefined; UA and macro F1 average fewer classes).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus
from emowb.types import Protocol


log = logging.getLogger("emowb.splits")


class SplitError(ValueError):
    """A split that cannot be made, is not speaker-independent, or trains on one class."""


@dataclasses.dataclass(frozen=True)
class Split:
    """One fold: dialogue ids for train / dev / test.

    Attributes:
        name: fold name, e.g. ``"logo-Ses05"``.
        train, dev, test: dialogue ids (disjoint).
        score_speakers: if set, only these speakers' test utterances are scored (``loso``).
    """

    name: str
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]
    score_speakers: tuple[str, ...] | None = None

    def test_mask(self, table: pd.DataFrame) -> np.ndarray:
        """Boolean mask (N,) over ``table`` rows that are scored in this fold's test set."""
        m = table["dialogue_id"].isin(set(self.test)).to_numpy().copy()
        if self.score_speakers is not None:
            m &= table["speaker"].isin(set(self.score_speakers)).to_numpy()
        return m

    def part(self, name: str) -> tuple[str, ...]:
        if name not in ("train", "dev", "test"):
            raise ValueError(f"unknown split part {name!r}: use train, dev or test")
        return getattr(self, name)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def check_independent(corpus: Corpus, split: Split) -> None:
    """Raise :class:`SplitError` if a speaker or group is in both train(+dev) and test."""
    t = corpus.table
    parts = {p: set(split.part(p)) for p in ("train", "dev", "test")}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        both = parts[a] & parts[b]
        if both:
            raise SplitError(f"split {split.name}: dialogues in both {a} and {b}: {sorted(both)[:5]}")
    fit = t[t["dialogue_id"].isin(parts["train"] | parts["dev"])]
    test = t[t["dialogue_id"].isin(parts["test"])]
    for col in ("speaker", "group"):
        both = set(fit[col]) & set(test[col])
        if both:
            raise SplitError(f"split {split.name}: {col}(s) {sorted(both)} in both training and "
                             "test dialogues (not speaker-independent)")
    if not parts["train"] or not parts["test"]:
        raise SplitError(f"split {split.name}: empty train or test set; hold out other groups "
                         "(test_groups / fold) or use a corpus with more groups")


def check_classes(corpus: Corpus, split: Split) -> list[str]:
    """Check the classes of a split; return the classes of training missing from the test set.

    Raises:
        SplitError: the training dialogues hold fewer than two classes (naming the fold).

    A test set (scored utterances) that lacks classes the training dialogues have is logged as
    a warning naming the fold and the classes.
    """
    t = corpus.table
    order = {lab: i for i, lab in enumerate(corpus.labels)}
    train = t.loc[t["dialogue_id"].isin(set(split.train)), "label"]
    classes = sorted(set(train), key=lambda lab: order.get(lab, len(order)))
    if len(classes) < 2:
        raise SplitError(f"split {split.name}: its {len(train)} training utterance(s) hold only class "
                         f"{classes or ['(none)']}; a classifier needs at least two: hold out other "
                         "groups / choose another fold or protocol, or import a corpus whose "
                         "training speakers cover several classes")
    tested = set(t.loc[split.test_mask(t), "label"])
    missing = [c for c in classes if c not in tested]
    if missing:
        log.warning("split %s: the test set has no utterance of class(es) %s that training has; their "
                    "per-class scores in this fold are undefined and UA / macro F1 average over fewer "
                    "classes", split.name, missing)
    return missing


def _dialogue_groups(t: pd.DataFrame) -> pd.Series:
    return t.groupby("dialogue_id", sort=False)["group"].first()


def _with_dev(name: str, train: Sequence[str], test: Sequence[str], *, dev_share: float,
              rng: np.random.Generator, score_speakers=None) -> Split:
    train = sorted(train)
    n_dev = int(round(dev_share * len(train)))
    if dev_share > 0:
        n_dev = max(1, n_dev)
    if n_dev >= len(train):
        raise SplitError(f"split {name}: {len(train)} training dialogue(s) cannot give "
                         f"{n_dev} dev dialogue(s) and keep some for training; lower dev_share "
                         "or use a corpus with more dialogues")
    dev_idx = set(rng.choice(len(train), size=n_dev, replace=False).tolist()) if n_dev else set()
    dev = tuple(d for i, d in enumerate(train) if i in dev_idx)
    tr = tuple(d for i, d in enumerate(train) if i not in dev_idx)
    return Split(name, tr, dev, tuple(sorted(test)),
                 tuple(sorted(score_speakers)) if score_speakers is not None else None)


def make_splits(corpus: Corpus, protocol: Protocol | str, *, seed: int = 0, dev_share: float = 0.1,
                test_groups: Sequence[str] | None = None, k: int = 5,
                folds: Sequence[str] | None = None) -> list[Split]:
    """Make the folds of a protocol.

    Args:
        corpus: the corpus.
        protocol: a :class:`~emowb.Protocol` or its value (``fixed``, ``logo``, ``loso``, ``kfold``).
        seed: seed for the dev draw (and the fold assignment of ``kfold``).
        dev_share: share of each fold's training dialogues held out as dev (0 allowed).
        test_groups: for ``fixed``: the held-out groups (default: the last group).
        k: number of folds for ``kfold``.
        folds: keep only the folds with these names' suffixes (e.g. ``["Ses05"]``).

    Returns:
        A list of :class:`Split`, each checked by :func:`check_independent` and
        :func:`check_classes`.
    """
    protocol = Protocol(protocol)
    rng = np.random.default_rng(seed)
    t = corpus.table
    dgroup = _dialogue_groups(t)
    groups = sorted(dgroup.unique())
    splits: list[Split] = []
    if protocol is Protocol.FIXED:
        test_groups = list(test_groups) if test_groups is not None else [groups[-1]]
        unknown = set(test_groups) - set(groups)
        if unknown:
            raise SplitError(f"test_groups {sorted(unknown)} not in corpus groups {groups}")
        test = dgroup.index[dgroup.isin(test_groups)]
        train = dgroup.index[~dgroup.isin(test_groups)]
        splits.append(_with_dev("fixed-" + "+".join(test_groups), train, test,
                                dev_share=dev_share, rng=rng))
    elif protocol is Protocol.LEAVE_ONE_GROUP_OUT:
        if len(groups) < 2:
            raise SplitError(f"leave-one-group-out needs >= 2 groups, corpus has {groups}; give the "
                             "corpus a 'group' per session / speaker (importer) or use another protocol")
        for g in groups:
            test = dgroup.index[dgroup == g]
            train = dgroup.index[dgroup != g]
            splits.append(_with_dev(f"logo-{g}", train, test, dev_share=dev_share, rng=rng))
    elif protocol is Protocol.LEAVE_ONE_SPEAKER_OUT:
        speakers_of = t.groupby("dialogue_id", sort=False)["speaker"].agg(set)
        for s in sorted(t["speaker"].unique()):
            test = [d for d, spk in speakers_of.items() if s in spk]
            test_speakers = set().union(*(speakers_of[d] for d in test))
            test_groups_s = set(dgroup[test])
            train = [d for d, spk in speakers_of.items()
                     if not (spk & test_speakers) and dgroup[d] not in test_groups_s]
            if not train:
                raise SplitError(f"leave-one-speaker-out: holding out speaker {s!r} leaves no "
                                 "training dialogue that is independent of the test speakers")
            splits.append(_with_dev(f"loso-{s}", train, test, dev_share=dev_share, rng=rng,
                                    score_speakers=[s]))
    elif protocol is Protocol.GROUP_KFOLD:
        if not 2 <= k <= len(groups):
            raise SplitError(f"group k-fold needs 2 <= k <= number of groups ({len(groups)}), got k={k}; "
                             "pass a k in that range")
        order = rng.permutation(len(groups))
        fold_of = {groups[g]: i % k for i, g in enumerate(order)}
        for f in range(k):
            held = sorted(g for g in groups if fold_of[g] == f)
            test = dgroup.index[dgroup.isin(held)]
            train = dgroup.index[~dgroup.isin(held)]
            splits.append(_with_dev(f"kfold{k}-{f}", train, test, dev_share=dev_share, rng=rng))
    if folds is not None:
        want = set(folds)
        splits = [s for s in splits if s.name.split("-", 1)[-1] in want or s.name in want]
        if not splits:
            raise SplitError(f"no fold named {sorted(want)} in protocol {protocol.value}; "
                             "`emowb splits CORPUS --protocol ...` lists the folds")
    for s in splits:
        check_independent(corpus, s)
        check_classes(corpus, s)
    return splits


# --------------------------------------------------------------------------- given splits
#: Where importers record the split a corpus comes with: ``corpus.json`` ``extra["splits"]``
#: maps a split name to ``{"train": [...], "dev": [...], "test": [...]}`` (dialogue ids), e.g. the
#: COGMEN pickles' own train/dev/test lists under ``"cogmen"``.
GIVEN_SPLITS_KEY = "splits"


def given_split_names(corpus: Corpus) -> list[str]:
    """Names of the splits recorded in the corpus (``corpus.json`` ``extra["splits"]``)."""
    return sorted((corpus.info.extra or {}).get(GIVEN_SPLITS_KEY, {}))


def given_split(corpus: Corpus, name: str | None = None, *, check: bool = True) -> Split:
    """The train/dev/test split recorded in the corpus under ``name``.

    Args:
        name: the recorded split's name (default: the only one recorded).
        check: verify speaker independence (:func:`check_independent`) and the classes
            (:func:`check_classes`).

    Raises:
        SplitError: no split recorded / unknown name / unknown dialogue ids / not independent /
            one training class.
    """
    recorded = (corpus.info.extra or {}).get(GIVEN_SPLITS_KEY, {})
    if not recorded:
        raise SplitError(f"corpus {corpus.name!r} records no split (corpus.json extra[{GIVEN_SPLITS_KEY!r}])")
    if name is None:
        if len(recorded) != 1:
            raise SplitError(f"corpus {corpus.name!r} records several splits {sorted(recorded)}; name one")
        name = next(iter(recorded))
    if name not in recorded:
        raise SplitError(f"corpus {corpus.name!r} records no split {name!r}; it has {sorted(recorded)}")
    parts = recorded[name]
    known = set(corpus.table["dialogue_id"])
    for p in ("train", "dev", "test"):
        unknown = [d for d in parts.get(p, []) if d not in known]
        if unknown:
            raise SplitError(f"given split {name!r}: {p} dialogue(s) not in the corpus, e.g. {unknown[:3]}")
    split = Split(f"given-{name}", tuple(parts.get("train", ())), tuple(parts.get("dev", ())),
                  tuple(parts.get("test", ())))
    if check:
        check_independent(corpus, split)
        check_classes(corpus, split)
    return split
