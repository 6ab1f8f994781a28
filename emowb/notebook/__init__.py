"""The notebooks' side of the package: their configurations, what they run, and the runner.

- :mod:`emowb.notebook.params` — one frozen config per notebook, built from its parameters cell.
- :mod:`emowb.notebook.ops` — the steps the notebooks call (prepare the corpus, train, find runs).
- :mod:`emowb.notebook.runner` — execute all notebooks headless with papermill (``emowb notebooks``).
- :mod:`emowb.notebook.build` — build ``notebooks/*.ipynb`` from ``notebooks/src/*.py``.
"""

from emowb.notebook.params import (ConfusionNotebook, DataNotebook, EmbeddingsNotebook,  # noqa: F401
                                   EmoDistillNotebook, KDNotebook, MaskingNotebook, ReproduceNotebook,
                                   TrainNotebook, Workspace)
