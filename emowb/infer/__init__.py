"""Inference: a trained speech-only student on anyone's audio (``emowb predict`` / ``emowb export``).

- :func:`load_predictor`: a run folder (PyTorch) or an exported bundle (ONNX Runtime) ->
  :class:`Predictor` (front end + normalisation + classifier);
- :func:`predict_files`: files, folders, manifests -> one row per utterance (long recordings cut
  by :mod:`emowb.infer.vad`);
- :func:`stream`: chunks of a live stream -> one event per utterance as it ends;
- :func:`export_bundle` / :func:`load_bundle`: the ONNX bundle with its model card.

This layer sits on top of training and distillation (it loads their run folders); nothing below
imports it.
"""

from emowb.infer.export import export_bundle, load_bundle
from emowb.infer.predictor import Prediction, Predictor, load_predictor
from emowb.infer.serve import collect_inputs, predict_files, stream

__all__ = ["Prediction", "Predictor", "load_predictor", "predict_files", "stream", "collect_inputs",
           "export_bundle", "load_bundle"]
