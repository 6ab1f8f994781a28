"""``emowb train``, ``emowb experiment``, ``emowb evaluate``.

Examples::

    emowb train CORPUS --features a=egemaps,v=openface-au --modalities av --mask feature --out runs/mask
    emowb train CORPUS --features a=egemaps --modalities a --preset causal --out runs/causal  # streaming model
    emowb experiment CORPUS --features a=egemaps,v=openface-au --seeds 0,1,2 --out runs/masking
    emowb experiment IEMOCAP_features_4.pkl --out runs/cogmen-table        # imports, then runs
    emowb evaluate runs/mask --contexts av,a

``--set KEY=VALUE`` (repeatable) sets any field of the run / experiment configuration by its
flat name (``--set seq_layers=4 --set lr=3e-4 --set model.gnn_heads=3``); VALUE is parsed as JSON
when it can be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emowb.cli._schema import add_schema_options, apply_sets, schema_params
from emowb.config import parse_assignments

PRESETS = ("emowb", "reference")
#: ``emowb train`` presets that set train.ipynb parameters (an explicit option still wins):
#: ``causal`` = a causal COGMEN for streaming (causal SeqContext attention + the past-only graph).
TRAIN_PRESETS = {"causal": {"graph": "past", "causal": True}}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one COGMEN run",
                       description="Train one COGMEN run on a corpus and its stored feature sets, with "
                                   "the parameters of train.ipynb (one seed, one fold).")
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--out", required=True, help="run folder (an interrupted run there is resumed)")
    p.add_argument("--features", help="modality=feature-set pairs, e.g. a=egemaps,v=openface-au "
                                      "(= --audio-features / --video-features)")
    p.add_argument("--fold", help="fold name (e.g. Ses05); default: the first")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--preset", choices=PRESETS + tuple(TRAIN_PRESETS), default="emowb",
                   help="emowb defaults, the reference implementation's behaviour and settings, or causal "
                        "(= --graph past --causal true: a causal model for streaming)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--contexts", help="modality contexts the run is scored in at the end, e.g. atv,a or all "
                                      "(default: every subset; the reference preset: the trained modalities "
                                      "only, as the reference reports). Others later: emowb evaluate RUN --contexts")
    add_schema_options(p, "train", skip=("corpus", "workdir", "figures_dir", "dialogues", "corpus_seed", "utterances",
                                         "seeds", "folds"))
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("experiment", help="masking table: variants x folds x seeds, mean ± std",
                       description="Run the first paper's Tables 2/3 (COGMEN-A, -AV, -Mask at both "
                                   "granularities, A + uni-modal mask, each also with a disjoint graph) "
                                   "on a corpus folder or a COGMEN pickle, and print the table.")
    p.add_argument("src", help="corpus folder, or a COGMEN pickle (imported into OUT/corpus first)")
    p.add_argument("--out", required=True, help="output folder (finished runs are reused)")
    p.add_argument("--features", help="modality=feature-set pairs (default: a=egemaps,v=openface-au for a "
                                      "corpus, a=cogmen-a,v=cogmen-v for a COGMEN pickle)")
    p.add_argument("--protocol", help="fixed | logo | loso | kfold | given[:name] (default: fixed; "
                                      "given:cogmen for a COGMEN pickle)")
    p.add_argument("--folds", help="comma-separated fold names to run (default: all)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--variants", default="all",
                   help="comma-separated variant names (see --list-variants) or 'all'")
    p.add_argument("--granularities", default="utterance,feature", help="COGMEN-Mask granularities")
    p.add_argument("--no-disjoint", action="store_true", help="skip the disjoint-graph variants (Table 3)")
    p.add_argument("--contexts", default="av,a", help="test contexts reported (default av,a)")
    p.add_argument("--metric", default="weighted_f1", help="table metric (default weighted_f1)")
    p.add_argument("--preset", choices=PRESETS,
                   help="default: 'reference' for a COGMEN pickle, 'emowb' for a corpus folder")
    p.add_argument("--list-variants", action="store_true", help="print the variant names and exit")
    p.add_argument("--executor", default="local", metavar="local|processes[:N]|ray[:ADDRESS]",
                   help="where the runs train (default local: one after the other; see docs/scaling.md)")
    _common(p)
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("evaluate", help="re-score a finished run in modality contexts")
    p.add_argument("run_dir")
    p.add_argument("--contexts", help="comma-separated, e.g. av,a (default: every subset)")
    p.add_argument("--split", default="test", help="comma-separated splits: test, dev, train")
    p.add_argument("--json", action="store_true", help="print the full metrics as JSON")
    p.set_defaults(func=cmd_evaluate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="any configuration field by flat name (repeatable)")
    p.add_argument("--epochs", type=int, help="maximum epochs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _pairs(spec: str) -> dict[str, str]:
    out = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise SystemExit(f"--features expects modality=name pairs, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _sets(pairs: list[str]) -> dict:
    return parse_assignments(pairs, flag="--set")


def _preset(name: str, *, has_roles: bool = False) -> dict:
    """Flat parameters of a preset (applied before --set)."""
    if name == "reference":
        # the reference implementation: no padding mask, raw features, 55 epochs, best dev F1,
        # speakers indexed M=0 / F=1 when the corpus records roles (COGMEN pickles do)
        out = {"reference": True, "standardize": False, "per_speaker": False, "lr": 1e-4, "epochs": 55,
               "patience": None, "lr_monitor": "dev_loss", "lr_patience": 10, "lr_factor": 0.1}
        if has_roles:
            out["speaker_index"] = "role"
        return out
    return {}


def _has_roles(corpus_dir) -> bool:
    from emowb.data.corpus import Corpus

    return "role" in Corpus.load(corpus_dir, check_files=False).table.columns


def cmd_train(a: argparse.Namespace) -> int:
    from emowb.notebook import ops
    from emowb.train.run import train_run

    fixed: dict = {"corpus": str(Path(a.corpus).resolve()), "seeds": [a.seed], **TRAIN_PRESETS.get(a.preset, {})}
    if a.fold:
        fixed["folds"] = [a.fold]
    if a.features:
        pairs = _pairs(a.features)
        unknown = set(pairs) - {"a", "v"}
        if unknown:
            raise SystemExit(f"--features: modalities {sorted(unknown)} are not in train.ipynb's schema "
                             "(a and v); use --set data.features=... for others")
        fixed.update({f"{'audio' if k == 'a' else 'video'}_features": v for k, v in pairs.items()})
    nb, rest = schema_params(a, "train", **fixed)
    # the reference preset and --no-progress act on the run's configuration, after the notebook's
    rest = {**_preset(a.preset, has_roles=a.preset == "reference" and _has_roles(a.corpus)),
            "progress": not a.no_progress, **rest}
    corpus = ops.prepare(nb, [nb.features()[m] for m in nb.modalities])
    cfg = apply_sets(nb.run_config(corpus.root, a.seed), rest, notebook="train")
    if a.contexts and a.contexts.strip() != "all":
        cfg = cfg.replace(contexts=tuple(c.strip() for c in a.contexts.split(",") if c.strip()))
    elif a.contexts is None and a.preset == "reference":
        cfg = cfg.replace(contexts=(cfg.model.modalities,))
    nb.use_threads()
    res = train_run(cfg, run_dir=a.out)
    print(f"best epoch {res.best_epoch}; run folder {a.out}")
    for split in ("dev", "test"):
        for ctx, m in res.metrics.get(split, {}).items():
            print(f"{split:5s} {ctx:4s} WA {m['WA']:.4f}  UA {m['UA']:.4f}  weighted_f1 {m['weighted_f1']:.4f}  "
                  f"macro_f1 {m['macro_f1']:.4f}")
    return 0


def cmd_experiment(a: argparse.Namespace) -> int:
    import torch

    from emowb.data.corpus import Corpus
    from emowb.train.experiment import ExperimentConfig, masking_table_variants, run_experiment

    src = Path(a.src)
    is_pickle = src.is_file()
    variants = masking_table_variants(granularities=[g for g in a.granularities.split(",") if g],
                                      disjoint=not a.no_disjoint)
    if a.list_variants:
        for v in variants:
            print(f"{v.name}\t{v.modalities}\t{v.describe_masking()}\t{v.graph.value if v.graph else ''}")
        return 0
    if a.variants != "all":
        want = [s.strip() for s in a.variants.split(",")]
        unknown = [w for w in want if w not in {v.name for v in variants}]
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; see --list-variants")
        variants = tuple(v for v in variants if v.name in want)
    out = Path(a.out)
    if is_pickle:
        corpus_dir = out / "corpus"
        if (corpus_dir / "corpus.json").is_file():
            corpus = Corpus.load(corpus_dir, check_files=False)
            print(f"reusing imported corpus {corpus_dir}")
        else:
            from emowb.features.imported import import_cogmen

            corpus = import_cogmen(src, corpus_dir)
            print(f"imported {src} -> {corpus_dir}: {corpus!r}")
    else:
        corpus_dir = src
    features = _pairs(a.features) if a.features else (
        {"a": "cogmen-a", "v": "cogmen-v"} if is_pickle else {"a": "egemaps", "v": "openface-au"})
    preset = a.preset or ("reference" if is_pickle else "emowb")
    flat = {"corpus": str(corpus_dir), "features": features,
            "protocol": a.protocol or ("given:cogmen" if is_pickle else "fixed"),
            "seeds": [int(s) for s in a.seeds.split(",") if s.strip()],
            "folds": [f.strip() for f in a.folds.split(",")] if a.folds else None,
            "contexts": [c.strip() for c in a.contexts.split(",") if c.strip()],
            "metric": a.metric, "device": a.device, "num_threads": a.threads,
            "progress": False, "keep_last": False}
    flat.update(_preset(preset, has_roles="role" in corpus.table.columns if is_pickle else
                        preset == "reference" and _has_roles(corpus_dir)))
    if a.epochs:
        flat["epochs"] = a.epochs
    flat.update(_sets(a.sets))
    cfg = ExperimentConfig.from_params(**flat).replace(variants=variants, name=f"masking table ({preset})")
    torch.set_num_threads(a.threads)
    res = run_experiment(cfg, out, executor=a.executor)
    print()
    print(res.table)
    print(f"per-run results: {out / 'runs.csv'}; summary: {out / 'summary.csv'}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from emowb.train.run import evaluate_run

    res = evaluate_run(a.run_dir, contexts=a.contexts, splits=[s.strip() for s in a.split.split(",")])
    if a.json:
        print(json.dumps(res, indent=2))
        return 0
    for split, by_ctx in res.items():
        for ctx, m in by_ctx.items():
            print(f"{split:5s} {ctx:4s} WA {m['WA']:.4f}  UA {m['UA']:.4f}  weighted_f1 {m['weighted_f1']:.4f}  "
                  f"macro_f1 {m['macro_f1']:.4f}  (n={m['n']})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from emowb.cli import main

    sys.exit(main(sys.argv[1:]))
