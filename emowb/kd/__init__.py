"""Knowledge distillation into speech-only models.

Two methods, one set of losses, teachers and students, all trained by the shared
:class:`~emowb.train.trainer.Trainer`:

- **COGMEN triplet KD** (:mod:`emowb.kd.triplet`): a frozen audio+video COGMEN teacher (or the
  masked model) supervises an audio-only COGMEN student through a triplet loss on the post-graph
  embeddings (:class:`~emowb.kd.losses.TripletKDLoss`).
- **EmoDistill** (:mod:`emowb.kd.emodistill`): a prosodic teacher (ResNet-2D over eGeMAPS LLDs)
  and a linguistic teacher (pre-trained text encoder + head) supervise a speech student through
  logit-level and embedding-level KD (:class:`~emowb.kd.losses.EmoDistillLoss`).

Teacher outputs are computed once per corpus, fold and teacher configuration and cached
(:mod:`emowb.kd.cache`), so sweeps over the KD weights and temperatures never re-run a teacher.
See ``docs/kd.md``.
"""

from emowb.kd.losses import (EmbeddingKD, EmoDistillLoss, EmoDistillLossConfig, KLDirection, LogitKD, Mining,
                             Teacher, TripletKD, TripletKDLoss, TripletLossConfig, mine_triplets)

__all__ = ["EmbeddingKD", "EmoDistillLoss", "EmoDistillLossConfig", "KLDirection", "LogitKD", "Mining", "Teacher",
           "TripletKD", "TripletKDLoss", "TripletLossConfig", "mine_triplets"]
