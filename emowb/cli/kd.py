"""``emowb kd ...``: knowledge distillation from the command line.

::

    emowb kd triplet CORPUS [--out OUT | --workdir W] [--size demo] [--alpha 1 --mining hard ...]
                     [--protocol logo --folds Ses04,Ses05 --seeds 0,1,2] [--set train.epochs=30 ...]
    emowb kd emodistill CORPUS [--out OUT] [--backbone cnn|mlp|ssl|ssl-pooled] [--teachers linguistic,prosodic]
    emowb kd ablations CORPUS [--out OUT] [--taus 0.5,1,2,4,8] [--sweeps false] [...]
    emowb kd cache CORPUS                      # list the cached teacher outputs
    emowb kd triplet CORPUS --executor processes:4    # or ray[:ADDRESS]: where the runs train

The options are the parameters of ``kd.ipynb`` / ``emodistill.ipynb``, generated from the same
schema (``emowb kd triplet --help`` lists them with their defaults); ``--size`` starts from a
notebook preset, and ``--set key=value`` reaches any other field of
:class:`~emowb.kd.triplet.TripletConfig` / :class:`~emowb.kd.emodistill.EmoDistillConfig`
(``train.epochs``, ``student.hidden``, ``teacher.seq_heads`` ...; JSON values). Without ``--out``
results go to ``<workdir>/kd/<identity>`` (``emodistill/<identity>``), the folder the notebooks use
for the same configuration, so a configuration run from either is found by the other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emowb.cli._schema import add_schema_options, apply_sets, schema_params

__all__ = ["register"]

# Parameters of the notebooks that do not apply to a corpus named on the command line.
_NOT_OPTIONS = ("corpus", "figures_dir", "dialogues", "corpus_seed", "utterances")


def _common(p: argparse.ArgumentParser, notebook: str) -> None:
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--out", help="output folder (finished runs are reused; default: the workspace "
                                 "folder of this configuration, as the notebook uses)")
    add_schema_options(p, notebook, skip=_NOT_OPTIONS)


def register(sub: argparse._SubParsersAction) -> None:
    kd = sub.add_parser("kd", help="knowledge distillation: triplet KD (COGMEN), EmoDistill",
                        description="Knowledge distillation into speech-only students.")
    ks = kd.add_subparsers(dest="kd_command", metavar="METHOD")

    p = ks.add_parser("triplet", help="COGMEN AV teacher -> A student, triplet loss (Table 1)",
                      description="Triplet KD with the parameters of kd.ipynb.")
    _common(p, "kd")
    p.set_defaults(func=cmd_triplet)

    p = ks.add_parser("emodistill", help="EmoDistill with the configured loss, vs the student without KD",
                      description="EmoDistill with the parameters of emodistill.ipynb (its sweeps aside).")
    _emodistill_args(p)
    p.set_defaults(func=cmd_emodistill)

    p = ks.add_parser("ablations", help="EmoDistill's ablation table and temperature sweeps in one call",
                      description="The ablation table and temperature sweeps, as emodistill.ipynb runs them.")
    _emodistill_args(p)
    p.set_defaults(func=cmd_ablations)

    p = ks.add_parser("cache", help="list the cached teacher outputs of a corpus")
    p.add_argument("corpus")
    p.set_defaults(func=cmd_cache)
    kd.set_defaults(func=lambda a: (kd.print_help(), 2)[1])


def _emodistill_args(p: argparse.ArgumentParser) -> None:
    _common(p, "emodistill")
    p.add_argument("--teachers", help="comma-separated teachers of the default loss (default linguistic,prosodic)")


def cmd_triplet(a) -> int:
    from emowb.notebook import ops

    nb, rest = schema_params(a, "kd", corpus=str(Path(a.corpus).resolve()))
    corpus = ops.prepare(nb, [nb.audio_features, nb.video_features])
    config = apply_sets(nb.triplet_config(corpus.root), rest, notebook="kd")
    nb.use_threads()
    res = ops.run_kd(nb, corpus, config=config, out_dir=a.out)
    print(res.table)
    print(f"results in {res.out_dir}")
    return 0


def _emodistill(a):
    from emowb.notebook import ops

    nb, rest = schema_params(a, "emodistill", corpus=str(Path(a.corpus).resolve()))
    if a.teachers is not None:
        rest["loss.teachers"] = [t.strip() for t in a.teachers.split(",") if t.strip()]
    corpus = ops.prepare(nb)
    config = apply_sets(nb.config(corpus.root), rest, notebook="emodistill")
    nb.use_threads()
    return nb, corpus, config


def cmd_emodistill(a) -> int:
    from emowb.kd.emodistill import KDVariant, run_variants

    nb, corpus, cfg = _emodistill(a)
    variants = [KDVariant(name="EmoDistill", loss=cfg.loss),
                KDVariant(name="no KD", loss=cfg.loss.replace(teachers=()))]
    out = a.out or nb.out_dir(corpus.root, cfg)
    res = run_variants(cfg, out, variants, corpus=corpus, teachers_alone=cfg.loss.teachers, stem="emodistill",
                       executor=nb.executor)
    print(res.table)
    print(f"results in {out}")
    return 0


def cmd_ablations(a) -> int:
    from emowb.notebook import ops

    nb, corpus, cfg = _emodistill(a)
    res = ops.run_emodistill(nb, corpus, config=cfg, out_dir=a.out)
    print(res.text)
    print(f"results in {res.ablation.out_dir}")
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
