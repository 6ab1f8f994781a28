"""Time one training step of the SSL-backbone EmoDistill student (frozen weighted sum / fine-tune).

The step is what the trainer does per batch: forward (bf16 autocast on CUDA only), the
EmoDistill loss against cached teacher outputs, backward, AdamW step. Without ``--model`` a tiny
randomly initialised HuBERT is built in a temporary folder (no weights can be downloaded here);
with ``--model DIR`` any local HuBERT / wav2vec2 / WavLM folder is used. Prints the device and the
median milliseconds per step.

    python benchmarks/kd_ssl_step.py [--model DIR] [--device auto] [--batch 8] [--seconds 3] \
        [--steps 10] [--json benchmarks/results/kd_ssl_step.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emowb.batching.utterances import UtteranceData
from emowb.kd.losses import EmoDistillLoss, EmoDistillLossConfig, extra_key
from emowb.kd.students import SpeechStudent, StudentConfig
from emowb.utils import resolve_device


def tiny_hubert(path: Path) -> Path:
    import transformers

    transformers.set_seed(0)
    cfg = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    conv_dim=(32, 32), conv_stride=(5, 5), conv_kernel=(10, 10),
                                    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    transformers.HubertModel(cfg).save_pretrained(path)
    return path


def time_steps(model_dir: str, mode: str, *, device: str, batch: int, seconds: float, steps: int) -> dict:
    torch.manual_seed(0)
    dev = torch.device(device)
    student = SpeechStudent(StudentConfig(backbone="ssl", ssl_model=model_dir, ssl_mode=mode, hidden=128),
                            n_classes=4, teacher_dims={"linguistic": 256, "prosodic": 64}).to(dev).train()
    rng = np.random.default_rng(0)
    n = int(seconds * 16000)
    lengths = rng.integers(n // 2, n + 1, batch)
    data = UtteranceData(utt_ids=[f"u{i}" for i in range(batch)], labels=np.arange(batch) % 4,
                         inputs={"wave": [rng.normal(size=(int(s), 1)).astype(np.float32) * 0.1 for s in lengths]})
    ids = data.utt_ids
    for t, d in (("linguistic", 256), ("prosodic", 64)):
        data.add_extra(extra_key("logits", t), ids, torch.randn(batch, 4))
        data.add_extra(extra_key("emb", t), ids, torch.randn(batch, d))
        data.add_extra(extra_key("valid", t), ids, torch.ones(batch, dtype=torch.bool))
    b = data.collate(list(range(batch))).to(dev)
    loss_fn = EmoDistillLoss(EmoDistillLossConfig())
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-4)
    amp = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if dev.type == "cuda"
           else contextlib.nullcontext())
    times = []
    for i in range(steps + 2):                       # two warm-up steps
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with amp:
            loss, _ = loss_fn(student(b), b)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
    return {"mode": mode, "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
            "trainable_parameters": int(trainable), "parameters": int(sum(p.numel() for p in student.parameters()))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="local SSL model folder (default: a tiny random HuBERT)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0, help="longest utterance (s); others 50-100 %% of it")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({a.threads} thread(s))"
    with tempfile.TemporaryDirectory() as tmp:
        model = a.model or str(tiny_hubert(Path(tmp) / "tiny-hubert"))
        rows = [time_steps(model, mode, device=device, batch=a.batch, seconds=a.seconds, steps=a.steps)
                for mode in ("frozen", "finetune")]
    label = a.model or "tiny random HuBERT (hidden 32, 2 layers)"
    print(f"SSL student training step on {name}: {label}, batch {a.batch} × ≤{a.seconds:g} s")
    for r in rows:
        print(f"  {r['mode']:9s} median {r['median_ms']:8.1f} ms/step (min {r['min_ms']:.1f}); "
              f"{r['trainable_parameters']:,} of {r['parameters']:,} parameters train")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"device": name, "model": label, "batch": a.batch, "seconds": a.seconds,
                                      "steps": a.steps, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
