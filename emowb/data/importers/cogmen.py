"""Reader for COGMEN's preprocessed IEMOCAP pickles (feature-only corpora): the corpus part.

Two formats are read (``kind="auto"`` tells them apart):

- ``IEMOCAP_features_4.pkl`` / ``IEMOCAP_features.pkl`` (``kind="features"``): a 9-tuple
  ``(video_ids, video_speakers, video_labels, video_text, video_audio, video_visual,
  video_sentence, trainVids, test_vids)``; the first seven are dicts keyed by dialogue id holding
  per-utterance lists. Text features are ``video_text``. COGMEN's own dev set is the first
  ``int(0.1 · len(trainVids))`` training dialogues (its ``preprocess.py``); ``dev_share``
  changes the 0.1. ``trainVids`` given as a set is sorted first.
- ``data_iemocap_4.pkl`` (``kind="samples"``): ``{"train" | "dev" | "test": [cogmen.Sample]}``
  with attributes ``vid, speaker, label, text, audio, visual, sentence,
  sbert_sentence_embeddings``. Unpickled **without** the cogmen package: ``cogmen.*Sample`` is
  mapped to a plain stand-in class. Text features are the SBERT sentence embeddings (768-d).

What is written (``out_dir``):

- the utterance table: ``utt_id`` (the pickle's utterance id, or ``<dialogue>_u<NNN>`` for
  samples), ``dialogue_id``, ``turn``, ``speaker`` = session + 'M'/'F' (``Ses01M``), ``group`` =
  session (``Ses01F_impro01`` -> ``Ses01``), ``label``, ``text`` (the sentence), ``audio=""``
  (a feature-only corpus), plus ``role`` ('M'/'F', for COGMEN's speaker indexing) and
  ``label_cogmen`` (the pickle's integer label);
- labels in COGMEN's order: 4 classes ``hap, sad, neu, ang`` -> happy, sad, neutral, angry;
  6 classes ``hap, sad, neu, ang, exc, fru`` (+ excited, frustrated);
- feature sets ``cogmen-a`` (audio, 100-d), ``cogmen-v`` (video, 512-d), ``cogmen-t`` (text):
  this module returns the per-utterance vectors (:func:`import_cogmen_corpus`); the features
  layer (:func:`emowb.features.imported.import_cogmen`, which does both steps) stores them with
  :func:`emowb.features.store.save_features`. An utterance whose vector holds NaN/inf is kept,
  zeroed and marked invalid with a note;
- ``corpus.json`` ``extra["splits"]["cogmen"]`` = the original train/dev/test dialogue lists
  (use protocol ``given`` / ``given:cogmen``), ``extra["cogmen"]`` = format, file, label order.

Only unpickle files you trust: pickle can run code.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from emowb.data.corpus import Corpus
from emowb.data.importers._common import SourceError, write_corpus
from emowb.types import Modality

__all__ = ["import_cogmen_corpus", "CogmenImport", "load_cogmen_pickle", "CogmenSample", "COGMEN_LABELS",
           "FEATURE_NAMES"]

#: COGMEN's label order (``dataset_label_dict``) and emowb's names for them.
COGMEN_LABELS = {
    4: (("hap", "happy"), ("sad", "sad"), ("neu", "neutral"), ("ang", "angry")),
    6: (("hap", "happy"), ("sad", "sad"), ("neu", "neutral"), ("ang", "angry"),
        ("exc", "excited"), ("fru", "frustrated")),
}
_SESSION = re.compile(r"^(Ses\d+)")
#: The feature sets a COGMEN pickle holds, by modality.
FEATURE_NAMES = {Modality.AUDIO: "cogmen-a", Modality.VIDEO: "cogmen-v", Modality.TEXT: "cogmen-t"}


@dataclasses.dataclass
class CogmenImport:
    """A written COGMEN corpus and the pickle's feature vectors, not yet stored as feature sets.

    Attributes:
        corpus: the saved corpus.
        utt_ids: the utterance ids, in the order of ``vectors``' rows.
        vectors: modality -> one float64 vector per utterance, as read (widths not yet checked).
        file: the pickle's file name (recorded in the feature sets' config).
    """

    corpus: Corpus
    utt_ids: list[str]
    vectors: dict[Modality, list[np.ndarray]]
    file: str


class CogmenSample:
    """Stand-in for ``cogmen.Sample`` (attributes restored from the pickle's state)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "cogmen" or module.startswith("cogmen."):
            if name.endswith("Sample"):
                return CogmenSample
            raise SourceError(f"COGMEN pickle refers to {module}.{name}; only cogmen.Sample objects "
                              "can be read without the cogmen package")
        return super().find_class(module, name)


def load_cogmen_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a COGMEN file without the cogmen package (``cogmen.*Sample`` -> stand-in)."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"COGMEN pickle not found: {path}")
    try:
        with open(path, "rb") as f:
            return _Unpickler(f, encoding="latin1").load()
    except SourceError:
        raise
    except Exception as e:  # corrupt / not a pickle
        raise SourceError(f"{path}: cannot unpickle ({type(e).__name__}: {e})") from e


def _detect(obj: Any, path: Path) -> str:
    if isinstance(obj, (tuple, list)) and len(obj) == 9 and all(isinstance(x, dict) for x in obj[:7]):
        return "features"
    if isinstance(obj, dict) and {"train", "dev", "test"} <= set(obj):
        return "samples"
    raise SourceError(f"{path}: not a COGMEN pickle (expected a 9-tuple of dicts or a dict with "
                      f"train/dev/test, got {type(obj).__name__}"
                      + (f" of length {len(obj)}" if hasattr(obj, "__len__") else "") + ")")


def _role(x: Any, where: str) -> str:
    if isinstance(x, bytes):
        x = x.decode()
    if isinstance(x, str) and x in ("M", "F"):
        return x
    arr = np.asarray(x).reshape(-1)
    if arr.size == 2 and set(arr.tolist()) <= {0, 1} and arr.sum() == 1:  # one-hot [M, F]
        return "M" if arr[0] == 1 else "F"
    raise SourceError(f"{where}: speaker {x!r} is neither 'M' nor 'F'")


def _session(vid: str) -> str:
    m = _SESSION.match(vid)
    if not m:
        raise SourceError(f"dialogue id {vid!r} does not start with an IEMOCAP session (SesNN); "
                          "the COGMEN importer reads IEMOCAP pickles only")
    return m.group(1)


def _dialogue_records(obj: Any, kind: str, dev_share: float) -> tuple[list[dict], dict[str, list[str]]]:
    """Per-dialogue dicts (vid, speakers, labels, audio, visual, text, sentences, utt_ids) + split."""
    recs: list[dict] = []
    if kind == "features":
        (ids, speakers, labels, text, audio, visual, sentence, train_vids, test_vids) = obj
        train_vids = sorted(train_vids) if isinstance(train_vids, (set, frozenset)) else list(train_vids)
        test_vids = sorted(test_vids) if isinstance(test_vids, (set, frozenset)) else list(test_vids)
        n_dev = int(len(train_vids) * dev_share)
        split = {"train": [str(v) for v in train_vids[n_dev:]], "dev": [str(v) for v in train_vids[:n_dev]],
                 "test": [str(v) for v in test_vids]}
        for vid in list(train_vids) + list(test_vids):
            for name, d in (("video_ids", ids), ("video_speakers", speakers), ("video_labels", labels),
                            ("video_text", text), ("video_audio", audio), ("video_visual", visual),
                            ("video_sentence", sentence)):
                if vid not in d:
                    raise SourceError(f"dialogue {vid!r} is listed in the split but missing from {name}")
            recs.append(dict(vid=str(vid), utt_ids=[str(u) for u in ids[vid]], speakers=speakers[vid],
                             labels=labels[vid], audio=audio[vid], visual=visual[vid], text=text[vid],
                             sentences=sentence[vid]))
        return recs, split
    split = {p: [] for p in ("train", "dev", "test")}
    for part in ("train", "dev", "test"):
        for i, s in enumerate(obj[part]):
            if not isinstance(s, CogmenSample):
                raise SourceError(f"{part}[{i}] is a {type(s).__name__}, not a cogmen.Sample")
            missing = [a for a in ("vid", "speaker", "label", "audio", "visual", "sentence",
                                   "sbert_sentence_embeddings") if not hasattr(s, a)]
            if missing:
                raise SourceError(f"{part}[{i}] (dialogue {getattr(s, 'vid', '?')!r}) lacks {missing}")
            vid = str(s.vid)
            split[part].append(vid)
            n = len(s.label)
            recs.append(dict(vid=vid, utt_ids=[f"{vid}_u{t:03d}" for t in range(n)], speakers=s.speaker,
                             labels=s.label, audio=s.audio, visual=s.visual,
                             text=s.sbert_sentence_embeddings, sentences=s.sentence))
    return recs, split


def import_cogmen_corpus(src: str | os.PathLike, out_dir: str | os.PathLike, *, kind: str = "auto",
                         classes: int | str | None = None, name: str | None = None, dev_share: float = 0.1,
                         split_name: str = "cogmen") -> CogmenImport:
    """Write the canonical feature-only corpus of a COGMEN pickle; return it with the pickle's vectors.

    The feature sets are *not* stored here (that is the features layer's job:
    :func:`emowb.features.imported.import_cogmen` calls this, then stores them).

    Args:
        src: ``IEMOCAP_features_4.pkl``, ``IEMOCAP_features.pkl`` or ``data_iemocap_4.pkl``.
        out_dir: corpus folder to write.
        kind: ``auto`` | ``features`` (9-tuple) | ``samples`` (pickled ``cogmen.Sample`` lists).
        classes: 4 or 6 (default: 6 if a label > 3 occurs, else 4).
        name: corpus name (default ``iemocap<classes>-cogmen``).
        dev_share: for the 9-tuple, the share of ``trainVids`` (from the front) that is dev.
        split_name: name of the recorded split (``extra["splits"][split_name]``).

    Returns:
        A :class:`CogmenImport`: the saved corpus and, per modality of :data:`FEATURE_NAMES`, one
        vector per utterance.

    Raises:
        SourceError: unreadable pickle, inconsistent lengths, unknown labels or speakers (each
            names the dialogue / utterance).
    """
    src = Path(src)
    obj = load_cogmen_pickle(src)
    detected = _detect(obj, src)
    if kind not in ("auto", detected):
        raise SourceError(f"{src}: kind={kind!r} but the file is a {detected!r} COGMEN pickle")
    recs, split = _dialogue_records(obj, detected, dev_share)
    if not recs:
        raise SourceError(f"{src}: no dialogue in the pickle")
    max_label = max(int(np.max(np.asarray(r["labels"]))) for r in recs if len(r["labels"]))
    n_classes = int(classes) if classes is not None else (6 if max_label > 3 else 4)
    if n_classes not in COGMEN_LABELS:
        raise SourceError(f"classes={classes!r}: COGMEN's IEMOCAP pickles have 4 or 6 classes")
    order = COGMEN_LABELS[n_classes]
    label_names = tuple(lab for _, lab in order)
    rows: list[dict] = []
    vecs: dict[Modality, list[np.ndarray]] = {m: [] for m in FEATURE_NAMES}
    seen_vids: set[str] = set()
    for r in recs:
        vid = r["vid"]
        if vid in seen_vids:
            raise SourceError(f"dialogue {vid!r} appears twice in {src.name}")
        seen_vids.add(vid)
        n = len(r["labels"])
        if n == 0:
            raise SourceError(f"dialogue {vid!r} has no utterance (empty dialogue)")
        fields = {"speakers": r["speakers"], "audio": r["audio"], "visual": r["visual"], "text": r["text"],
                  "sentences": r["sentences"], "utterance ids": r["utt_ids"]}
        for fname, val in fields.items():
            if len(val) != n:
                raise SourceError(f"dialogue {vid!r}: {len(val)} {fname} for {n} labels")
        session = _session(vid)
        for t in range(n):
            utt = r["utt_ids"][t]
            lab = int(r["labels"][t])
            if not 0 <= lab < n_classes:
                raise SourceError(f"utterance {utt!r} (dialogue {vid!r}): label {lab} outside COGMEN's "
                                  f"{n_classes}-class range 0..{n_classes - 1} "
                                  f"({', '.join(f'{i}={c}' for i, (c, _) in enumerate(order))})")
            role = _role(r["speakers"][t], f"utterance {utt!r}")
            sentence = r["sentences"][t]
            rows.append(dict(utt_id=utt, dialogue_id=vid, turn=t, speaker=f"{session}{role}",
                             group=session, label=label_names[lab],
                             text=sentence.decode() if isinstance(sentence, bytes) else str(sentence),
                             audio="", role=role, label_cogmen=lab))
            vecs[Modality.AUDIO].append(np.asarray(r["audio"][t], dtype=np.float64).reshape(-1))
            vecs[Modality.VIDEO].append(np.asarray(r["visual"][t], dtype=np.float64).reshape(-1))
            vecs[Modality.TEXT].append(np.asarray(r["text"][t], dtype=np.float64).reshape(-1))
    info_extra = {
        "splits": {split_name: split},
        "cogmen": {"format": detected, "file": src.name, "classes": n_classes,
                   "label_order": [c for c, _ in order], "label_names": list(label_names),
                   "dev_rule": (f"first int({dev_share} * len(trainVids)) training dialogues"
                                if detected == "features" else "the pickle's own dev list"),
                   "text_features": "video_text" if detected == "features" else "sbert_sentence_embeddings"},
    }
    corpus = write_corpus(rows, out_dir, name=name or f"iemocap{n_classes}-cogmen", labels=label_names,
                          provenance=f"COGMEN preprocessed IEMOCAP pickle {src.name} ({detected} format)",
                          licence="IEMOCAP (USC SAIL) licence: research use, no redistribution",
                          extra=info_extra)
    return CogmenImport(corpus=corpus, utt_ids=[r["utt_id"] for r in rows], vectors=vecs, file=src.name)
