"""Distillation losses: triplet KD (COGMEN), logit KD and embedding KD (EmoDistill).

Every loss is a small :class:`~emowb.train.api.TrainLoss`: ``forward(output, batch) ->
(loss, parts)``. The student's output comes from the model (:class:`ModelOutput`); the frozen
teacher's cached outputs ride in ``batch.extra`` under the keys of :func:`extra_key`:

==========================  ===========  ==============================================
key                         shape        what
==========================  ===========  ==============================================
``teacher_emb``             (N, H_T)     COGMEN teacher post-graph embeddings (triplet)
``logits/<teacher>``        (N, C)       a teacher's logits (EmoDistill)
``emb/<teacher>``           (N, H_T)     a teacher's embedding (EmoDistill)
``valid/<teacher>``         (N,) bool    whether the teacher had input for the utterance
==========================  ===========  ==============================================

Only *scored* utterances (``batch.scored``) with a valid teacher output enter a KD term; the
number that did is reported in ``parts`` (never dropped silently).

Formulas (``S`` = the utterances that enter the term, ``|S|`` their count):

- :class:`TripletKD`: ``L = 1/|A| Σ_{i∈A} max(‖f(x_i) − g_{P(i)}‖_p − ‖f(x_i) − g_{N(i)}‖_p + m, 0)``
  with ``f`` the student embedding (through an optional linear projection), ``g`` the frozen
  teacher embeddings of the batch, ``P(i)`` a same-class and ``N(i)`` an other-class utterance
  picked by the mining strategy, ``A`` the anchors that have both.
- :class:`LogitKD`: ``L = τ² · 1/|S| Σ_i KL(p_i^T ‖ p_i^S)`` (direction ``forward``) or
  ``KL(p_i^S ‖ p_i^T)`` (``reverse``), ``p^X = softmax(z^X / τ)``; the ``τ²`` factor is optional.
- :class:`EmbeddingKD`: ``L = 1/|S| Σ_i (1 − cos(z'_i, z_i))``.
- :class:`TripletKDLoss`: ``α · L_triplet + w · L_CE``.
- :class:`EmoDistillLoss`: ``α · Σ_t L_logits^t + β · Σ_t L_emb^t + γ · L_CE`` over the enabled
  teachers ``t``, each with its own ``τ_t``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from emowb.config import Config, require
from emowb.models.output import ModelOutput
from emowb.train.api import CrossEntropyLoss, TrainLoss

__all__ = ["Mining", "Projection", "KLDirection", "Teacher", "extra_key", "mine_triplets",
           "TripletKD", "LogitKD", "EmbeddingKD", "TripletLossConfig", "TripletKDLoss",
           "EmoDistillLossConfig", "EmoDistillLoss", "kl_divergence"]


class Mining(str, enum.Enum):
    """How a triplet's positive and negative teacher embeddings are chosen within a batch."""

    RANDOM = "random"          # the authors': a random same-class and a random other-class one
    HARD = "hard"              # batch-hard (Hermans et al. 2017): farthest positive, closest negative
    SEMI_HARD = "semi-hard"    # FaceNet (Schroff et al. 2015): random positive, closest negative
                               # farther than it (else the farthest negative)


class Projection(str, enum.Enum):
    """Whether the student embedding is projected to the teacher's width before the triplet."""

    AUTO = "auto"        # a learned Linear only when the widths differ
    LINEAR = "linear"    # always a learned Linear
    NONE = "none"        # never (widths must match)


class KLDirection(str, enum.Enum):
    """Which KL divergence logit KD minimises."""

    FORWARD = "forward"    # KL(p_teacher ‖ p_student): Hinton et al. 2015, mass-covering
    REVERSE = "reverse"    # KL(p_student ‖ p_teacher): the poster's notation, mode-seeking


class Teacher(str, enum.Enum):
    """EmoDistill's two teachers."""

    LINGUISTIC = "linguistic"
    PROSODIC = "prosodic"


def extra_key(kind: str, teacher: Teacher | str | None = None) -> str:
    """The ``batch.extra`` key of a cached teacher output.

    Args:
        kind: ``"logits"``, ``"emb"`` or ``"valid"`` (with a teacher), or ``"teacher_emb"``.
        teacher: the EmoDistill teacher (None for the triplet teacher).
    """
    if teacher is None:
        return kind
    return f"{kind}/{Teacher(teacher).value}"


def _scored_mask(batch: Any, n: int, valid_key: str | None = None) -> torch.Tensor:
    scored = getattr(batch, "scored", None)
    mask = torch.ones(n, dtype=torch.bool) if scored is None else scored.bool()
    if valid_key is not None and valid_key in batch.extra:
        mask = mask & batch.extra[valid_key].to(mask.device).bool()
    return mask


def _teacher_tensor(batch: Any, key: str, n: int, what: str) -> torch.Tensor:
    extra = getattr(batch, "extra", {})
    if key not in extra:
        raise KeyError(f"{what}: the batch carries no {key!r} (has {sorted(extra)}); attach the cached "
                       "teacher outputs to the data (emowb.kd.cache.TeacherOutputs.attach)")
    t = extra[key]
    if t.shape[0] != n:
        ids = list(getattr(batch, "utt_ids", []))[:3]
        raise ValueError(f"{what}: {key!r} has {t.shape[0]} rows but the model produced {n} "
                         f"(utterances {ids}...)")
    return t


# --------------------------------------------------------------------------- triplet
def mine_triplets(anchor: torch.Tensor, pool: torch.Tensor, anchor_labels: torch.Tensor,
                  pool_labels: torch.Tensor, *, strategy: Mining | str = Mining.RANDOM,
                  p: float = 2.0, self_index: torch.Tensor | None = None,
                  include_self: bool = True, pool_mask: torch.Tensor | None = None,
                  generator: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick a positive and a negative teacher embedding for every anchor.

    Args:
        anchor: (A, H) student embeddings (already projected to the teacher's width).
        pool: (M, H) teacher embeddings to choose from (the batch's utterances).
        anchor_labels: (A,) class of each anchor; pool_labels: (M,) class of each pool row.
        strategy: :class:`Mining`.
        p: the norm of the distances that ``hard`` / ``semi-hard`` rank by.
        self_index: (A,) index into ``pool`` of each anchor's own utterance (or -1).
        include_self: whether an anchor's own teacher embedding may be its positive.
        pool_mask: (M,) bool, pool rows that may be chosen (default all).
        generator: random source for ``random`` / ``semi-hard`` (default: torch's global RNG).

    Returns:
        ``(pos, neg, valid)``: (A,) int64 indices into ``pool`` and (A,) bool, False for anchors
        without any positive or any negative (their indices are 0 and must be ignored).
    """
    strategy = Mining(strategy)
    a, m = anchor.shape[0], pool.shape[0]
    same = anchor_labels.view(-1, 1) == pool_labels.view(1, -1)                  # (A, M)
    allowed = torch.ones(a, m, dtype=torch.bool, device=anchor.device)
    if pool_mask is not None:
        allowed &= pool_mask.view(1, -1).bool()
    pos_ok = same & allowed
    if self_index is not None and not include_self:
        rows = torch.arange(a, device=anchor.device)
        has = self_index >= 0
        pos_ok[rows[has], self_index[has]] = False
    neg_ok = ~same & allowed
    valid = pos_ok.any(1) & neg_ok.any(1)
    # distances only steer the choice; the loss itself is differentiated elsewhere
    dist = (torch.cdist(anchor.detach().float(), pool.detach().float(), p=p)      # (A, M)
            if strategy is not Mining.RANDOM else None)

    def random_pick(ok: torch.Tensor) -> torch.Tensor:
        r = torch.rand(ok.shape, generator=generator, device="cpu" if generator is not None else ok.device)
        r = r.to(ok.device).masked_fill(~ok, -1.0)
        return r.argmax(1)

    if strategy is Mining.RANDOM:
        pos, neg = random_pick(pos_ok), random_pick(neg_ok)
    elif strategy is Mining.HARD:
        pos = dist.masked_fill(~pos_ok, -float("inf")).argmax(1)
        neg = dist.masked_fill(~neg_ok, float("inf")).argmin(1)
    else:
        pos = random_pick(pos_ok)
        d_ap = dist.gather(1, pos.view(-1, 1))                                   # (A, 1)
        outside = neg_ok & (dist > d_ap)
        closest_outside = dist.masked_fill(~outside, float("inf")).argmin(1)
        farthest = dist.masked_fill(~neg_ok, -float("inf")).argmax(1)
        neg = torch.where(outside.any(1), closest_outside, farthest)
    zero = torch.zeros_like(pos)
    return torch.where(valid, pos, zero), torch.where(valid, neg, zero), valid


class TripletKD(TrainLoss):
    """Triplet loss between student embeddings and a frozen teacher's embeddings of the batch.

    ``L = 1/|A| Σ_{i∈A} max(‖f(x_i) − g_{P(i)}‖_p − ‖f(x_i) − g_{N(i)}‖_p + margin, 0)``

    ``x_i`` is a scored utterance (the anchor), ``f`` the student's post-graph embedding through
    an optional learned projection to the teacher's width, ``g_j`` the teacher's cached embedding
    of utterance ``j`` of the same batch (``batch.extra["teacher_emb"]``), ``P(i)`` one of the
    same class as ``i``, ``N(i)`` one of another class (:class:`Mining` picks them), ``A`` the
    anchors that have both. Distances use ``torch.nn.functional.triplet_margin_loss`` (which adds
    ``eps = 1e-6`` inside the norm).

    Args:
        margin: the margin (paper: 1).
        p: the norm (paper: 2).
        mining: :class:`Mining` strategy (paper/authors: random).
        include_self: allow an anchor's own teacher embedding as its positive.
        student_dim, teacher_dim: embedding widths (needed for a projection).
        projection: :class:`Projection`.
        key: the ``batch.extra`` key of the teacher embeddings.
    """

    def __init__(self, *, margin: float = 1.0, p: float = 2.0, mining: Mining | str = Mining.RANDOM,
                 include_self: bool = True, student_dim: int | None = None,
                 teacher_dim: int | None = None, projection: Projection | str = Projection.AUTO,
                 key: str = "teacher_emb") -> None:
        super().__init__()
        if margin < 0 or p <= 0:
            raise ValueError(f"TripletKD: need margin >= 0 and p > 0, got margin={margin}, p={p}")
        self.margin, self.p = float(margin), float(p)
        self.mining = Mining(mining)
        self.include_self = bool(include_self)
        self.key = key
        projection = Projection(projection)
        self.student_dim, self.teacher_dim = student_dim, teacher_dim
        needs = student_dim is not None and teacher_dim is not None and student_dim != teacher_dim
        if projection is Projection.NONE and needs:
            raise ValueError(f"TripletKD: student width {student_dim} != teacher width {teacher_dim} "
                             "and projection='none'; use projection='auto'")
        if projection is Projection.LINEAR or (projection is Projection.AUTO and needs):
            if student_dim is None or teacher_dim is None:
                raise ValueError("TripletKD: a projection needs student_dim and teacher_dim")
            self.proj: nn.Module | None = nn.Linear(student_dim, teacher_dim)
        else:
            self.proj = None

    def triplet(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, *,
                anchors: torch.Tensor | None = None, pool_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss for (N, H_S) student and (N, H_T) teacher embeddings of the same N utterances.

        Args:
            student, teacher: row ``i`` of both is utterance ``i``.
            labels: (N,) classes.
            anchors: (N,) bool, which rows are anchors (default all).
            pool_mask: (N,) bool, which teacher rows may be positives/negatives (default all).
        """
        if student.shape[0] != teacher.shape[0] or labels.shape[0] != student.shape[0]:
            raise ValueError(f"TripletKD: {student.shape[0]} student rows, {teacher.shape[0]} teacher "
                             f"rows and {labels.shape[0]} labels must agree")
        f = self.proj(student) if self.proj is not None else student
        f = f.float()        # distances in float32 also under bf16 autocast (CUDA)
        if f.shape[1] != teacher.shape[1]:
            raise ValueError(f"TripletKD: student embedding width {f.shape[1]} != teacher width "
                             f"{teacher.shape[1]}; construct it with student_dim/teacher_dim "
                             "so that it learns a projection")
        n = student.shape[0]
        anchors = torch.ones(n, dtype=torch.bool, device=student.device) if anchors is None else anchors.bool()
        idx = torch.nonzero(anchors).view(-1)
        g = teacher.float()
        pos, neg, valid = mine_triplets(f[idx], g, labels[idx], labels, strategy=self.mining, p=self.p,
                                        self_index=idx, include_self=self.include_self,
                                        pool_mask=pool_mask)
        n_valid = int(valid.sum())
        parts = {"triplet_valid": torch.tensor(n_valid / max(len(idx), 1))}
        if n_valid == 0:
            # nothing to contrast in this batch (e.g. one class only): a zero that keeps the graph
            loss = f.sum() * 0.0
            parts["triplet_active"] = torch.tensor(0.0)
            return loss, parts
        ai = idx[valid]
        per = F.triplet_margin_loss(f[ai], g[pos[valid]], g[neg[valid]], margin=self.margin, p=self.p,
                                    reduction="none")
        parts["triplet_active"] = (per.detach() > 0).float().mean().cpu()
        return per.mean(), parts

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = output.embeddings.shape[0]
        teacher = _teacher_tensor(batch, self.key, n, "TripletKD")
        scored = _scored_mask(batch, n).to(output.embeddings.device)
        loss, parts = self.triplet(output.embeddings, teacher, batch.labels, anchors=scored)
        parts["triplet"] = loss.detach()
        return loss, parts


# --------------------------------------------------------------------------- logit / embedding KD
def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, tau: float,
                  direction: KLDirection | str = KLDirection.FORWARD) -> torch.Tensor:
    """Per-row KL divergence between temperature-softened distributions, (N,).

    ``forward``: ``Σ_c p_T,c (log p_T,c − log p_S,c)``; ``reverse``: ``Σ_c p_S,c (log p_S,c −
    log p_T,c)``, with ``p_X = softmax(z_X / τ)``. Computed from log-softmax (no log(0)).
    """
    log_s = F.log_softmax(student_logits.float() / tau, dim=-1)
    log_t = F.log_softmax(teacher_logits.float() / tau, dim=-1)
    if KLDirection(direction) is KLDirection.FORWARD:
        return (log_t.exp() * (log_t - log_s)).sum(-1)
    return (log_s.exp() * (log_s - log_t)).sum(-1)


class LogitKD(TrainLoss):
    """Temperature-softened KL divergence to one teacher's logits.

    ``L = s · 1/|S| Σ_{i∈S} KL(p_i^T ‖ p_i^S)`` (``forward``) or ``KL(p_i^S ‖ p_i^T)``
    (``reverse``), ``p^X = softmax(z^X / τ)``, ``s = τ²`` when ``tau_squared`` (keeps the gradient
    scale independent of τ, Hinton et al. 2015) else 1; ``S`` = scored utterances with a valid
    teacher output. The teacher logits are ``batch.extra["logits/<teacher>"]`` (N, C).

    Args:
        teacher: which teacher (:class:`Teacher`).
        tau: the temperature τ > 0.
        direction: :class:`KLDirection`.
        tau_squared: multiply by τ².
    """

    def __init__(self, *, teacher: Teacher | str, tau: float = 1.0,
                 direction: KLDirection | str = KLDirection.FORWARD, tau_squared: bool = True) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"LogitKD: tau must be > 0, got {tau}")
        self.teacher = Teacher(teacher)
        self.tau, self.direction, self.tau_squared = float(tau), KLDirection(direction), bool(tau_squared)

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n, c = output.logits.shape
        t = _teacher_tensor(batch, extra_key("logits", self.teacher), n, f"LogitKD({self.teacher.value})")
        if t.shape[1] != c:
            raise ValueError(f"LogitKD({self.teacher.value}): teacher has {t.shape[1]} classes, the "
                             f"student {c}")
        mask = _scored_mask(batch, n, extra_key("valid", self.teacher)).to(output.logits.device)
        name = f"kl_{self.teacher.value}"
        if not mask.any():
            return output.logits.sum() * 0.0, {name: torch.tensor(0.0)}
        kl = kl_divergence(output.logits[mask], t[mask], tau=self.tau, direction=self.direction).mean()
        loss = kl * (self.tau ** 2 if self.tau_squared else 1.0)
        return loss, {name: loss.detach()}


class EmbeddingKD(TrainLoss):
    """One minus the cosine similarity between a student projection and a teacher embedding.

    ``L = 1/|S| Σ_{i∈S} (1 − z'_i · z_i / (‖z'_i‖₂ ‖z_i‖₂))`` with ``z'_i`` the student's
    ``extras["proj_<teacher>"]`` and ``z_i`` the teacher's ``batch.extra["emb/<teacher>"]``;
    ``S`` = scored utterances with a valid teacher output. In [0, 2]; 0 when aligned.
    (``torch.nn.functional.cosine_similarity``, eps 1e-8.)

    Args:
        teacher: which teacher (:class:`Teacher`).
    """

    def __init__(self, *, teacher: Teacher | str) -> None:
        super().__init__()
        self.teacher = Teacher(teacher)

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        key = f"proj_{self.teacher.value}"
        if key not in output.extras:
            raise KeyError(f"EmbeddingKD({self.teacher.value}): the student has no {key!r} projection head "
                           f"(extras: {sorted(output.extras)}); build it with that teacher's width")
        z_s = output.extras[key]
        n = z_s.shape[0]
        z_t = _teacher_tensor(batch, extra_key("emb", self.teacher), n, f"EmbeddingKD({self.teacher.value})")
        if z_t.shape[1] != z_s.shape[1]:
            raise ValueError(f"EmbeddingKD({self.teacher.value}): projection width {z_s.shape[1]} != "
                             f"teacher embedding width {z_t.shape[1]}")
        mask = _scored_mask(batch, n, extra_key("valid", self.teacher)).to(z_s.device)
        name = f"cos_{self.teacher.value}"
        if not mask.any():
            return z_s.sum() * 0.0, {name: torch.tensor(0.0)}
        loss = (1.0 - F.cosine_similarity(z_s[mask].float(), z_t[mask].float(), dim=-1)).mean()
        return loss, {name: loss.detach()}


# --------------------------------------------------------------------------- combined losses
@dataclasses.dataclass(frozen=True, kw_only=True)
class TripletLossConfig(Config):
    """``alpha · L_triplet + ce_weight · L_CE`` (the first paper: both 1, margin 1, p 2).

    Attributes:
        alpha: weight of the triplet term (``papermill ... -p alpha 1``).
        ce_weight: weight of cross-entropy.
        margin, p: the triplet's margin and norm.
        mining: :class:`Mining`.
        include_self: an anchor's own teacher embedding may be its positive.
        projection: :class:`Projection` (student → teacher width).
    """

    alpha: float = 1.0
    ce_weight: float = 1.0
    margin: float = 1.0
    p: float = 2.0
    mining: Mining = Mining.RANDOM
    include_self: bool = True
    projection: Projection = Projection.AUTO

    def validate(self) -> None:
        require(self.alpha >= 0 and self.ce_weight >= 0,
                f"TripletLossConfig: alpha and ce_weight must be >= 0, got {self.alpha}, {self.ce_weight}")
        require(self.alpha > 0 or self.ce_weight > 0, "TripletLossConfig: alpha and ce_weight are both 0")
        require(self.margin >= 0, f"TripletLossConfig.margin must be >= 0, got {self.margin}")
        require(self.p > 0, f"TripletLossConfig.p must be > 0, got {self.p}")


class TripletKDLoss(TrainLoss):
    """``L = α · L_triplet + w · L_CE`` (:class:`TripletKD` + cross-entropy on scored utterances).

    Args:
        config: :class:`TripletLossConfig`.
        student_dim, teacher_dim: embedding widths (a projection is learned when they differ).
        class_weights: optional (C,) cross-entropy class weights.
    """

    def __init__(self, config: TripletLossConfig = TripletLossConfig(), *, student_dim: int | None = None,
                 teacher_dim: int | None = None, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.triplet = TripletKD(margin=config.margin, p=config.p, mining=config.mining,
                                 include_self=config.include_self, student_dim=student_dim,
                                 teacher_dim=teacher_dim, projection=config.projection)
        self.ce = CrossEntropyLoss(class_weights)

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        ce, parts = self.ce(output, batch)
        loss = c.ce_weight * ce
        if c.alpha > 0:
            tri, tparts = self.triplet(output, batch)
            loss = loss + c.alpha * tri
            parts.update(tparts)
        return loss, parts


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmoDistillLossConfig(Config):
    """``α · L_logits + β · L_embeddings + γ · L_CE`` over the enabled teachers.

    Attributes:
        alpha, beta, gamma: the three weights (poster eq. 5).
        teachers: the enabled teachers (``()`` = plain cross-entropy, the no-KD student).
        use_logits, use_embeddings: switch each KD level off (the poster's "w/o" ablations);
            equivalent to alpha = 0 / beta = 0 but recorded by name.
        tau_linguistic, tau_prosodic: per-teacher temperatures. Defaults follow the poster's
            finding: soft logits (high τ) for the strong linguistic teacher, hard (τ = 1) for the
            weak prosodic one.
        direction: :class:`KLDirection` (``forward`` = KL(teacher ‖ student), Hinton's).
        tau_squared: scale each KL term by τ².
    """

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    teachers: tuple[Teacher, ...] = (Teacher.LINGUISTIC, Teacher.PROSODIC)
    use_logits: bool = True
    use_embeddings: bool = True
    tau_linguistic: float = 4.0
    tau_prosodic: float = 1.0
    direction: KLDirection = KLDirection.FORWARD
    tau_squared: bool = True

    def validate(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            require(getattr(self, name) >= 0, f"EmoDistillLossConfig.{name} must be >= 0, got {getattr(self, name)}")
        require(self.tau_linguistic > 0 and self.tau_prosodic > 0,
                f"EmoDistillLossConfig: temperatures must be > 0, got {self.tau_linguistic}, {self.tau_prosodic}")
        require(len(set(self.teachers)) == len(self.teachers),
                f"EmoDistillLossConfig.teachers has duplicates: {[t.value for t in self.teachers]}")
        require(self.gamma > 0 or bool(self.active_terms()),
                "EmoDistillLossConfig: every term is off (gamma = 0 and no active KD term)")

    def tau(self, teacher: Teacher | str) -> float:
        return self.tau_linguistic if Teacher(teacher) is Teacher.LINGUISTIC else self.tau_prosodic

    def active_terms(self) -> list[str]:
        """``["logits/prosodic", "emb/linguistic", ...]``: the KD terms that contribute."""
        out = []
        for t in self.teachers:
            if self.use_logits and self.alpha > 0:
                out.append(f"logits/{Teacher(t).value}")
            if self.use_embeddings and self.beta > 0:
                out.append(f"emb/{Teacher(t).value}")
        return out

    @property
    def logit_teachers(self) -> tuple[Teacher, ...]:
        return tuple(self.teachers) if self.use_logits and self.alpha > 0 else ()

    @property
    def embedding_teachers(self) -> tuple[Teacher, ...]:
        return tuple(self.teachers) if self.use_embeddings and self.beta > 0 else ()


class EmoDistillLoss(TrainLoss):
    """``L = α Σ_t LogitKD_t + β Σ_t EmbeddingKD_t + γ L_CE`` (poster eq. 1, 3, 5).

    ``t`` runs over ``config.teachers``; each :class:`LogitKD` uses its teacher's τ. Terms that
    are switched off are not computed (their teacher outputs need not be in the batch).

    Args:
        config: :class:`EmoDistillLossConfig`.
        class_weights: optional (C,) cross-entropy class weights.
    """

    def __init__(self, config: EmoDistillLossConfig = EmoDistillLossConfig(), *,
                 class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.logit_kd = nn.ModuleList([LogitKD(teacher=t, tau=config.tau(t), direction=config.direction,
                                               tau_squared=config.tau_squared) for t in config.logit_teachers])
        self.emb_kd = nn.ModuleList([EmbeddingKD(teacher=t) for t in config.embedding_teachers])
        self.ce = CrossEntropyLoss(class_weights)

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        parts: dict[str, torch.Tensor] = {}
        loss = output.logits.sum() * 0.0
        if c.gamma > 0:
            ce, p = self.ce(output, batch)
            loss = loss + c.gamma * ce
            parts.update(p)
        if len(self.logit_kd):
            l_logits = sum(self._run(m, output, batch, parts) for m in self.logit_kd)
            loss = loss + c.alpha * l_logits
            parts["logits"] = l_logits.detach()
        if len(self.emb_kd):
            l_emb = sum(self._run(m, output, batch, parts) for m in self.emb_kd)
            loss = loss + c.beta * l_emb
            parts["embeddings"] = l_emb.detach()
        return loss, parts

    @staticmethod
    def _run(module: TrainLoss, output: ModelOutput, batch: Any, parts: dict) -> torch.Tensor:
        value, p = module(output, batch)
        parts.update(p)
        return value


def teachers_of(names: Sequence[str] | str) -> tuple[Teacher, ...]:
    """Parse ``"linguistic,prosodic"`` / ``["prosodic"]`` / ``""`` into teachers."""
    if isinstance(names, str):
        names = [s for s in (x.strip() for x in names.split(",")) if s]
    return tuple(Teacher(n) for n in names)
