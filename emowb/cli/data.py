"""``emowb synth``, ``emowb corpus``, ``emowb splits``."""

from __future__ import annotations

import argparse
import json

from emowb.types import Protocol


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the embedded synthetic dyadic corpus",
                       description="Generate the synthetic dyadic corpus (real eSpeak NG speech, "
                                   "OpenFace-style faces, transcripts). Same seed -> identical files.")
    p.add_argument("out_dir")
    p.add_argument("--dialogues", type=int, default=50)
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--min-utterances", type=int, default=18)
    p.add_argument("--max-utterances", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--workers", type=int, default=2, help="rendering processes (output does not depend on it)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)

    p = sub.add_parser("corpus", help="validate a corpus folder and print its report")
    p.add_argument("corpus")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_corpus)

    p = sub.add_parser("splits", help="print the folds of a speaker-independent protocol and their test classes")
    p.add_argument("corpus")
    p.add_argument("--protocol", default="logo", choices=[x.value for x in Protocol])
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dev-share", type=float, default=0.1)
    p.add_argument("--dev-by", default="speaker", choices=["speaker", "dialogue"],
                   help="dev: whole training speakers held out (speaker) or a random share of the training "
                        "dialogues (dialogue, COGMEN's rule)")
    p.set_defaults(func=_splits)


def _synth(a: argparse.Namespace) -> int:
    from emowb.data.synth import SynthConfig, generate

    cfg = SynthConfig(dialogues=a.dialogues, sessions=a.sessions, seed=a.seed, sample_rate=a.sample_rate,
                      utterances=(a.min_utterances, a.max_utterances))
    generate(a.out_dir, cfg, workers=a.workers, overwrite=a.overwrite, progress=not a.quiet)
    return 0


def _corpus(a: argparse.Namespace) -> int:
    from emowb.data import Corpus

    c = Corpus.load(a.corpus)
    print(json.dumps(c.summary(), indent=2) if a.json else c.report())
    return 0


def _splits(a: argparse.Namespace) -> int:
    from emowb.data import Corpus, make_splits
    from emowb.data.splits import fold_class_counts

    c = Corpus.load(a.corpus, check_files=False)
    splits = make_splits(c, a.protocol, k=a.k, seed=a.seed, dev_share=a.dev_share, dev_by=a.dev_by)
    for s in splits:
        scored = int(s.test_mask(c.table).sum())
        print(f"{s.name:24s} train {len(s.train):4d}  dev {len(s.dev):3d}  test {len(s.test):4d} dialogues"
              f"  ({scored} scored test utterances; dev by {s.dev_by})" + (f"  note: {s.dev_note}" if s.dev_note else ""))
    print("\nscored test utterances per class:")
    print(fold_class_counts(c, splits, "test").to_string())
    return 0
