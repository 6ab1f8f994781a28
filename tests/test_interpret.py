"""Sentences written from results: they follow the numbers (and change when the numbers do)."""

import numpy as np
import pytest

from emowb.eval.interpret import embedding_agreement, never_predicted, paired_effect
from emowb.viz.embeddings import cloud_separation


def test_paired_effect_verdict_follows_the_interval():
    noise = paired_effect([0.02, 0.05, -0.01], change="KD", metric="F1")
    assert "+0.020 ± 0.030 over 3 paired runs" in noise and "within seed noise" in noise
    up = paired_effect([0.05, 0.06, 0.07, 0.05], change="KD", metric="F1")
    assert "improvement beyond seed noise" in up and "higher in 4/4" in up
    down = paired_effect([-0.05, -0.06, -0.07], change="KD", metric="F1")
    assert "worse, beyond seed noise" in down
    assert "single run cannot tell" in paired_effect([0.1], change="KD", metric="F1")
    assert "No paired runs" in paired_effect([], change="KD", metric="F1")


def test_never_predicted_names_the_classes():
    labels = ["neutral", "happy", "sad", "angry"]
    s = never_predicted([0, 1, 2, 2, 3], [0, 1, 1, 0, 3], labels, name="The student")
    assert s.startswith("The student never predicts *sad* (2 of 5")
    assert "predicts every class" in never_predicted([0, 1, 2, 3], [3, 2, 1, 0], labels, name="It")
    assert "the data hold no *angry*" in never_predicted([0, 1, 2], [0, 1, 2], labels, name="It")


def test_embedding_agreement_reads_the_scores():
    far = dict(linear_cka=0.2, knn_overlap=0.1, label_transfer_teacher_to_student_2d=0.07, separation_2d=9.0)
    near = dict(linear_cka=0.6, knn_overlap=0.4, label_transfer_teacher_to_student_2d=0.8, separation_2d=1.1)
    worse = embedding_agreement({"KD student": far, "student without KD": near})
    assert "sit further from the teacher's" in worse and "sits apart" in worse and "overlaps" in worse
    better = embedding_agreement({"KD student": near, "student without KD": far})
    assert "sit closer to the teacher's" in better
    mixed = embedding_agreement({"KD student": dict(near, linear_cka=0.1), "student without KD": far})
    assert "no clear move" in mixed


def test_cloud_separation_tells_overlap_from_apart():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(200, 2))
    assert cloud_separation(t, rng.normal(size=(200, 2))) < 2
    assert cloud_separation(t, rng.normal(size=(200, 2)) + 20) > 10
