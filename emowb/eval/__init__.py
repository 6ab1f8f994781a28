"""Evaluation: metrics, modality contexts, summaries over seeds and folds.

- :mod:`emowb.eval.metrics` — WA, UA, weighted / macro F1, per-class scores, confusion matrices.
- :mod:`emowb.eval.contexts` — evaluation contexts (which modalities a model sees at test time).
- :mod:`emowb.eval.summary` — mean ± std tables over runs.
- :mod:`emowb.eval.linear` — linear probes (standardised features -> linear classifier).
- :mod:`emowb.eval.reproduce` — the source papers' tables, our numbers beside the published ones.
"""

from emowb.eval.contexts import ModalityContext, all_contexts, parse_contexts
from emowb.eval.metrics import SCALAR_METRICS, UA, WA, compute_metrics, confusion, macro_f1, per_class, weighted_f1
from emowb.eval.summary import Summary, format_mean_std, matrix_table, summarise, summarise_frame, to_markdown

__all__ = ["ModalityContext", "all_contexts", "parse_contexts", "SCALAR_METRICS", "UA", "WA", "compute_metrics",
           "confusion", "macro_f1", "per_class", "weighted_f1", "Summary", "format_mean_std", "matrix_table",
           "summarise", "summarise_frame", "to_markdown"]
