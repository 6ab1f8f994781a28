# %% [markdown]
# # Train one COGMEN configuration
#
# One model (modalities, masking, graph) trained once per seed on a speaker-independent split,
# with its learning curves and its evaluation-context matrix: the model is scored with every
# subset of its modalities (for AV: AV, A-only, V-only), as if the others were missing at test
# time. Runs use the GPU when there is one (`device = "auto"`).

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
seq_layers = 2
seq_ff = 512
gnn_heads = 7
modalities = "av"
mask = "none"
graph = "window"

# %%
from IPython.display import display

from emowb.notebook import TrainNotebook, ops
from emowb.viz.curves import plot_learning_curves
from emowb.viz.runs import read_run

nb = TrainNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, [nb.audio_features, nb.video_features])
run_dirs = ops.train_runs(nb, data)
run_dirs

# %% [markdown]
# ## Learning curves

# %%
runs = [read_run(d) for d in run_dirs]
fig = plot_learning_curves({f"seed {s}": r.history for s, r in zip(nb.seeds, runs)})
nb.save(fig, "train_curves")

# %% [markdown]
# ## Evaluation contexts (test weighted F1, mean ± std over seeds)

# %%
matrix = ops.context_matrix(run_dirs)
matrix.to_csv(nb.out("runs", "train", nb.name) / "contexts.csv")
display(matrix)
