"""Models: COGMEN (:mod:`emowb.models.cogmen`) and what every model returns (:class:`ModelOutput`).

Only :class:`ModelOutput` is imported here: the trainer, the losses and the KD models need it,
and :mod:`emowb.models.cogmen` pulls in ``torch_geometric`` (about two seconds to import), so
``from emowb.models.cogmen import COGMEN, CogmenConfig`` is the way to the model itself.
"""

from emowb.models.output import ModelOutput

__all__ = ["ModelOutput"]
