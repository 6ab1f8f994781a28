"""Triplet KD from the bidirectional teacher into causal students (``TripletConfig.student_causal``)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from emowb.config import ConfigError
from emowb.data.synth import SynthConfig, generate
from emowb.features import extract
from emowb.kd.triplet import StudentSize, TripletConfig, TripletMethod
from emowb.models.cogmen import CogmenConfig


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    c = generate(tmp_path_factory.mktemp("kd_causal") / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    for name in ("egemaps", "openface-au"):
        extract(c, name, progress=False)
    return c


def test_student_configs_of_a_causal_experiment():
    size = StudentSize(name="s", seq_layers=1, gnn_heads=2)
    cfg = TripletConfig(student_causal=True)
    causal = cfg.student_config(size)
    assert causal.causal and causal.graph.value == "past" and causal.wp == cfg.student.wp
    assert (causal.seq_layers, causal.gnn_heads) == (1, 2)
    bidir = cfg.student_config(size, causal=False)
    assert not bidir.causal and bidir.graph.value == "window"
    assert TripletConfig(student_causal=True, student=CogmenConfig(modalities="a", graph="disjoint")) \
        .student_config(size).graph.value == "disjoint"
    assert not TripletConfig().student_config(size).causal                   # the default is unchanged
    with pytest.raises(ConfigError, match="student_causal=True with a bidirectional student"):
        TripletConfig(student_causal=True, student=CogmenConfig(modalities="a", graph="past", causal=True))


def test_cli_trains_causal_students_with_and_without_kd(corpus, tmp_path, capsys):
    from emowb.cli import main
    from emowb.train.run import load_run

    sets = ["train.epochs=1", "teacher_train.epochs=1", "teacher.hidden_size=8", "teacher.seq_ff=16",
            "teacher.seq_heads=1", "student.hidden_size=8", "student.seq_ff=16", "student.seq_heads=1",
            "student_seq_layers=1", "student_gnn_heads=1", "seq_layers=1", "batch_size=4"]
    argv = ["kd", "triplet", str(corpus.root), "--out", str(tmp_path / "tr"), "--protocol", "fixed",
            "--folds", "Ses05", "--seeds", "0", "--threads", "1", "--student-causal", "true"]
    assert main(argv + [x for s in sets for x in ("--set", s)]) == 0
    out = capsys.readouterr().out
    assert "COGMEN_S-A causal [SeqContext 1, GNN 1] + triplet KD" in out
    assert "COGMEN_S-A causal [SeqContext 1, GNN 1] no KD" in out
    assert "COGMEN_S-A bidirectional [SeqContext 1, GNN 1] no KD" in out
    res = json.loads((tmp_path / "tr" / "results.json").read_text())
    assert res["config"]["student_causal"] is True
    runs = pd.read_csv(tmp_path / "tr" / "runs.csv")
    assert set(runs["role"]) == {"teacher", "student-kd", "student", "student-bidirectional"}
    dirs = {r: Path(runs.loc[runs["role"] == r, "run_dir"].iloc[0]) for r in
            ("student-kd", "student", "student-bidirectional", "teacher")}
    by_role = {r: load_run(d) for r, d in dirs.items()}
    for role in ("student-kd", "student"):
        model = by_role[role].config.model
        assert model.causal is True and model.graph.value == "past"
        recorded = json.loads((dirs[role] / "config.json").read_text())
        assert recorded["model"]["config"]["causal"] is True
        assert recorded["run"]["config"]["model"]["causal"] is True
    assert by_role["student-kd"].record["kd"]["method"] == "triplet"
    assert by_role["student-bidirectional"].config.model.causal is False
    assert by_role["student-bidirectional"].config.model.graph.value == "window"
    assert by_role["teacher"].config.model.causal is False and by_role["teacher"].config.model.modalities == "av"
