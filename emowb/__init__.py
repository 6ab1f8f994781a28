"""emowb: a research workbench for turning multimodal emotion recognition into speech-only SER.

Data flows one way: corpus -> cached features -> batches -> model -> predictions/embeddings
-> metrics -> figures. See README.md for the corpus format and the run-folder layout.
"""

__version__ = "0.1.0"

from emowb.types import Modality, Protocol  # noqa: E402,F401
