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
- ``kfold``: size-balanced grouped k-fold over groups (``k`` folds, each holding out whole
  groups), as scikit-learn's ``GroupKFold``: groups are taken largest first (by utterances) and
  each goes to the fold with the fewest utterances so far. The seed only breaks ties: the groups
  are shuffled with it before the (stable) sort by size, so groups of equal size land in seeded
  folds; with distinct sizes the folds do not depend on the seed.
- ``stratified-kfold``: scikit-learn's ``StratifiedGroupKFold(k, shuffle=True,
  random_state=seed)`` over the utterances with their groups: whole groups per fold, chosen so
  that each test fold's class distribution is close to the corpus'.

:func:`fold_class_counts` tabulates the classes of each fold's test set (``emowb splits``
prints it).

Dev (early stopping) is drawn from the training dialogues of each fold with a seeded generator,
by one of two rules (``dev_by``, recorded in :attr:`Split.dev_by` / :attr:`Split.dev_note` and so
in every run's ``config.json``):

- ``speaker``: dev holds out whole *speakers* of the training part: the training dialogues are
  cut into independent units (dialogues linked by a shared speaker or group: an actor of an
  acted corpus, a session of IEMOCAP), the units are shuffled with the seed and taken while that
  brings the dev utterances closer to ``dev_share`` of the training utterances (at least one
  unit, at least two left for training). No dev speaker is a training speaker. With fewer than
  :data:`MIN_DEV_UNITS` units it falls back to the ``dialogue`` rule and says so in
  ``dev_note`` (and a warning).
- ``dialogue``: a random ``dev_share`` of the training dialogues (COGMEN's rule; its dev speakers
  also speak in training dialogues whenever dialogues share speakers, as in IEMOCAP; on a
  corpus of single-utterance dialogues it is a random share of the training utterances).

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
        dev_by: how dev was drawn: ``speaker`` (whole speakers / groups held out of training:
            speaker-independent), ``dialogue`` (a random share of the training dialogues),
            ``none`` (no dev), ``given`` (recorded with the corpus).
        dev_note: why the rule differs from the one asked for (e.g. too few speakers), else "".
    """

    name: str
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]
    score_speakers: tuple[str, ...] | None = None
    dev_by: str = "dialogue"
    dev_note: str = ""

    @classmethod
    def from_json(cls, d: dict) -> "Split":
        """The inverse of :meth:`to_json` (records written before ``dev_by`` read as ``dialogue``)."""
        return cls(d["name"], tuple(d["train"]), tuple(d["dev"]), tuple(d["test"]),
                   tuple(d["score_speakers"]) if d.get("score_speakers") is not None else None,
                   dev_by=d.get("dev_by", "dialogue"), dev_note=d.get("dev_note", ""))

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


#: ``dev_by="speaker"`` needs at least this many independent speaker units in a fold's training
#: part (one for dev, two left for training); with fewer it falls back to ``dialogue``.
MIN_DEV_UNITS = 3
DEV_BY = ("speaker", "dialogue")


def _speaker_units(t: pd.DataFrame, dialogues: Sequence[str]) -> list[list[str]]:
    """The dialogues cut into independent units: connected components of dialogues that share a
    speaker or a group (sorted, in a fixed order)."""
    parent = {d: d for d in dialogues}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sub = t[t["dialogue_id"].isin(parent)]
    for col in ("speaker", "group"):
        for ds in sub.groupby(col, sort=True)["dialogue_id"].unique():
            first = find(ds[0])
            for d in ds[1:]:
                r = find(d)
                if r != first:
                    parent[r] = first
    units: dict[str, list[str]] = {}
    for d in sorted(parent):
        units.setdefault(find(d), []).append(d)
    return sorted(units.values())


def _dev_dialogues(name: str, train: list[str], *, dev_share: float, rng: np.random.Generator) -> set[str]:
    n_dev = int(round(dev_share * len(train)))
    if dev_share > 0:
        n_dev = max(1, n_dev)
    if n_dev >= len(train):
        raise SplitError(f"split {name}: {len(train)} training dialogue(s) cannot give "
                         f"{n_dev} dev dialogue(s) and keep some for training; lower dev_share "
                         "or use a corpus with more dialogues")
    dev_idx = set(rng.choice(len(train), size=n_dev, replace=False).tolist()) if n_dev else set()
    return {d for i, d in enumerate(train) if i in dev_idx}


def _dev_speakers(t: pd.DataFrame, units: list[list[str]], *, dev_share: float,
                  rng: np.random.Generator) -> set[str]:
    sizes = t.groupby("dialogue_id", sort=False).size()
    unit_size = [int(sizes.reindex(u).fillna(0).sum()) for u in units]
    target = dev_share * sum(unit_size)
    chosen: list[int] = []
    n_dev = 0
    for i in rng.permutation(len(units)).tolist():
        if len(chosen) >= len(units) - 2:
            break
        if not chosen or abs(n_dev + unit_size[i] - target) < abs(n_dev - target):
            chosen.append(i)
            n_dev += unit_size[i]
    return {d for i in chosen for d in units[i]}


def _with_dev(name: str, train: Sequence[str], test: Sequence[str], *, dev_share: float,
              rng: np.random.Generator, score_speakers=None, table: pd.DataFrame | None = None,
              dev_by: str = "dialogue") -> Split:
    if dev_by not in DEV_BY:
        raise SplitError(f"dev_by={dev_by!r}: use one of {DEV_BY}")
    train = sorted(train)
    note = ""
    if dev_share <= 0:
        dev_ids, used = set(), "none"
    elif dev_by == "speaker":
        units = _speaker_units(table, train)
        if len(units) >= MIN_DEV_UNITS:
            dev_ids, used = _dev_speakers(table, units, dev_share=dev_share, rng=rng), "speaker"
        else:
            note = (f"dev_by=speaker needs >= {MIN_DEV_UNITS} independent speaker groups in training, "
                    f"fold has {len(units)}: dev is a random {dev_share:g} of the training dialogues "
                    "(its speakers also train)")
            log.warning("split %s: %s", name, note)
            dev_ids, used = _dev_dialogues(name, train, dev_share=dev_share, rng=rng), "dialogue"
    else:
        dev_ids, used = _dev_dialogues(name, train, dev_share=dev_share, rng=rng), "dialogue"
    dev = tuple(d for d in train if d in dev_ids)
    tr = tuple(d for d in train if d not in dev_ids)
    return Split(name, tr, dev, tuple(sorted(test)),
                 tuple(sorted(score_speakers)) if score_speakers is not None else None,
                 dev_by=used, dev_note=note)


def _balanced_group_folds(sizes: pd.Series, k: int, rng: np.random.Generator) -> dict[str, int]:
    """Group -> fold: largest group first, each to the fold with the fewest utterances so far
    (ties: the lower fold). Groups are shuffled with ``rng`` before the stable sort by size, so the
    seed decides only among groups of equal size."""
    groups = list(sizes.index)
    order = [groups[i] for i in rng.permutation(len(groups))]
    order.sort(key=lambda g: -int(sizes[g]))
    load = [0] * k
    fold_of = {}
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += int(sizes[g])
    return fold_of


def _stratified_group_folds(t: pd.DataFrame, k: int, seed: int) -> dict[str, int]:
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    groups = t["group"].to_numpy()
    fold_of = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # "least populated class has < k members"
        for f, (_, test_idx) in enumerate(cv.split(np.zeros(len(t)), t["label"].to_numpy(), groups)):
            for g in set(groups[test_idx]):
                fold_of[g] = f
    return fold_of


def make_splits(corpus: Corpus, protocol: Protocol | str, *, seed: int = 0, dev_share: float = 0.1,
                test_groups: Sequence[str] | None = None, k: int = 5,
                folds: Sequence[str] | None = None, dev_by: str = "dialogue") -> list[Split]:
    """Make the folds of a protocol.

    Args:
        corpus: the corpus.
        protocol: a :class:`~emowb.Protocol` or its value (``fixed``, ``logo``, ``loso``, ``kfold``,
            ``stratified-kfold``).
        seed: seed for the dev draw (and the tie-breaking of ``kfold`` / the shuffle of
            ``stratified-kfold``).
        dev_share: share of each fold's training dialogues (``dev_by="dialogue"``) or utterances
            (``"speaker"``) held out as dev (0 allowed).
        test_groups: for ``fixed``: the held-out groups (default: the last group).
        k: number of folds for ``kfold``.
        folds: keep only the folds with these names' suffixes (e.g. ``["Ses05"]``).
        dev_by: ``speaker`` (dev holds out whole training speakers; speaker-independent) or
            ``dialogue`` (a random share of the training dialogues); see the module docstring.

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
    dev = dict(dev_share=dev_share, rng=rng, table=t, dev_by=dev_by)
    if dev_by not in DEV_BY:
        raise SplitError(f"dev_by={dev_by!r}: use one of {DEV_BY}")
    if protocol is Protocol.FIXED:
        test_groups = list(test_groups) if test_groups is not None else [groups[-1]]
        unknown = set(test_groups) - set(groups)
        if unknown:
            raise SplitError(f"test_groups {sorted(unknown)} not in corpus groups {groups}")
        test = dgroup.index[dgroup.isin(test_groups)]
        train = dgroup.index[~dgroup.isin(test_groups)]
        splits.append(_with_dev("fixed-" + "+".join(test_groups), train, test, **dev))
    elif protocol is Protocol.LEAVE_ONE_GROUP_OUT:
        if len(groups) < 2:
            raise SplitError(f"leave-one-group-out needs >= 2 groups, corpus has {groups}; give the "
                             "corpus a 'group' per session / speaker (importer) or use another protocol")
        for g in groups:
            test = dgroup.index[dgroup == g]
            train = dgroup.index[dgroup != g]
            splits.append(_with_dev(f"logo-{g}", train, test, **dev))
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
            splits.append(_with_dev(f"loso-{s}", train, test, score_speakers=[s], **dev))
    elif protocol in (Protocol.GROUP_KFOLD, Protocol.STRATIFIED_GROUP_KFOLD):
        if not 2 <= k <= len(groups):
            raise SplitError(f"group k-fold needs 2 <= k <= number of groups ({len(groups)}), got k={k}; "
                             "pass a k in that range")
        if protocol is Protocol.GROUP_KFOLD:
            fold_of = _balanced_group_folds(t.groupby("group").size().reindex(groups), k, rng)
            prefix = f"kfold{k}"
        else:
            fold_of = _stratified_group_folds(t, k, seed)
            prefix = f"skfold{k}"
        for f in range(k):
            held = sorted(g for g in groups if fold_of.get(g) == f)
            if not held:
                raise SplitError(f"{protocol.value}: fold {f} of {k} holds no group; lower k")
            test = dgroup.index[dgroup.isin(held)]
            train = dgroup.index[~dgroup.isin(held)]
            splits.append(_with_dev(f"{prefix}-{f}", train, test, **dev))
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


def fold_class_counts(corpus: Corpus, splits: Sequence[Split], part: str = "test") -> pd.DataFrame:
    """Utterances per class in one part of each fold: a frame fold × class (corpus label order).

    ``part="test"`` counts the *scored* test utterances (:meth:`Split.test_mask`), ``train`` /
    ``dev`` every utterance of those dialogues. A column ``total`` is added.
    """
    t = corpus.table
    rows = {}
    for s in splits:
        mask = s.test_mask(t) if part == "test" else t["dialogue_id"].isin(set(s.part(part))).to_numpy()
        rows[s.name] = t.loc[mask, "label"].value_counts()
    out = pd.DataFrame(rows).T.reindex(columns=list(corpus.labels)).fillna(0).astype(int)
    out.index.name = "fold"
    out["total"] = out.sum(axis=1)
    return out


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
                  tuple(parts.get("test", ())), dev_by="given")
    if check:
        check_independent(corpus, split)
        check_classes(corpus, split)
    return split
