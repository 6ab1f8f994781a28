"""CTranslate2 model files, read without CTranslate2, and Whisper encoders converted to PyTorch.

The Whisper checkpoints that install from the package registry (:mod:`emowb.features.whisper`)
are CTranslate2 ("faster-whisper") models: a ``model.bin`` plus ``config.json``. CTranslate2 runs
their encoder but returns only its last, layer-normalised state; the intermediate layers, which
carry most of the paralinguistic information, need the weights in PyTorch. ``model.bin`` is
CTranslate2's documented binary format (``ctranslate2/specs/model_spec.py``, ``_serialize``),
all little-endian::

    uint32 binary_version | string spec_name | uint32 spec_revision | uint32 n_variables
    n_variables × ( string name | uint8 rank | uint32 dim × rank | uint8 dtype | uint32 n_bytes | data )
    uint32 n_aliases | n_aliases × ( string alias | string variable )

where ``string`` is ``uint16 length (incl. NUL) | bytes | NUL`` and ``dtype`` indexes
(float32, int8, int16, int32, float16, bfloat16).

:func:`convert_whisper_encoder` maps the encoder's tensors onto ``transformers``'
``WhisperEncoder`` and saves a normal Hugging Face folder (``save_pretrained``: ``config.json``,
``model.safetensors``, ``preprocessor_config.json``). The mapping is checked against
CTranslate2's own encoder output on real audio in ``tests/test_whisper.py``.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from emowb.features.base import FeatureError
from emowb.utils import atomic_path, write_json

__all__ = ["Ct2Error", "read_ct2", "write_ct2", "ct2_spec", "whisper_encoder_state",
           "convert_whisper_encoder"]

_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, "bfloat16")


class Ct2Error(FeatureError):
    """A CTranslate2 model file that cannot be read (names the file and what is wrong)."""


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = memoryview(path.read_bytes())
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.buf):
            raise Ct2Error(f"{self.path} is truncated: {what} needs {n} bytes at offset {self.pos}, the file has "
                           f"{len(self.buf)} bytes in all; reinstall the package it came from (or re-copy the file)")

    def unpack(self, fmt: str, what: str):
        n = struct.calcsize("<" + fmt)
        self.need(n, what)
        v = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += n
        return v[0] if len(v) == 1 else v

    def string(self, what: str) -> str:
        n = self.unpack("H", what)
        self.need(n, what)
        s = bytes(self.buf[self.pos:self.pos + n - 1]).decode("utf-8")
        self.pos += n
        return s


def ct2_spec(path: str | os.PathLike) -> tuple[str, int]:
    """(spec name, revision) of a ``model.bin``, e.g. ``("WhisperSpec", 3)``, reading only the header."""
    r = _Reader.__new__(_Reader)
    r.path = Path(path)
    with open(path, "rb") as f:
        r.buf = memoryview(f.read(4096))
    r.pos = 0
    r.unpack("I", "the binary version")
    return r.string("the spec name"), r.unpack("I", "the spec revision")


def read_ct2(path: str | os.PathLike, *, prefix: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """The variables of a CTranslate2 ``model.bin``.

    Args:
        path: the file.
        prefix: keep only variables whose name starts with this (e.g. ``"encoder/"``).

    Returns:
        (spec name, {name: array}); float16 stays float16, bfloat16 becomes float32.

    Raises:
        Ct2Error: a truncated file, an unknown dtype, or trailing bytes.
    """
    r = _Reader(Path(path))
    version = r.unpack("I", "the binary version")
    if not 1 <= version <= 6:
        raise Ct2Error(f"{path}: binary version {version} is not a CTranslate2 model file this reader knows (1-6)")
    spec = r.string("the spec name") if version >= 2 else ""
    if version >= 2:
        r.unpack("I", "the spec revision")
    out: dict[str, np.ndarray] = {}
    for _ in range(r.unpack("I", "the variable count")):
        name = r.string("a variable name")
        rank = r.unpack("B", f"the rank of {name}")
        dims = [r.unpack("I", f"the shape of {name}") for _ in range(rank)]
        code = r.unpack("B", f"the dtype of {name}") if version >= 4 else 0
        nbytes = r.unpack("I", f"the size of {name}") if version >= 4 else int(np.prod(dims)) * 4
        if code >= len(_DTYPES):
            raise Ct2Error(f"{path}: variable {name} has unknown dtype code {code}")
        r.need(nbytes, f"the data of {name}")
        if name.startswith(prefix):
            raw = r.buf[r.pos:r.pos + nbytes]
            if _DTYPES[code] == "bfloat16":
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, _DTYPES[code]).copy()
            if arr.size != int(np.prod(dims)):
                raise Ct2Error(f"{path}: variable {name} has {arr.size} values for shape {dims}")
            out[name] = arr.reshape(dims)
        r.pos += nbytes
    for _ in range(r.unpack("I", "the alias count")):
        alias, target = r.string("an alias"), r.string("an alias target")
        if alias.startswith(prefix) and target in out:
            out[alias] = out[target]
    if r.pos != len(r.buf):
        raise Ct2Error(f"{path}: {len(r.buf) - r.pos} unexpected bytes after the last variable (corrupt file)")
    return spec, out


def write_ct2(path: str | os.PathLike, variables: Mapping[str, np.ndarray], *, spec: str = "WhisperSpec",
              revision: int = 3) -> Path:
    """Write ``variables`` in the CTranslate2 format (binary version 6; for tests and round trips)."""
    path = Path(path)
    with open(path, "wb") as f:
        def string(s: str) -> None:
            b = s.encode("utf-8")
            f.write(struct.pack("<H", len(b) + 1) + b + b"\0")

        f.write(struct.pack("<I", 6))
        string(spec)
        f.write(struct.pack("<I", revision))
        f.write(struct.pack("<I", len(variables)))
        for name, value in variables.items():
            a = np.array(value, order="C")        # (ascontiguousarray would make a scalar 1-d)
            code = next(i for i, d in enumerate(_DTYPES) if d != "bfloat16" and a.dtype == np.dtype(d))
            string(name)
            f.write(struct.pack("<B", a.ndim) + b"".join(struct.pack("<I", d) for d in a.shape))
            f.write(struct.pack("<BI", code, a.nbytes))
            f.write(a.tobytes())
        f.write(struct.pack("<I", 0))
    return path


def whisper_encoder_state(variables: Mapping[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """Map a CTranslate2 Whisper encoder onto ``transformers``' ``WhisperEncoder``.

    CTranslate2 fuses the attention's query/key/value projections into one ``linear_0`` of
    shape (3D, D) (key bias stored as zeros: Whisper's key projection has none) and names
    layer norms ``gamma``/``beta``.

    Args:
        variables: the ``encoder/...`` variables of :func:`read_ct2`.

    Returns:
        (WhisperConfig keyword arguments, state dict of float32 arrays keyed by WhisperEncoder names).

    Raises:
        Ct2Error: a variable missing (not a Whisper encoder) or a non-zero key bias.
    """
    def get(name: str) -> np.ndarray:
        if f"encoder/{name}" not in variables:
            raise Ct2Error(f"not a Whisper encoder: variable encoder/{name} is missing")
        return np.asarray(variables[f"encoder/{name}"], np.float32)

    n_layers = len({k.split("/")[1] for k in variables if re.fullmatch(r"layer_\d+", k.split("/")[1])})
    conv1 = get("conv1/weight")
    d_model, n_mels = conv1.shape[0], conv1.shape[1]
    heads = int(np.asarray(variables.get("encoder/num_heads", d_model // 64)))
    pos = get("position_encodings/encodings")
    sd = {"conv1.weight": conv1, "conv1.bias": get("conv1/bias"),
          "conv2.weight": get("conv2/weight"), "conv2.bias": get("conv2/bias"),
          "embed_positions.weight": pos,
          "layer_norm.weight": get("layer_norm/gamma"), "layer_norm.bias": get("layer_norm/beta")}
    ffn_dim = 0
    for i in range(n_layers):
        src, dst = f"layer_{i}/", f"layers.{i}."
        qkv_w, qkv_b = get(src + "self_attention/linear_0/weight"), get(src + "self_attention/linear_0/bias")
        q_w, k_w, v_w = np.split(qkv_w, 3, axis=0)
        q_b, k_b, v_b = np.split(qkv_b, 3)
        if np.abs(k_b).max() > 0:
            raise Ct2Error(f"encoder layer {i}: the key projection has a bias (not a Whisper encoder)")
        ffn_dim = get(src + "ffn/linear_0/weight").shape[0]
        sd.update({
            dst + "self_attn.q_proj.weight": q_w, dst + "self_attn.q_proj.bias": q_b,
            dst + "self_attn.k_proj.weight": k_w,
            dst + "self_attn.v_proj.weight": v_w, dst + "self_attn.v_proj.bias": v_b,
            dst + "self_attn.out_proj.weight": get(src + "self_attention/linear_1/weight"),
            dst + "self_attn.out_proj.bias": get(src + "self_attention/linear_1/bias"),
            dst + "self_attn_layer_norm.weight": get(src + "self_attention/layer_norm/gamma"),
            dst + "self_attn_layer_norm.bias": get(src + "self_attention/layer_norm/beta"),
            dst + "fc1.weight": get(src + "ffn/linear_0/weight"), dst + "fc1.bias": get(src + "ffn/linear_0/bias"),
            dst + "fc2.weight": get(src + "ffn/linear_1/weight"), dst + "fc2.bias": get(src + "ffn/linear_1/bias"),
            dst + "final_layer_norm.weight": get(src + "ffn/layer_norm/gamma"),
            dst + "final_layer_norm.bias": get(src + "ffn/layer_norm/beta")})
    config = dict(num_mel_bins=int(n_mels), d_model=int(d_model), encoder_layers=int(n_layers),
                  encoder_attention_heads=heads, encoder_ffn_dim=int(ffn_dim),
                  max_source_positions=int(pos.shape[0]),
                  # the decoder is not converted; these only keep WhisperConfig consistent
                  decoder_layers=1, decoder_attention_heads=heads, decoder_ffn_dim=int(ffn_dim))
    return config, sd


def convert_whisper_encoder(model_bin: str | os.PathLike | list, out_dir: str | os.PathLike, *,
                            source: str = "") -> Path:
    """Convert a CTranslate2 Whisper ``model.bin`` into a Hugging Face ``WhisperEncoder`` folder.

    Args:
        model_bin: the file, or a list of files that are its consecutive parts (a split package).
        out_dir: the folder to write (atomically: a crash leaves nothing half-written).
        source: where the weights came from (recorded in ``emowb_source.json``).

    Returns:
        ``out_dir``.
    """
    import torch
    import transformers
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    parts = [Path(p) for p in (model_bin if isinstance(model_bin, (list, tuple)) else [model_bin])]
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        if len(parts) == 1:
            path = parts[0]
        else:  # a model split across packages: concatenate the halves into one file first
            path = tmp / "model.bin"
            with open(path, "wb") as f:
                for p in parts:
                    f.write(p.read_bytes())
        spec, variables = read_ct2(path, prefix="encoder/")
        if spec != "WhisperSpec":
            raise Ct2Error(f"{parts[0]}: a {spec or 'pre-v2'} model, not a Whisper model (WhisperSpec)")
        kwargs, sd = whisper_encoder_state(variables)
        if path.parent == tmp:
            path.unlink()
        config = WhisperConfig(**kwargs)
        config.architectures = ["WhisperEncoder"]
        encoder = WhisperEncoder(config)
        missing, unexpected = encoder.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
        if unexpected or missing:
            raise Ct2Error(f"{parts[0]}: converted encoder does not match WhisperEncoder "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        transformers.utils.logging.disable_progress_bar()
        try:
            encoder.save_pretrained(tmp)
        finally:
            transformers.utils.logging.enable_progress_bar()
        WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(tmp)
        write_json(tmp / "emowb_source.json", {"converted_from": [str(p) for p in parts], "source": source,
                                               "spec": spec, "sizes": [p.stat().st_size for p in parts]})
    return out_dir
