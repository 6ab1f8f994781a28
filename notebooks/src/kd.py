# %% [markdown]
# # Triplet knowledge distillation: audio+video teacher → audio-only student
#
# The first paper's method. A COGMEN teacher trained on audio + video (or the masked model,
# `teacher_mask`) is frozen; an audio-only COGMEN student learns with
#
# `L = alpha · L_triplet + ce_weight · L_CE`,
#
# where the triplet loss pulls the student's post-graph embedding of an utterance (anchor) towards
# a teacher embedding of the same class (positive) and away from one of another class (negative):
# `max(‖f(x) − g(P)‖_p − ‖f(x) − g(N)‖_p + margin, 0)`. The same student is also trained without KD.
#
# `papermill notebooks/kd.ipynb out.ipynb -p alpha 1` sets the triplet weight; each configuration
# writes its own folder, and teachers are cached, so other values reuse them.

# %% tags=["parameters"]
workdir = "out/demo"
figures_dir = "figures"
corpus = ""
dialogues = 30
corpus_seed = 0
utterances = [18, 32]
device = "auto"
threads = 1
audio_features = "egemaps"
video_features = "openface-au"
per_speaker = True
protocol = "fixed"
folds = []
seeds = [0]
epochs = 25
lr = 0.001
batch_size = 16
patience = 8
hidden_size = 100
seq_layers = 4  # the teacher's SeqContext layers (paper: 4)
seq_ff = 512
gnn_heads = 7  # the teacher's graph-transformer heads (paper: 7)
alpha = 1.0
ce_weight = 1.0
margin = 1.0
p = 2.0
mining = "random"
teacher_mask = "none"
table1 = False
student_seq_layers = 2
student_gnn_heads = 7
baseline = True

# %%
from IPython.display import Markdown, display

from emowb.notebook import KDNotebook, ops
from emowb.viz.confusion import compare_confusions
from emowb.viz.curves import plot_learning_curves
from emowb.viz.runs import read_run

nb = KDNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, [nb.audio_features, nb.video_features])
result = ops.run_kd(nb, data)
print(f"results in {result.out_dir}")

# %% [markdown]
# ## Teacher vs student (test, mean ± std over folds × seeds)

# %%
display(Markdown(result.table))
student_f1 = result.runs.loc[result.runs["role"] == "student-kd", "weighted_f1"].mean()
print(f"alpha = {nb.alpha}: KD student test weighted F1 (A-only) = {student_f1:.4f}")

# %% [markdown]
# ## Learning curves and confusion matrices (first fold and seed)

# %%
runs = ops.kd_runs(result.out_dir)
fig = plot_learning_curves({role: read_run(d).history for role, d in runs.items()})
nb.save(fig, "kd_curves")
teacher, student = read_run(runs["teacher"]), read_run(runs["student-kd"])
fig, f1 = compare_confusions(teacher.preds(), student.preds(context="a"), labels=teacher.labels,
                             names=("teacher (AV)", f"KD student (A), alpha={nb.alpha:g}"))
nb.save(fig, "kd_confusion")
display(f1.round(3))
