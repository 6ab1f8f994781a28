"""Fixtures of the KD tests: a tiny random HuBERT, a tiny random BERT with MiniLM's tokenizer, and a
tiny synthetic corpus with the features the KD pipelines need (made once per test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_tiny_hubert(path: Path, **kw) -> Path:
    import transformers

    transformers.set_seed(0)
    cfg = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, conv_dim=(32, 32), conv_stride=(5, 5),
                                    conv_kernel=(10, 10), num_conv_pos_embeddings=16,
                                    num_conv_pos_embedding_groups=2, **kw)
    transformers.HubertModel(cfg).save_pretrained(path)
    return path


def make_tiny_bert(path: Path) -> Path:
    """A randomly initialised 1-layer BERT (16-d) that reads MiniLM's uncased WordPiece vocabulary."""
    import transformers
    from emowb.features.text import minilm_path

    transformers.set_seed(0)
    src = Path(minilm_path())
    cfg = transformers.BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(cfg).save_pretrained(path)
    for f in TOKENIZER_FILES:
        shutil.copy(src / f, path / f)
    return path


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory):
    return make_tiny_hubert(tmp_path_factory.mktemp("kd_tiny_hubert"))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("kd_tiny_bert"))
