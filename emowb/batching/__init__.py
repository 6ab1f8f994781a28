"""Batches for the trainer: cached dialogues with their graphs, isolated utterances, normalisation.

- :mod:`emowb.batching.dialogues` — corpus + per-modality features -> per-dialogue tensors and
  graph (:class:`Dialogue`) -> padded :class:`Batch` es (:class:`DialogueData`, COGMEN's input).
- :mod:`emowb.batching.graph` — the utterance graph of a dialogue, built with tensor ops.
- :mod:`emowb.batching.utterances` — utterance-level batches (:class:`UtteranceData`, EmoDistill).
- :mod:`emowb.batching.normalise` — feature statistics and per-speaker normalisation for both.
"""

from emowb.batching.dialogues import (Batch, Dialogue, DialogueData, DialogueError, GraphSpec, SpeakerIndex,
                                      build_dialogues, collate, modality_means)
from emowb.batching.graph import EdgeConvention, GraphKind, dialogue_edges, num_relations
from emowb.batching.normalise import FeatureStats, feature_stats, speaker_normalise
from emowb.batching.utterances import (UtteranceBatch, UtteranceData, UtteranceDataError, UtteranceSplits,
                                       build_utterance_data, build_utterance_splits)

__all__ = ["Batch", "Dialogue", "DialogueData", "DialogueError", "GraphSpec", "SpeakerIndex", "build_dialogues",
           "collate", "modality_means", "EdgeConvention", "GraphKind", "dialogue_edges", "num_relations",
           "FeatureStats", "feature_stats", "speaker_normalise", "UtteranceBatch", "UtteranceData",
           "UtteranceDataError", "UtteranceSplits", "build_utterance_data", "build_utterance_splits"]
