"""Summaries over runs (seeds × folds): mean ± std, a 95% t-interval, and table formatting.

``std`` is the sample standard deviation (ddof=1). The 95% interval is the Student-t interval of
the mean, ``mean ± t(0.975, n-1) · std / sqrt(n)``. With a single run, std and the interval are
NaN and tables print the value alone (their headings say there is one run per cell).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Summary", "summarise", "format_mean_std", "summarise_frame", "paired_differences",
           "matrix_table", "to_markdown"]


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample std, count and 95% t-interval of a set of values."""

    mean: float
    std: float
    n: int
    ci_low: float
    ci_high: float

    def format(self, digits: int = 3) -> str:
        return format_mean_std(self.mean, self.std, self.n, digits=digits)


def summarise(values: Iterable[float], *, confidence: float = 0.95) -> Summary:
    """Summarise values (NaNs are an error: a missing run must not vanish silently)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("cannot summarise an empty set of values")
    if np.isnan(v).any():
        raise ValueError(f"NaN among the values to summarise: {v.tolist()}")
    n = int(v.size)
    mean = float(v.mean())
    if n < 2:
        return Summary(mean, math.nan, n, math.nan, math.nan)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return Summary(mean, std, n, mean - half, mean + half)


def format_mean_std(mean: float, std: float, n: int | None = None, *, digits: int = 3) -> str:
    """``"0.612 ± 0.020"``; ``"0.612"`` for a single run (no spread to report); ``"0.612 (n=?)"``
    when the spread is missing for another reason."""
    if math.isnan(mean):
        return "-"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}" if n in (None, 1) else f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarise_frame(runs: pd.DataFrame, *, by: Sequence[str], metrics: Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
    """Summarise a per-run table.

    Args:
        runs: one row per run (and context), with the ``by`` columns and metric columns.
        by: grouping columns (e.g. ``["model", "context"]``).
        metrics: metric columns to summarise.

    Returns:
        One row per group with ``<metric>_mean``, ``_std``, ``_n``, ``_ci_low``, ``_ci_high``
        and a formatted ``<metric>`` column (``"mean ± std"``).
    """
    rows = []
    for key, g in runs.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for m in metrics:
            s = summarise(g[m].to_numpy(dtype=float), confidence=confidence)
            row.update({f"{m}_mean": s.mean, f"{m}_std": s.std, f"{m}_n": s.n,
                        f"{m}_ci_low": s.ci_low, f"{m}_ci_high": s.ci_high, m: s.format()})
        rows.append(row)
    return pd.DataFrame(rows)


def paired_differences(runs: pd.DataFrame, *, column: str, reference, metrics: Sequence[str],
                       pair_on: Sequence[str] = ("fold", "seed"), within: Sequence[str] = ()) -> pd.DataFrame:
    """Paired differences against a reference: ``metric(row) − metric(reference)`` on the same fold and seed.

    The one paired comparison of every experiment table (KD student vs the student without KD,
    every loss variant vs the reference variant).

    Args:
        runs: one row per run, with ``column``, the ``pair_on`` columns and the metric columns.
        column: the column naming what is compared (``"variant"``, ``"role"``).
        reference: the value of ``column`` every other value is compared with.
        metrics: the metric columns.
        pair_on: the columns a pair agrees on (a run and its reference run).
        within: compare only inside groups of these columns (e.g. ``["size"]``).

    Returns:
        One row per (``within`` group, value of ``column``), in order of appearance, with the
        ``within`` columns, ``column``, ``pairs`` (number of pairs) and per metric:
        ``<m>_diff_mean``, ``<m>_diff_std``, ``<m>_diff_n``, ``<m>_diff`` (``"mean ± std"``) and
        ``<m>_wins`` (``"k/n"``: pairs where the row's value is higher). The reference's own row
        has ``"-"`` in ``<m>_diff`` and ``<m>_wins`` (its differences are 0); a value without
        any pair has NaN and ``"-"``.
    """
    out = []
    groups = runs.groupby(list(within), sort=False) if within else [((), runs)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        piv = {m: g.pivot_table(index=list(pair_on), columns=column, values=m) for m in metrics}
        for value in dict.fromkeys(g[column]):
            row = {**dict(zip(within, key)), column: value}
            is_reference = value == reference
            pairs = 0
            for m in metrics:
                p = piv[m]
                if value in p.columns and reference in p.columns:
                    d = (p[value] - p[reference]).dropna().to_numpy(dtype=float)
                else:
                    d = np.zeros(0)
                pairs = max(pairs, len(d))
                s = summarise(d) if len(d) else Summary(math.nan, math.nan, 0, math.nan, math.nan)
                row.update({f"{m}_diff_mean": s.mean, f"{m}_diff_std": s.std, f"{m}_diff_n": s.n,
                            f"{m}_diff": "-" if is_reference or not len(d) else s.format(),
                            f"{m}_wins": "-" if is_reference or not len(d) else f"{int((d > 0).sum())}/{len(d)}"})
            row["pairs"] = pairs
            out.append(row)
    return pd.DataFrame(out)


def matrix_table(summary: pd.DataFrame, *, metric: str, index: str = "model",
                 columns: str = "context", column_order: Sequence[str] | None = None) -> pd.DataFrame:
    """A train-model × test-context matrix of formatted ``metric`` cells ("-" where not run)."""
    t = summary.pivot(index=index, columns=columns, values=metric)
    order_rows = list(dict.fromkeys(summary[index]))
    t = t.reindex(index=order_rows)
    if column_order is not None:
        t = t.reindex(columns=[c for c in column_order if c in t.columns])
    return t.fillna("-")


def to_markdown(df: pd.DataFrame, *, index: bool = True) -> str:
    """A GitHub-style markdown table (no extra dependency)."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in df.iterrows():
        cells = ([str(idx)] if index else []) + [str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
