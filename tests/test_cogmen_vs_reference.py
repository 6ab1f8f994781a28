"""benchmarks/cogmen_vs_reference.py: the synthetic COGMEN pickle, the skip path and the parity
check's weight mapping (no reference checkout needed); a tiny end-to-end run against the official
code when ``EMOWB_COGMEN_REFERENCE`` points at a checkout of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import BENCHMARKS, load_benchmark

BENCH = BENCHMARKS / "cogmen_vs_reference.py"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("cogmen_vs_reference")


@pytest.fixture(scope="module")
def tiny(bench, tmp_path_factory):
    """12 dialogues, 200 utterances: written as the official pickle, imported by emowb."""
    from emowb.features.imported import import_cogmen

    d = tmp_path_factory.mktemp("cogmen_vs_reference")
    pkl = d / "iemocap_4" / "data_iemocap_4.pkl"
    before = {k: sys.modules.get(k) for k in ("cogmen", "cogmen.Sample")}
    info = bench.write_reference_pickle(pkl, 12, 200, seed=0)
    assert {k: sys.modules.get(k) for k in before} == before          # the stand-in module is gone again
    return info, pkl, import_cogmen(pkl, d / "corpus")


def test_synthetic_pickle_reads_back(bench, tiny):
    from emowb.data.importers.cogmen import load_cogmen_pickle
    from emowb.data.splits import given_split
    from emowb.features.store import load_features

    info, pkl, corpus = tiny
    t = corpus.table
    assert len(t) == info["utterances"] == 200 and t["dialogue_id"].nunique() == info["dialogues"] == 12
    assert corpus.labels == ("happy", "sad", "neutral", "angry")      # COGMEN's IEMOCAP-4 order
    assert set(t["role"]) == {"M", "F"} and set(t["label_cogmen"]) == {0, 1, 2, 3}
    widths = {m: load_features(corpus, f"cogmen-{m}").dim for m in "avt"}
    assert widths == {"a": 100, "v": 512, "t": 768}
    split = given_split(corpus, "cogmen")
    assert (len(split.train), len(split.dev), len(split.test)) == bench.split_sizes(12) == (9, 1, 2)
    raw = load_cogmen_pickle(pkl)
    s = raw["train"][0]
    n = len(s.label)
    assert len(s.text) == len(s.speaker) == len(s.audio) == len(s.visual) == len(s.sentence) == n
    assert s.sbert_sentence_embeddings.shape == (n, 768) and s.audio[0].shape == (100,)
    assert set(s.speaker) <= {"M", "F"} and all(isinstance(x, int) and 0 <= x < 4 for x in s.label)
    labels = {f"{smp.vid}_u{i:03d}": x for p in ("train", "dev", "test") for smp in raw[p]
              for i, x in enumerate(smp.label)}
    assert dict(zip(t["utt_id"], t["label_cogmen"])) == labels
    for part in ("dev", "test"):                                      # sklearn's report needs every class
        assert set(raw[part][0].label) == {0, 1, 2, 3}
    # the labels are in the audio features: nearest class mean is far above chance
    a = load_features(corpus, "cogmen-a")
    x = a.values[[a.utt_ids.index(u) for u in t["utt_id"]]]
    y = t["label_cogmen"].to_numpy()
    means = np.stack([x[y == c].mean(0) for c in range(4)])
    pred = ((x[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == y).mean() > 0.8


def test_iemocap4_shape(bench):
    assert bench.split_sizes(151) == (108, 12, 31)          # 120 training dialogues, the first 12 dev
    lens = bench.dialogue_lengths(151, 4490, np.random.default_rng(0))
    assert lens.sum() == 4490 and lens.min() >= 10 and lens.max() <= 110 and lens.max() > 60


def test_skip_without_reference(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EMOWB_COGMEN_REFERENCE"}
    out = subprocess.run([sys.executable, str(BENCH), "--reference", str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--reference" in out.stdout and "git clone https://github.com/Exploration-Lab/COGMEN" in out.stdout


def test_reference_names_map_onto_emowb(bench):
    import torch

    from emowb.models.cogmen import COGMEN

    spec = {"corpus": "", "gnn_heads": 1, "concat": False, "epochs": 1, "seed": 0, "threads": 1}
    cfg = bench.emowb_run_config(spec, "a", reference_mode=True).model
    own = COGMEN(cfg, input_dims={"a": 100}, n_classes=4).state_dict()
    back = {dst: src for src, dst in bench.NAME_MAP}
    ref = {}
    for k, v in own.items():
        if k.startswith("fill_"):
            continue
        prefix = next(p for p in back if k.startswith(p))
        ref[back[prefix] + k[len(prefix):]] = v
    ref.update({"rnn.encoding_layer.weight": torch.zeros(110, 100), "clf.lin_7.weight": torch.zeros(7, 100)})
    state, skipped = bench.map_reference_state(ref, "a", own)
    assert set(state) == set(own) and sorted(skipped) == ["clf.lin_7.weight", "rnn.encoding_layer.weight"]
    with pytest.raises(KeyError, match="no emowb counterpart"):
        bench.reference_to_emowb_names({**ref, "clf.highway.gate.0.weight": torch.zeros(1)})


def test_input_permutation_keeps_the_function(bench, tiny):
    """A model reading a, t, v (the reference's order) equals, after permute_inputs, one reading
    a, v, t (emowb's) on the same utterances."""
    import torch

    from emowb.data.splits import given_split
    from emowb.features.store import load_features
    from emowb.models.cogmen import COGMEN
    from emowb.train.run import prepare_data
    from emowb.types import Modality

    _, _, corpus = tiny
    spec = {"corpus": str(corpus.root), "gnn_heads": 2, "concat": True, "epochs": 1, "seed": 0, "threads": 1}
    cfg = bench.emowb_run_config(spec, "atv", reference_mode=True).model
    torch.manual_seed(0)
    # "v" and "t" swapped: this model concatenates audio, text, video as the reference does
    ref_like = COGMEN(cfg, input_dims={"a": 100, "v": 768, "t": 512}, n_classes=4).eval()
    model = COGMEN(cfg, input_dims={"a": 100, "v": 512, "t": 768}, n_classes=4).eval()
    perm = bench.input_permutation("atv", "avt")
    state = {k: v for k, v in ref_like.state_dict().items() if not k.startswith("fill_")}   # zeros, per width
    model.load_state_dict({**model.state_dict(), **bench.permute_inputs(state, perm)})
    feats = {Modality(m): load_features(corpus, f"cogmen-{m}") for m in "avt"}
    data = prepare_data(corpus, feats, given_split(corpus, "cogmen"), model=cfg, standardize=False)
    A, V, T = Modality.AUDIO, Modality.VIDEO, Modality.TEXT
    with torch.no_grad():
        for batch in data.test.batches(batch_size=32, shuffle=False):
            swapped = batch.replace(features={A: batch.features[A], V: batch.features[T], T: batch.features[V]})
            x_ref, x = ref_like._inputs(swapped), model._inputs(batch)
            assert torch.equal(x, x_ref[..., torch.as_tensor(perm)])
            diff = (ref_like(swapped).logits - model(batch).logits).abs().max()
            assert diff < 1e-4


def test_end_to_end_against_the_reference(bench, tmp_path):
    ref = bench.find_reference(os.environ.get("EMOWB_COGMEN_REFERENCE"))
    if ref is None:
        pytest.skip("EMOWB_COGMEN_REFERENCE does not point at a checkout of "
                    "https://github.com/Exploration-Lab/COGMEN")
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    rc = bench.main(["--reference", str(ref), "--modalities", "a", "--epochs", "1", "--repeats", "1",
                     "--dialogues", "8", "--utterances", "120", "--json", str(out), "--md", str(md),
                     "--work", str(tmp_path / "work")])
    assert rc == 0
    res = json.loads(out.read_text())
    systems = res["summary"]["a"]["systems"]
    for name in ("reference", "emowb"):
        s = systems[name]
        assert s["train_epoch_cpu_s"] > 0 and s["whole_wall_s"] > 0 and s["epochs"] == 1
        assert s["threads_in_training"] == [1]
    assert res["summary"]["a"]["ratios"]["emowb"]["train_epoch_cpu_s"] > 0
    p = res["parity"]["a"]
    assert p["max_abs_dlogprob"] < 1e-5 and p["agreement"] == 1.0
    assert "| modalities |" in md.read_text()
