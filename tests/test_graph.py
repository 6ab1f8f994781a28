"""Graph construction: tensor-op edges equal COGMEN's per-pair Python construction."""

import ast
import inspect
import textwrap

import numpy as np
import pytest
import torch

from emowb.batching import graph as G
from emowb.batching.dialogues import Dialogue, collate
from emowb.types import Modality


def _edge_set(ei, et):
    return set(zip(ei[0].tolist(), ei[1].tolist(), et.tolist()))


def _random_dialogues(n, seed, max_len=25, n_speakers=2):
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, max_len + 1, n)
    return [torch.from_numpy(rng.integers(0, n_speakers, L)) for L in lens]


@pytest.mark.parametrize("wp, wf", [(5, 5), (2, 7), (0, 3), (4, 0), (-1, 2), (3, -1), (-1, -1), (0, 0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_convention_equals_reference(wp, wf, seed):
    for spk in _random_dialogues(6, seed):
        ref_ei, ref_et = G.reference_batch_edges([len(spk)], spk[None], wp, wf)
        ei, et = G.dialogue_edges(spk, wp=wp, wf=wf, convention="reference")
        assert _edge_set(ei, et) == _edge_set(ref_ei, ref_et)
        assert ei.shape[1] == ref_ei.shape[1]                      # no duplicates either


@pytest.mark.parametrize("w", [1, 5, -1])
def test_receiver_convention_matches_for_symmetric_windows(w):
    for spk in _random_dialogues(5, 3):
        ref = _edge_set(*G.reference_batch_edges([len(spk)], spk[None], w, w))
        assert _edge_set(*G.dialogue_edges(spk, wp=w, wf=w)) == ref


def test_receiver_convention_counts_from_the_receiving_node():
    ei, _ = G.dialogue_edges(torch.zeros(10, dtype=torch.long), wp=3, wf=1)
    src, tgt = ei
    assert ((tgt - src) <= 3).all() and ((src - tgt) <= 1).all()
    assert int((tgt == 5).sum()) == 5                                # 3 past + itself + 1 future


def test_batched_edges_equal_reference_batch_graphify():
    spks = _random_dialogues(7, 5, n_speakers=2)
    dialogues = []
    for i, spk in enumerate(spks):
        ei, et = G.dialogue_edges(spk, wp=5, wf=5)
        T = len(spk)
        dialogues.append(Dialogue(f"d{i}", [f"d{i}_{t}" for t in range(T)], (Modality.AUDIO,),
                                  {Modality.AUDIO: torch.zeros(T, 2)}, torch.ones(T, 1, dtype=torch.bool),
                                  spk, torch.zeros(T, dtype=torch.long), torch.ones(T, dtype=torch.bool), ei, et))
    b = collate(dialogues)
    ref = G.reference_batch_edges(b.lengths, b.speaker, 5, 5)
    assert _edge_set(b.edge_index, b.edge_type) == _edge_set(*ref)


def test_edge_types_follow_reference_numbering():
    spk = torch.tensor([0, 1])
    ei, et = G.dialogue_edges(spk, wp=1, wf=1)
    types = {(s, t): k for s, t, k in _edge_set(ei, et)}
    # key str(spk_src) + str(spk_tgt) + ("0" if src < tgt else "1"), numbered 000, 001, 010, 011, ...
    assert types[(0, 0)] == 1 and types[(1, 1)] == 7
    assert types[(0, 1)] == 2 and types[(1, 0)] == 5
    assert int(et.max()) < G.num_relations(2)


@pytest.mark.parametrize("wp", [0, 2, 5, -1])
def test_past_only_is_causal(wp):
    for spk in _random_dialogues(4, 7):
        ei, et = G.dialogue_edges(spk, wp=wp, wf=5, kind="past")
        src, tgt = ei
        assert (src <= tgt).all()
        if wp >= 0:
            assert ((tgt - src) <= wp).all()
        T = len(spk)
        expect = sum(min(t, T - 1 if wp == -1 else wp) + 1 for t in range(T))
        assert ei.shape[1] == expect


def test_disjoint_is_self_loops_only():
    spk = torch.tensor([0, 1, 1, 0, 1])
    ei, et = G.dialogue_edges(spk, wp=5, wf=5, kind="disjoint")
    assert ei.tolist() == [list(range(5)), list(range(5))]
    assert et.tolist() == [(s * 2 + s) * 2 + 1 for s in spk.tolist()]


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one utterance"):
        G.window_pairs(0, wp=1, wf=1)
    with pytest.raises(ValueError, match=r"speaker indices must lie in \[0, 2\)"):
        G.dialogue_edges(torch.tensor([0, 2]), wp=1, wf=1)


@pytest.mark.parametrize("fn", [G.window_pairs, G.relation_types, G.dialogue_edges, collate])
def test_no_python_loop_over_edges(fn):
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))]
    if fn is collate:
        # collate may iterate over the B dialogues, never over edges or nodes
        iters = [ast.unparse(n.iter) for n in loops] + [ast.unparse(g.iter) for n in ast.walk(tree)
                 if isinstance(n, (ast.ListComp, ast.GeneratorExp, ast.DictComp)) for g in n.generators]
        assert iters and all("dialogues" in it or it.startswith("sorted(extra_keys)") or it.startswith("mods")
                             or it.startswith("d.") for it in iters), iters
        return
    comps = [n for n in ast.walk(tree) if isinstance(n, (ast.ListComp, ast.GeneratorExp, ast.SetComp))]
    assert not loops and not comps
