"""``emowb kd ...``: knowledge distillation from the command line.

::

    emowb kd triplet CORPUS --out OUT [--features a=egemaps,v=openface-au] [--protocol logo]
                     [--folds Ses04,Ses05] [--seeds 0,1,2] [--teacher-mask none|utterance|feature]
                     [--set alpha=1 --set mining=hard --set train.epochs=30 ...]
    emowb kd emodistill CORPUS --out OUT [--backbone cnn|mlp|ssl|ssl-pooled] [--ssl-model DIR]
                     [--teachers linguistic,prosodic] [--set tau_prosodic=1 --set beta=0.5 ...]
    emowb kd ablations CORPUS --out OUT [--taus 0.5,1,2,4,8] [--no-sweeps] [...]
    emowb kd cache CORPUS                      # list the cached teacher outputs

``--set key=value`` takes any field of :class:`~emowb.kd.triplet.TripletConfig` /
:class:`~emowb.kd.emodistill.EmoDistillConfig` as a flat key (``alpha``, ``margin``,
``tau_linguistic``, ``student.hidden``, ``train.epochs`` ...; values are JSON when they parse as
JSON, e.g. ``--set 'teachers=["prosodic"]'``).
"""

from __future__ import annotations

import argparse
import sys

from emowb.config import parse_assignments

__all__ = ["register"]


def _csv(s: str | None, cast=str):
    if s is None:
        return None
    return [cast(x.strip()) for x in s.split(",") if x.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--out", required=True, help="output folder (finished runs are reused)")
    p.add_argument("--protocol", help="fixed | logo | loso | kfold (default: logo)")
    p.add_argument("--folds", help="comma-separated fold-name suffixes, e.g. Ses04,Ses05 (default: all)")
    p.add_argument("--seeds", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--threads", type=int, help="torch threads for training (e.g. 1 on a shared CPU)")
    p.add_argument("--device", help="auto | cpu | cuda[:N]")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config field (repeatable)")


def register(sub: argparse._SubParsersAction) -> None:
    kd = sub.add_parser("kd", help="knowledge distillation: triplet KD (COGMEN), EmoDistill",
                        description="Knowledge distillation into speech-only students.")
    ks = kd.add_subparsers(dest="kd_command", metavar="METHOD")

    p = ks.add_parser("triplet", help="COGMEN AV teacher -> A student, triplet loss (Table 1)")
    _common(p)
    p.add_argument("--features", default="a=egemaps,v=openface-au", help="modality=feature-set pairs")
    p.add_argument("--teacher-mask", choices=("none", "utterance", "feature"), default="none",
                   help="train the teacher with masked training (COGMEN-Mask as teacher)")
    p.set_defaults(func=cmd_triplet)

    p = ks.add_parser("emodistill", help="EmoDistill with the configured loss, vs the student without KD")
    _emodistill_args(p)
    p.set_defaults(func=cmd_emodistill)

    p = ks.add_parser("ablations", help="EmoDistill's ablation table and temperature sweeps in one call")
    _emodistill_args(p)
    p.add_argument("--taus", default="0.5,1,2,4,8", help="temperatures of the sweeps")
    p.add_argument("--no-sweeps", action="store_true", help="only the ablation table")
    p.set_defaults(func=cmd_ablations)

    p = ks.add_parser("cache", help="list the cached teacher outputs of a corpus")
    p.add_argument("corpus")
    p.set_defaults(func=cmd_cache)
    kd.set_defaults(func=lambda a: (kd.print_help(), 2)[1])


def _emodistill_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--backbone", choices=("cnn", "mlp", "ssl", "ssl-pooled"), help="student backbone (default cnn)")
    p.add_argument("--ssl-model", help="local SSL model folder (backbone ssl / ssl-pooled)")
    p.add_argument("--teachers", help="comma-separated teachers of the default loss (default linguistic,prosodic)")


def _train_overrides(a, flat: dict, prefixes: tuple[str, ...]) -> None:
    for pre in prefixes:
        if a.threads is not None:
            flat.setdefault(f"{pre}.num_threads", a.threads)
        if a.device is not None:
            flat.setdefault(f"{pre}.device", a.device)


def _protocol_overrides(a, flat: dict, *, protocol_key: str) -> None:
    """--protocol, --folds and --seeds into flat configuration keys (only those given)."""
    if a.protocol:
        flat[protocol_key] = a.protocol
    if a.folds:
        flat["folds"] = _csv(a.folds)
    if a.seeds:
        flat["seeds"] = _csv(a.seeds, int)


def cmd_triplet(a) -> int:
    import torch

    from emowb.kd.triplet import TripletConfig, run_triplet
    from emowb.train.masking import MaskingConfig

    flat = {"data.corpus": a.corpus, "data.features": dict(x.split("=", 1) for x in _csv(a.features))}
    _protocol_overrides(a, flat, protocol_key="data.protocol")
    _train_overrides(a, flat, ("train", "teacher_train"))
    flat.update(parse_assignments(a.set, flag="--set"))
    cfg = TripletConfig.from_params(**flat)
    if a.teacher_mask != "none":
        cfg = cfg.replace(teacher_masking=MaskingConfig(granularity=a.teacher_mask))
    if a.threads:
        torch.set_num_threads(a.threads)
    res = run_triplet(cfg, a.out)
    print(res.table)
    return 0


def _emodistill_config(a):
    from emowb.kd.emodistill import EmoDistillConfig

    flat = {"corpus": a.corpus}
    _protocol_overrides(a, flat, protocol_key="protocol")
    if a.backbone:
        flat["student.backbone"] = a.backbone
    if a.ssl_model:
        flat["student.ssl_model"] = a.ssl_model
        flat["ssl_features_model"] = a.ssl_model
    if a.teachers is not None:
        flat["loss.teachers"] = _csv(a.teachers)
    _train_overrides(a, flat, ("train", "teacher_train"))
    flat.update(parse_assignments(a.set, flag="--set"))
    return EmoDistillConfig.from_params(**flat)


def cmd_emodistill(a) -> int:
    import torch

    from emowb.kd.emodistill import KDVariant, run_variants

    cfg = _emodistill_config(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    variants = [KDVariant(name="EmoDistill", loss=cfg.loss),
                KDVariant(name="no KD", loss=cfg.loss.replace(teachers=()))]
    res = run_variants(cfg, a.out, variants, teachers_alone=cfg.loss.teachers, stem="emodistill")
    print(res.table)
    return 0


def cmd_ablations(a) -> int:
    import torch

    from emowb.kd.emodistill import run_ablations

    cfg = _emodistill_config(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    res = run_ablations(cfg, a.out, taus=_csv(a.taus, float), sweeps=not a.no_sweeps)
    print(res.text)
    return 0


def cmd_cache(a) -> int:
    from emowb.data.corpus import Corpus
    from emowb.kd.cache import TeacherCache

    cache = TeacherCache(Corpus.load(a.corpus, check_files=False))
    rows = cache.list()
    if not rows:
        print(f"no cached teacher outputs in {cache.root}")
        return 0
    for r in rows:
        test = r["metrics"].get("test", {})
        scores = ", ".join(f"{ctx} UA {m['UA']:.3f} F1 {m['weighted_f1']:.3f}" for ctx, m in test.items())
        print(f"{r['key']}: {r['name']}, {r['n_valid']}/{r['n']} utterances, dim {r['dim']}; test {scores}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from emowb.cli import main

    sys.exit(main(["kd", *sys.argv[1:]]))
