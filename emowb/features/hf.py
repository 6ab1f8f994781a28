"""Loading Hugging Face models with no network, and fingerprinting them for the cache."""

from __future__ import annotations

import os
from pathlib import Path

from emowb.features.base import FeatureError
from emowb.utils import stable_hash

# Nothing in emowb fetches from the network: set before transformers / huggingface_hub import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")


def resolve_model_dir(model: str | os.PathLike) -> Path:
    """A local model folder: ``model`` itself, or its snapshot in the HF cache (no download).

    Raises:
        FeatureError: neither a folder nor a repository id present in the local HF cache.
    """
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise FeatureError(f"model folder {p} has no config.json (not a transformers model)")
        return p.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(model), local_files_only=True))
    except Exception as e:
        raise FeatureError(f"model {str(model)!r} is neither a local folder nor in the local "
                           f"Hugging Face cache (nothing is downloaded): {type(e).__name__}: {e}") from None


def model_fingerprint(path: Path) -> str:
    """A hash of a model folder: config.json text, every file's size, weight files' first MiB.

    Swapping the weights in the same folder therefore re-extracts instead of hitting the cache.
    """
    parts = {"config": (path / "config.json").read_text()}
    files = sorted(q for q in path.rglob("*") if q.is_file() and not q.name.startswith("."))
    parts["sizes"] = [(q.relative_to(path).as_posix(), q.stat().st_size) for q in files]
    heads = []
    for q in files:
        if q.suffix in _WEIGHT_SUFFIXES:
            with open(q, "rb") as f:
                heads.append(stable_hash(f.read(1 << 20).hex(), n=16))
    parts["heads"] = heads
    return stable_hash(parts, n=16)
