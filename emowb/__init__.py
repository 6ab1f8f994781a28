"""emowb: a research workbench for turning multimodal emotion recognition into speech-only SER.

Data flows one way: corpus -> cached features -> batches -> model -> predictions/embeddings
-> metrics -> figures. See README.md for the corpus format and the run-folder layout.

The package is layered (lowest first); a module imports only from its own layer or the layers
below it (checked by ``tests/test_layers.py``):

0. :mod:`emowb.types`, :mod:`emowb.utils`, :mod:`emowb.config`
1. :mod:`emowb.data` — corpora, importers, splits, the synthetic corpus, audio
2. :mod:`emowb.features` — extractors and the feature cache
3. :mod:`emowb.batching` — dialogue / utterance batches, graph edges, normalisation
4. :mod:`emowb.models` — COGMEN and :class:`~emowb.models.output.ModelOutput`
5. :mod:`emowb.eval` — metrics, evaluation contexts, summaries
6. :mod:`emowb.train` — the trainer, masking, runs, experiments
7. :mod:`emowb.kd` — knowledge distillation
8. :mod:`emowb.viz` — figures
9. :mod:`emowb.notebook` — the notebooks' configurations and runner
10. :mod:`emowb.cli` — the ``emowb`` command
"""

from emowb.types import Modality, Protocol

__version__ = "0.1.0"

__all__ = ["__version__", "Modality", "Protocol"]
