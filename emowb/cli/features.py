"""``emowb import``, ``emowb features``, ``emowb feature-sets`` and ``emowb probe``.

Examples::

    emowb import emodb ../shared/data/emodb corpora/emodb                # 4 classes
    emowb import emodb ../shared/data/emodb corpora/emodb7 --classes all
    emowb import iemocap /data/IEMOCAP_full_release corpora/iemocap --classes 6
    emowb import manifest my_data.csv corpora/mine --labels neutral,happy,sad,angry
    emowb features corpora/emodb --set egemaps --set compare
    emowb features corpora/emodb --set hubert --model /models/hubert-large-ll60k --layer -2
    emowb features corpora/emodb --set whisper --model base --layer all   # bundled, offline
    emowb feature-sets corpora/emodb
    emowb probe corpora/emodb --set whisper --set compare --protocol loso --per-speaker
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time

import numpy as np

from emowb.config import parse_assignments
from emowb.data.audio import AudioError
from emowb.data.corpus import Corpus, CorpusError
from emowb.features.base import FeatureError


def register(sub: argparse._SubParsersAction) -> None:
    from emowb.features.extract import FEATURE_SETS
    from emowb.features.imported import IMPORTERS

    p = sub.add_parser("import", help="import a corpus into the canonical format",
                       description="Import a corpus (IEMOCAP, RAVDESS, CREMA-D, EmoDB, COGMEN "
                                   "pickles, or a manifest) into a canonical corpus folder.")
    p.add_argument("kind", choices=sorted(IMPORTERS))
    p.add_argument("src", help="source folder / manifest / pickle")
    p.add_argument("out_dir", help="corpus folder to write")
    p.add_argument("--classes", help="4 | 6 (iemocap) | all")
    p.add_argument("--labels", help="manifest: comma-separated label set, in class order")
    p.add_argument("--name", help="manifest: corpus name")
    p.add_argument("--sessions", help="iemocap: comma-separated session numbers, e.g. 1,2,3")
    p.add_argument("--channel", choices=("speech", "song", "both"), help="ravdess: vocal channel")
    p.add_argument("--copy-media", action="store_true", default=None,
                   help="copy audio/face files into OUT_DIR/media (default: absolute paths)")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other importer option (VALUE parsed as JSON when it can be)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("features", help="extract (or reuse cached) feature sets of a corpus")
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--set", dest="sets", action="append", required=True, choices=sorted(FEATURE_SETS),
                   help="feature set (repeat for several)")
    p.add_argument("--model", help="SSL / text model folder or cached HF repo id; whisper: base | tiny.en | folder")
    p.add_argument("--layer", help="hidden-state index (default -2 for SSL, -1 for whisper and text) or 'all'")
    p.add_argument("--pooling", choices=("mean", "cls"), help="text: pooling")
    p.add_argument("--on-error", choices=("raise", "flag"),
                   help="unreadable files: stop with an error (default) or flag the utterance")
    p.add_argument("--save-as", help="store under this name (one --set only)")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--workers", type=int, dest="num_workers", help="openSMILE processes")
    p.add_argument("--force", action="store_true", help="re-extract even when cached")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other extractor parameter (VALUE parsed as JSON when it can be)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("feature-sets", help="list the feature sets stored for a corpus")
    p.add_argument("corpus", help="corpus folder")
    p.set_defaults(func=cmd_feature_sets)

    p = sub.add_parser("probe", help="linear probe of stored feature sets (one row per layer of an all-layer set)",
                       description="The classical baseline: StandardScaler + a linear classifier per outer fold "
                                   "of a speaker-independent protocol, C chosen by inner grouped CV "
                                   "(emowb.eval.linear). A set stored with layer='all' gives one row per layer.")
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="NAME",
                   help="a stored feature set (emowb feature-sets lists them; repeat for several)")
    p.add_argument("--layers", default="all", help="layers of an all-layer set: 'all' or e.g. 2,3")
    p.add_argument("--protocol", default="loso", choices=["fixed", "logo", "loso", "kfold", "stratified-kfold"])
    p.add_argument("--k", type=int, default=5, help="folds of kfold / stratified-kfold")
    p.add_argument("--classifier", default="logreg", choices=["logreg", "linear-svm"])
    p.add_argument("--per-speaker", action="store_true",
                   help="z-score each speaker's features with that speaker's own statistics first (label-free)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="processes for the inner CV (results do not depend on it)")
    p.add_argument("--json", help="also write the per-fold results here")
    p.set_defaults(func=cmd_probe)


def _options(pairs: list[str]) -> dict:
    return parse_assignments(pairs, flag="-o", dashes_to_underscores=True)


def _fail(e: Exception) -> int:
    print(f"error: {e}", file=sys.stderr)
    return 1


def cmd_import(args: argparse.Namespace) -> int:
    from emowb.features.imported import import_corpus

    opts = _options(args.option)
    if args.classes is not None:
        opts["classes"] = int(args.classes) if args.classes.isdigit() else args.classes
    if args.labels:
        opts["labels"] = [s.strip() for s in args.labels.split(",") if s.strip()]
    if args.sessions:
        opts["sessions"] = [int(s) for s in args.sessions.split(",")]
    for k in ("name", "channel", "copy_media"):
        if getattr(args, k) is not None:
            opts[k] = getattr(args, k)
    try:
        corpus = import_corpus(args.kind, args.src, args.out_dir, **opts)
    except TypeError as e:  # an option this importer does not take
        return _fail(f"importer {args.kind!r}: {e}")
    except (CorpusError, AudioError, ValueError, FileNotFoundError) as e:
        return _fail(e)
    print(corpus.report())
    for reason, d in corpus.info.extra.get("excluded", {}).items():
        print(f"excluded {d['total']}: {reason}: " + ", ".join(f"{k} {v}" for k, v in d["counts"].items()))
    for reason, d in corpus.info.extra.get("kept_with_problems", {}).items():
        print(f"kept {d['total']}: {reason}: " + ", ".join(f"{k} {v}" for k, v in d["counts"].items()))
    print(f"wrote {corpus.root}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from emowb.features.extract import extract

    if args.save_as and len(args.sets) > 1:
        return _fail("--save-as needs exactly one --set")
    try:
        corpus = Corpus.load(args.corpus)
    except CorpusError as e:
        return _fail(e)
    base = _options(args.option)
    for k in ("model", "pooling", "on_error", "device", "num_workers"):
        if getattr(args, k) is not None:
            base[k] = getattr(args, k)
    if args.layer is not None:
        base["layer"] = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
    audio_s = _audio_seconds(corpus)
    for name in args.sets:
        params = {k: v for k, v in base.items() if _takes(name, k)}
        try:
            t0 = time.perf_counter()
            status: dict = {}
            fs = extract(corpus, name, save_as=args.save_as, force=args.force,
                         progress=not args.no_progress, status=status, **params)
            dt = time.perf_counter() - t0
            hit = status["cache_hit"]   # also when another process extracted it while we waited
        except (CorpusError, FeatureError, AudioError, ValueError, TypeError) as e:
            return _fail(f"feature set {name!r}: {e}")
        rate = f"{len(fs) / dt:.1f} utt/s" if dt > 0 else ""
        rtf = f", real-time factor {dt / audio_s:.4f}" if audio_s and fs.modality.value == "a" else ""
        print(f"{fs!r}: {'cache hit' if hit else 'extracted'} in {dt:.2f} s ({rate}{rtf if not hit else ''})")
        bad = collections.Counter(_reason(n) for n, v in zip(fs.notes, fs.valid) if not v)
        if bad:
            print(f"  invalid (flagged, zeroed): " + ", ".join(f"{k} {v}" for k, v in bad.most_common()))
    return 0


def _reason(note: str) -> str:
    """A note without file paths and details, to count invalid rows by reason."""
    return re.sub(r"\s*(in\s+)?/\S+", "", note).split(":")[0].strip() or note


def _takes(name: str, key: str) -> bool:
    """Whether a shared CLI option applies to the extractor family of ``name``."""
    audio = name not in ("minilm", "text", "openface-au")
    model_based = name in ("hubert", "wav2vec2", "wavlm", "ssl", "whisper", "text", "minilm")
    return {"model": model_based, "layer": model_based, "pooling": name in ("text", "minilm"),
            "device": model_based, "num_workers": name in ("egemaps", "compare", "egemaps-lld", "opensmile"),
            "on_error": audio or name == "openface-au"}.get(key, True)


def _audio_seconds(corpus: Corpus) -> float:
    """Seconds of audio in the corpus: the ``duration`` column, else segment bounds / headers."""
    from emowb.data.audio import audio_duration

    t = corpus.table
    if "duration" in t.columns:
        return float(np.nansum(t["duration"].astype(float).to_numpy()))
    total = 0.0
    for i in range(len(t)):
        p = corpus.path("audio", i)
        if p is None:
            continue
        s, e = float(t["start"].iat[i]), float(t["end"].iat[i])
        try:
            e = e if not np.isnan(e) else audio_duration(p)
        except AudioError:
            continue
        total += e - (0.0 if np.isnan(s) else s)
    return total


def cmd_feature_sets(args: argparse.Namespace) -> int:
    from emowb.features.store import list_features

    try:
        corpus = Corpus.load(args.corpus)
    except CorpusError as e:
        return _fail(e)
    rows = list_features(corpus)
    if not rows:
        print(f"no feature sets stored for {corpus.root}")
    for r in rows:
        stale = "" if r["current"] else "  (stale: corpus changed since)"
        print(f"{r['name']:<16} {r['modality']}  {r['kind']:<8} dim {r['dim']:<6} {r['path'].name}{stale}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """One table: a linear probe of each feature set (and each layer of an all-layer set)."""
    import json

    import pandas as pd

    from emowb.eval.linear import linear_probe
    from emowb.eval.summary import summarise, to_markdown
    from emowb.features.store import load_features

    corpus = Corpus.load(args.corpus)
    rows, folds = [], []
    for name in args.sets:
        fs, views = probe_views(corpus, load_features(corpus, name), per_speaker=args.per_speaker,
                                layers=args.layers)
        for layer, x in views:
            t0 = time.perf_counter()
            per_fold, _ = linear_probe(corpus, x, protocol=args.protocol, classifier=args.classifier,
                                       seed=args.seed, valid=fs.valid, n_jobs=args.jobs, k=args.k)
            row = {"feature set": name, "layer": layer, "dim": x.shape[1]}
            row.update({m: summarise(per_fold[k]).format() for m, k in
                        (("UA", "UA"), ("WA", "WA"), ("weighted F1", "weighted_f1"))})
            row["folds"] = len(per_fold)
            rows.append(row)
            folds += [{"feature_set": name, "layer": layer, **r} for r in per_fold.to_dict("records")]
            print(f"  {name} layer {layer}: UA {row['UA']} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    norm = ", per-speaker z-scored" if args.per_speaker else ""
    print(f"# linear probe ({args.classifier}{norm}), {args.protocol}: test, mean ± std over folds\n")
    print(to_markdown(pd.DataFrame(rows), index=False))
    if args.json:
        from emowb.utils import write_json

        write_json(args.json, {"corpus": str(corpus.root), "protocol": args.protocol, "classifier": args.classifier,
                               "per_speaker": args.per_speaker, "table": rows, "per_fold": folds})
    return 0


def probe_views(corpus: Corpus, fs, *, per_speaker: bool, layers: str = "all"):
    """``(fs, [(layer, (N, D) values), ...])`` to probe: ``fs`` in table order (z-scored per
    speaker if asked), one view per chosen layer of an all-layer set, else the set itself."""
    from emowb.batching.utterances import speaker_normalise_inputs
    from emowb.features.ssl import split_layers

    fs = fs.take(corpus.table["utt_id"].tolist())
    if per_speaker:
        fs = speaker_normalise_inputs(corpus, {fs.name: fs})[fs.name]
    if fs.kind != "vector":
        raise FeatureError(f"feature set {fs.name!r} holds frame sequences; probe a vector set (functionals, "
                           "pooled encoder states)")
    if fs.config.get("layer") != "all":
        return fs, [(str(fs.config.get("layer", "-")), fs.values)]
    stack = split_layers(fs)
    chosen = range(stack.shape[1]) if layers == "all" else [int(x) for x in layers.split(",")]
    if any(not 0 <= x < stack.shape[1] for x in chosen):
        raise FeatureError(f"--layers {layers}: {fs.name!r} has layers 0 .. {stack.shape[1] - 1}")
    return fs, [(str(x), stack[:, x]) for x in chosen]
