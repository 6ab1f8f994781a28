"""COGMEN speed at IEMOCAP-4's shape: edge building, one training epoch, one evaluation pass.

Shape (defaults): 120 dialogues, 4,500 utterances, audio 100-d, video 512-d, text 768-d, 4 classes,
batch 32 dialogues, 1 torch thread; the model at the reference's settings (hidden 100, 2 SeqContext
layers, 7 graph heads). Features are random: speed does not depend on their values.

Edge building is timed three ways per batch of 32 dialogues:

- ``reference``: COGMEN's ``batch_graphify`` re-created faithfully (``edge_perms`` through Python
  sets, then one ``torch.tensor`` per edge; :func:`emowb.batching.graph.reference_batch_edges`);
- ``tensor-op per batch``: emowb's tensor-op construction run for every dialogue of the batch;
- ``cached``: emowb's pipeline, where each dialogue's edges were built once and a batch only
  concatenates them with offsets (inside ``collate``).

Then one training epoch and one evaluation pass over all dialogues for modalities ``a`` and ``atv``,
with edges built per batch as the reference does, and with the cached graphs.

    python benchmarks/cogmen_speed.py [--dialogues 120 --utterances 4500 --threads 1 --repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from emowb.batching.dialogues import DialogueData, build_dialogues, collate
from emowb.batching.graph import dialogue_edges, reference_batch_edges
from emowb.data.corpus import IEMOCAP4, Corpus, CorpusInfo
from emowb.features.base import FeatureSet
from emowb.models.cogmen import COGMEN, CogmenConfig
from emowb.train.api import CrossEntropyLoss
from emowb.types import Modality

DIMS = {"a": 100, "v": 512, "t": 768}


def make_data(n_dialogues: int, n_utterances: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    # dialogue lengths around n_utterances / n_dialogues (IEMOCAP: 4,490 utterances in 151 dialogues,
    # COGMEN's IEMOCAP-4 train split about 120 dialogues)
    lens = rng.integers(10, 2 * n_utterances // n_dialogues - 10, n_dialogues)
    lens = np.maximum(1, np.round(lens * n_utterances / lens.sum()).astype(int))
    lens[-1] += n_utterances - lens.sum()
    rows = []
    for d, n in enumerate(lens):
        session = f"Ses0{d % 5 + 1}"
        for t in range(n):
            spk = "MF"[int(rng.integers(2))]
            rows.append(dict(utt_id=f"d{d:03d}_{t:03d}", dialogue_id=f"d{d:03d}", turn=t,
                             speaker=session + spk, group=session, label=IEMOCAP4[int(rng.integers(4))],
                             text="", audio=""))
    corpus = Corpus(tempfile.mkdtemp(prefix="cogmen_speed_"), pd.DataFrame(rows), CorpusInfo("speed", IEMOCAP4),
                    check_files=False)
    u = corpus.table["utt_id"].tolist()
    feats = {Modality(m): FeatureSet(f"rand-{m}", m, u, values=rng.normal(size=(len(u), d)).astype(np.float32))
             for m, d in DIMS.items()}
    return corpus, feats


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median and min wall time (s) of ``fn()`` over ``repeats`` calls."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def reference_edges_for(batch, wp, wf):
    return reference_batch_edges(batch.lengths, batch.speaker, wp, wf)


def tensor_edges_for(batch, wp, wf):
    parts, types, off = [], [], 0
    for b, n in enumerate(batch.lengths.tolist()):
        ei, et = dialogue_edges(batch.speaker[b, :n], wp=wp, wf=wf)
        parts.append(ei + off)
        types.append(et)
        off += n
    return torch.cat(parts, 1), torch.cat(types)


def epoch(model, data: DialogueData, *, train: bool, edges: str, batch_size: int, opt=None):
    loss_fn = CrossEntropyLoss()
    model.train(train)
    cfg = model.config
    with torch.set_grad_enabled(train):
        for batch in data.batches(batch_size=batch_size, shuffle=train, seed=0, epoch=1):
            if edges == "reference":
                ei, et = reference_edges_for(batch, cfg.wp, cfg.wf)
                batch = batch.replace(edge_index=ei, edge_type=et)
            out = model(batch)
            if train:
                opt.zero_grad()
                loss, _ = loss_fn(out, batch)
                loss.backward()
                opt.step()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dialogues", type=int, default=120)
    p.add_argument("--utterances", type=int, default=4500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modalities", default="a,atv")
    p.add_argument("--compile", action="store_true",
                   help="also time the model under torch.compile (dynamic shapes; first epoch = compile time)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    corpus, feats = make_data(a.dialogues, a.utterances)
    results: dict = {"shape": {"dialogues": a.dialogues, "utterances": len(corpus), "batch_size": a.batch_size,
                               "threads": a.threads, "dims": DIMS}}
    print(f"COGMEN speed: {a.dialogues} dialogues, {len(corpus)} utterances, dims {DIMS}, batch {a.batch_size}, "
          f"{a.threads} torch thread(s), median of {a.repeats}")

    # ---- edge building, per batch
    cfg0 = CogmenConfig(modalities="a")
    t0 = time.perf_counter()
    dialogues = build_dialogues(corpus, {Modality.AUDIO: feats[Modality.AUDIO]}, graph=cfg0.graph_spec())
    cache_s = time.perf_counter() - t0
    batches = list(DialogueData(dialogues).batches(batch_size=a.batch_size, shuffle=False))
    n_b = len(batches)
    t_ref, _ = timed(lambda: [reference_edges_for(b, 5, 5) for b in batches], a.repeats)
    t_tensor, _ = timed(lambda: [tensor_edges_for(b, 5, 5) for b in batches], a.repeats)
    groups = [dialogues[i:i + a.batch_size] for i in range(0, len(dialogues), a.batch_size)]
    t_cached, _ = timed(lambda: [torch.cat([d.edge_index + o for d, o in zip(
        g, (torch.cumsum(torch.tensor([len(x) for x in g]), 0) - torch.tensor([len(x) for x in g])).tolist())], 1)
        for g in groups], a.repeats)
    t_collate, _ = timed(lambda: [collate(g) for g in groups], a.repeats)
    n_edges = sum(int(b.edge_index.shape[1]) for b in batches)
    results["edges"] = {"batches": n_b, "edges": n_edges,
                        "reference_ms_per_batch": 1e3 * t_ref / n_b,
                        "tensor_op_ms_per_batch": 1e3 * t_tensor / n_b,
                        "cached_concat_ms_per_batch": 1e3 * t_cached / n_b,
                        "collate_ms_per_batch": 1e3 * t_collate / n_b,
                        "build_all_dialogues_once_s": cache_s}
    e = results["edges"]
    print(f"\nedges per batch ({n_b} batches, {n_edges} edges in all):")
    print(f"  reference (Python, per pair)     {e['reference_ms_per_batch']:9.2f} ms")
    print(f"  tensor ops, rebuilt per batch    {e['tensor_op_ms_per_batch']:9.2f} ms")
    print(f"  cached per dialogue (concat)     {e['cached_concat_ms_per_batch']:9.3f} ms")
    print(f"  whole collate (pad + graph)      {e['collate_ms_per_batch']:9.2f} ms")
    print(f"  caching all dialogues once       {cache_s * 1e3:9.1f} ms (features + graphs)")

    # ---- epochs
    print(f"\n{'mods':5s} {'edges':10s} {'train epoch s':>14s} {'eval pass s':>12s} {'params':>10s}")
    results["epochs"] = {}
    for mods in a.modalities.split(","):
        cfg = CogmenConfig(modalities=mods)
        ds = DialogueData(build_dialogues(corpus, {m: feats[m] for m in cfg.mods}, graph=cfg.graph_spec()))
        torch.manual_seed(0)
        model = COGMEN(cfg, input_dims=ds.dims, n_classes=4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        epoch(model, ds, train=True, edges="cached", batch_size=a.batch_size, opt=opt)  # warm-up
        for edges in ("reference", "cached"):
            t_train, _ = timed(lambda: epoch(model, ds, train=True, edges=edges, batch_size=a.batch_size, opt=opt),
                               a.repeats)
            t_eval, _ = timed(lambda: epoch(model, ds, train=False, edges=edges, batch_size=a.batch_size),
                              a.repeats)
            results["epochs"][f"{mods}/{edges}"] = {"train_epoch_s": t_train, "eval_pass_s": t_eval,
                                                    "parameters": model.n_parameters(),
                                                    "seq_heads": model.seq_heads}
            print(f"{mods:5s} {edges:10s} {t_train:14.3f} {t_eval:12.3f} {model.n_parameters():10d}")
        if a.compile:
            compiled = torch.compile(model, dynamic=True)
            compiled.config = model.config
            t0 = time.perf_counter()
            epoch(compiled, ds, train=True, edges="cached", batch_size=a.batch_size, opt=opt)
            epoch(compiled, ds, train=False, edges="cached", batch_size=a.batch_size)
            t_compile = time.perf_counter() - t0
            t_train, _ = timed(lambda: epoch(compiled, ds, train=True, edges="cached", batch_size=a.batch_size,
                                             opt=opt), a.repeats)
            t_eval, _ = timed(lambda: epoch(compiled, ds, train=False, edges="cached", batch_size=a.batch_size),
                              a.repeats)
            results["epochs"][f"{mods}/compiled"] = {"train_epoch_s": t_train, "eval_pass_s": t_eval,
                                                     "first_train_and_eval_s": t_compile}
            print(f"{mods:5s} {'compiled':10s} {t_train:14.3f} {t_eval:12.3f}   (first epoch + pass, "
                  f"compiling: {t_compile:.1f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
