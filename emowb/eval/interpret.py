"""Sentences written from results, for notebooks that read their own numbers.

Every function returns markdown built from the numbers it is given — never fixed prose that a
result could contradict:

- :func:`paired_effect`: what a change (KD, a loss variant) did to a metric over paired runs,
  with the spread and a verdict from the 95% t-interval of the mean difference;
- :func:`never_predicted`: classes a model never predicts, and classes absent from the data;
- :func:`embedding_agreement`: where the student's embedding cloud sits relative to the
  teacher's, with and without KD, from the alignment scores.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from emowb.eval.summary import summarise

__all__ = ["paired_effect", "never_predicted", "embedding_agreement"]


def paired_effect(diffs: Sequence[float], *, change: str, metric: str, digits: int = 3) -> str:
    """One sentence on paired differences ``diffs`` (the changed run minus its reference, same
    fold and seed).

    >>> paired_effect([0.02, 0.05, -0.01], change="KD", metric="A-only weighted F1")  # doctest: +ELLIPSIS
    'KD changed A-only weighted F1 by +0.020 ± 0.030 over 3 paired runs ...: within seed noise.'
    """
    d = np.asarray(list(diffs), dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return f"No paired runs to say what {change} did to {metric}."
    s = summarise(d)
    if s.n == 1:
        return (f"{change} changed {metric} by {s.mean:+.{digits}f} in the one paired run: a single run cannot "
                f"tell an effect from seed noise (run more seeds or folds).")
    wins = int((d > 0).sum())
    head = (f"{change} changed {metric} by {s.mean:+.{digits}f} ± {s.std:.{digits}f} over {s.n} paired runs "
            f"(higher in {wins}/{s.n}; 95% interval of the mean [{s.ci_low:+.{digits}f}, {s.ci_high:+.{digits}f}])")
    if s.ci_low <= 0 <= s.ci_high:
        return head + ": within seed noise."
    return head + (": an improvement beyond seed noise." if s.mean > 0 else ": worse, beyond seed noise.")


def never_predicted(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], *, name: str) -> str:
    """Which classes ``name`` never predicts (and which the data never holds), as a sentence."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    absent = [labels[c] for c in range(len(labels)) if not (yt == c).any()]
    never = [labels[c] for c in range(len(labels)) if not (yp == c).any()]
    parts = []
    if never:
        missed = int(np.isin(yt, [labels.index(x) for x in never]).sum())
        parts.append(f"{name} never predicts {_join(never)} ({missed} of {len(yt)} utterances belong to "
                     f"{'it' if len(never) == 1 else 'them'})")
    else:
        parts.append(f"{name} predicts every class at least once")
    if absent:
        parts.append(f"the data hold no {_join(absent)}")
    return "; ".join(parts) + "."


def embedding_agreement(scores: Mapping[str, Mapping[str, float]], *, kd: str = "KD student",
                        nokd: str = "student without KD") -> str:
    """Where the students' embeddings sit relative to the teacher's, from
    :func:`emowb.viz.embeddings.alignment_scores` of each student (``{name: scores}``)."""
    def line(name: str, s: Mapping[str, float]) -> str:
        lt = s.get("label_transfer_teacher_to_student_2d", math.nan)
        sep = s.get("separation_2d", math.nan)
        where = ("" if math.isnan(sep) else
                 f"; in the common map its cloud {'sits apart from' if sep > 3 else 'overlaps'} the teacher's "
                 f"(a student point's nearest teacher point is {sep:.1f}× as far as teacher points are from each other)")
        return (f"{name}: linear CKA {s.get('linear_cka', math.nan):.3f}, shared nearest neighbours "
                f"{s.get('knn_overlap', math.nan):.3f}, teacher points label its points with accuracy {lt:.3f}{where}")

    out = [f"- {line(n, s)}" for n, s in scores.items()]
    if kd in scores and nokd in scores:
        a, b = scores[kd], scores[nokd]
        keys = {"linear_cka": "CKA", "knn_overlap": "shared neighbours",
                "label_transfer_teacher_to_student_2d": "label transfer"}
        closer = [w for k, w in keys.items() if a.get(k, math.nan) > b.get(k, math.nan)]
        further = [w for k, w in keys.items() if a.get(k, math.nan) < b.get(k, math.nan)]
        same = [w for k, w in keys.items() if w not in closer and w not in further]
        if closer and not further:
            verdict = f"With KD the student's embeddings sit closer to the teacher's ({', '.join(closer)} higher"
        elif further and not closer:
            verdict = (f"With KD the student's embeddings sit further from the teacher's ({', '.join(further)} "
                       f"lower: the triplet loss did not pull them into the teacher's space here")
        else:
            verdict = (f"With KD the student's embeddings are closer to the teacher's by {', '.join(closer) or 'nothing'} "
                       f"and further by {', '.join(further) or 'nothing'}: no clear move into the teacher's space")
        verdict += f"; equal {', '.join(same)})." if same else ")."
        if a.get("separation_2d", 0) > 3 and b.get("separation_2d", 0) > 3:
            verdict += (" Both students' clouds sit apart from the teacher's, so label transfer only measures where "
                        "the clouds' edges meet.")
        out.append("\n" + verdict)
    return "\n".join(out)


def _join(items: Sequence[str]) -> str:
    items = [f"*{x}*" for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
