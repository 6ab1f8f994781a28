"""Teacher vs student embedding spaces: one UMAP fitted on both, and alignment scores.

The reducer is fitted on the union of both sets of points, so positions are comparable across
the two spaces. That is meaningful when the spaces share coordinates — the triplet loss puts the
student's embedding (or its projection) directly in the teacher's space. When widths differ, or
to compare spaces that were never tied together, ``align="procrustes"`` first maps the student
onto the teacher with an orthogonal Procrustes rotation fitted on the paired utterances (after
PCA to a common width).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment (Kornblith et al., 2019) of paired rows.

    ``CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred Xc (N, Dx), Yc (N, Dy).
    1 = the same geometry up to rotation and scale; invariant to widths differing.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"CKA needs the same >= 2 utterances in both spaces, got {x.shape} and {y.shape}")
    x = x - x.mean(0)
    y = y - y.mean(0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def knn_overlap(x: np.ndarray, y: np.ndarray, *, k: int = 10) -> float:
    """Mean share of each utterance's k nearest neighbours that are the same in both spaces."""
    from sklearn.neighbors import NearestNeighbors

    n = x.shape[0]
    k = min(k, n - 1)
    nx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:]
    ny = NearestNeighbors(n_neighbors=k + 1).fit(y).kneighbors(y, return_distance=False)[:, 1:]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nx, ny)]))


def knn_label_transfer(ref: np.ndarray, ref_labels: np.ndarray, query: np.ndarray,
                       query_labels: np.ndarray, *, k: int = 10) -> float:
    """Accuracy of labelling ``query`` points by a k-NN vote of ``ref`` points (same space)."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=min(k, len(ref))).fit(ref, ref_labels)
    return float((clf.predict(query) == query_labels).mean())


def _procrustes(teacher: np.ndarray, student: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg import orthogonal_procrustes
    from sklearn.decomposition import PCA

    d = min(teacher.shape[1], student.shape[1], teacher.shape[0] - 1)
    t = PCA(n_components=d, random_state=0).fit_transform(teacher)
    s = PCA(n_components=d, random_state=0).fit_transform(student)
    t /= np.linalg.norm(t) / np.sqrt(len(t))
    s /= np.linalg.norm(s) / np.sqrt(len(s))
    r, _ = orthogonal_procrustes(s, t)
    return t, s @ r


def joint_umap(teacher: np.ndarray, student: np.ndarray, *, align: str = "none",
               n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit one UMAP on both point sets and return their 2-D coordinates.

    Args:
        teacher: (N, D) teacher embeddings.
        student: (N, D') student embeddings of the same utterances (same order).
        align: ``"none"`` (requires D == D') or ``"procrustes"``.
    Returns:
        (teacher_2d (N, 2), student_2d (N, 2)).
    """
    import umap

    if teacher.shape[0] != student.shape[0]:
        raise ValueError(f"teacher and student must embed the same utterances: {teacher.shape[0]} "
                         f"vs {student.shape[0]} rows")
    if align == "procrustes":
        teacher, student = _procrustes(teacher, student)
    elif align != "none":
        raise ValueError(f"align must be 'none' or 'procrustes', got {align!r}")
    elif teacher.shape[1] != student.shape[1]:
        raise ValueError(f"teacher width {teacher.shape[1]} != student width {student.shape[1]}: "
                         "use align='procrustes' (or the student's projection-head output)")
    both = np.vstack([teacher, student])
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(both) - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=1)
    xy = reducer.fit_transform(both)
    return xy[: len(teacher)], xy[len(teacher):]


def alignment_scores(teacher: np.ndarray, student: np.ndarray, y: np.ndarray,
                     t2d: np.ndarray, s2d: np.ndarray, *, k: int = 10) -> dict[str, float]:
    """CKA and k-NN agreement of paired teacher / student embeddings of the same utterances, and
    how far apart the two clouds sit in the common 2-D map (:func:`cloud_separation`)."""
    return {
        "linear_cka": linear_cka(teacher, student),
        "knn_overlap": knn_overlap(teacher, student, k=k),
        "label_transfer_teacher_to_student_2d": knn_label_transfer(t2d, y, s2d, y, k=k),
        "separation_2d": cloud_separation(t2d, s2d),
    }


def cloud_separation(t2d: np.ndarray, s2d: np.ndarray) -> float:
    """Median distance from a student point to its nearest teacher point, over the median distance
    from a teacher point to its nearest other teacher point (2-D map). About 1: the clouds
    overlap; much more than 1 (say > 3): they sit apart, and teacher points label student points
    only by where the clouds' edges meet."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2).fit(t2d)
    within = float(np.median(nn.kneighbors(t2d)[0][:, 1]))
    across = float(np.median(nn.kneighbors(s2d, n_neighbors=1)[0][:, 0]))
    return across / max(within, 1e-12)


def plot_embedding_comparison(t2d: np.ndarray, s2d: np.ndarray, y: np.ndarray, *,
                              labels: Sequence[str], names: tuple[str, str] = ("teacher", "student"),
                              scores: dict | None = None):
    """Three panels: teacher by label, student by label, both overlaid (by model)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    palette = dict(zip(labels, sns.color_palette("tab10", len(labels))))
    lab = np.asarray(labels)[y]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), sharex=True, sharey=True)
    for ax, xy, name in zip(axes[:2], (t2d, s2d), names):
        sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=lab, hue_order=list(labels), palette=palette,
                        s=10, linewidth=0, ax=ax, legend=name == names[0])
        ax.set(title=f"{name} (by label)", xticks=[], yticks=[])
    df = pd.DataFrame({"x": np.r_[t2d[:, 0], s2d[:, 0]], "y": np.r_[t2d[:, 1], s2d[:, 1]],
                       "model": [names[0]] * len(t2d) + [names[1]] * len(s2d)})
    sns.scatterplot(data=df, x="x", y="y", hue="model", s=8, linewidth=0, alpha=0.6, ax=axes[2],
                    palette=["#7f7f7f", "#d62728"])
    axes[2].set(title="overlaid (by model)", xticks=[], yticks=[], xlabel="", ylabel="")
    if scores:
        words = {"linear_cka": "linear CKA", "knn_overlap": "shared 10 nearest neighbours",
                 "label_transfer_teacher_to_student_2d": "teacher → student label transfer (2-D, 10-NN)",
                 "separation_2d": "cloud separation"}
        fig.suptitle(",   ".join(f"{words.get(k, k.replace('_', ' '))} {v:.3f}" for k, v in scores.items()), y=1.02)
    fig.tight_layout()
    return fig
