"""Figures and interactive controls. Everything reads run folders; nothing retrains to plot.

- :mod:`emowb.viz.runs` — read a run folder (predictions, embeddings, history, metrics).
- :mod:`emowb.viz.confusion` — confusion matrices of two runs side by side, difference, F1 bars.
- :mod:`emowb.viz.embeddings` — joint UMAP of teacher and student embeddings, alignment scores.
- :mod:`emowb.viz.curves` — learning curves and masking-grid heatmaps.
- :mod:`emowb.viz.widgets` — ipywidgets sliders for the masking probabilities.
- :func:`save_figure` — PNG + PDF into ``figures/``.
"""

from emowb.viz.figures import save_figure
from emowb.viz.runs import RunView, read_run

__all__ = ["save_figure", "RunView", "read_run"]
