"""The notebooks' side of the package: their configurations, what they run, and the runner.

- :mod:`emowb.notebook.params` — one frozen config per notebook, built from its parameters cell.
- :mod:`emowb.notebook.ops` — the steps the notebooks call (prepare the corpus, train, find runs).
- :mod:`emowb.notebook.runner` — execute all notebooks headless with papermill (``emowb notebooks``).
- :mod:`emowb.notebook.build` — ``notebooks/*.ipynb`` paired with ``notebooks/src/*.py`` by jupytext;
  regenerate the notebooks from their sources.
- :mod:`emowb.notebook.workspace` — relative ``workdir`` / ``figures_dir`` against the repository root.
"""

from emowb.notebook.params import (ConfusionNotebook, DataNotebook, EmbeddingsNotebook, EmoDistillNotebook,
                                   KDNotebook, MaskingNotebook, ReproduceNotebook, TrainNotebook, Workspace)

__all__ = ["ConfusionNotebook", "DataNotebook", "EmbeddingsNotebook", "EmoDistillNotebook", "KDNotebook",
           "MaskingNotebook", "ReproduceNotebook", "TrainNotebook", "Workspace"]
