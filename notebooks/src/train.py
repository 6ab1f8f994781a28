# %% [markdown]
# # Train one COGMEN configuration
#
# One model (modalities, masking, graph) trained once per seed on a speaker-independent split,
# with its learning curves and its evaluation-context matrix: the model is scored with every
# subset of its modalities (for AV: AV, A-only, V-only), as if the others were missing at test
# time. Runs use the GPU when there is one (`device = "auto"`).

# %% tags=["parameters"]
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
corpus: str = ''  # '': <workdir>/synth (generated if missing); a corpus folder; or a COGMEN pickle
dialogues: int = 30  # number of dialogues (spread round-robin over sessions). (generated synthetic corpus)
corpus_seed: int = 0  # the seed; same seed + same config -> byte-identical corpus. (generated synthetic corpus)
utterances: list[int] = [18, 32]  # (min, max) utterances per dialogue, uniform. (generated synthetic corpus)
device: str = 'auto'  # auto | cpu | cuda[:N]; amp: bf16 autocast on CUDA (never on CPU).
threads: int = 1  # torch CPU threads
audio_features: str = 'egemaps'  # stored feature set of the audio modality
video_features: str = 'openface-au'  # stored feature set of the video modality
per_speaker: bool = True  # first z-score each speaker's features with that speaker's own statistics (label-free speaker normalisation; not in COGMEN).
protocol: str = 'fixed'  # fixed | logo | loso | kfold | stratified-kfold (see splits) or given / given:<name> (the split recorded in the corpus, e.g. COGMEN's).
folds: list[str] = []  # fold names to run (empty: the first fold for single runs, all for experiments)
seeds: list[int] = [0]  # training seeds.
epochs: int = 25  # maximum epochs (the reference trains 55 on IEMOCAP-4).
lr: float = 0.001  # learning rate (the reference implementation uses 1e-4: see the reference preset)
batch_size: int = 16  # dialogues per batch (reference 32).
patience: int = 8  # early stopping after this many epochs without a dev improvement (None: off). (the learning rate halves after patience // 2)
select: str = 'best'  # best: keep the epoch with the best dev score (early stopping after patience); last: fixed-epoch mode, keep the model after the last epoch (no early stopping; dev is only logged) -- for dev sets too small to choose an epoch
dev_share: float = 0.2  # see make_splits. (dialogues of the training part held out for early stopping)
hidden_size: int = 100  # SeqContext output width and graph layer width (reference: 100).
seq_layers: int = 2  # transformer encoder layers in SeqContext (reference: 2).
seq_ff: int = 512  # feed-forward width of each encoder layer (torch default 2048, as the reference).
gnn_heads: int = 7  # TransformerConv heads (the SLT paper's "GNN: 7").
modalities: str = 'av'  # input modalities, e.g. "av" (order always a, v, t).
mask: str = 'none'  # none | utterance | feature (the four scenarios, random masking at that granularity) | unimodal (random masking of a one-modality model)
graph: str = 'window'  # GraphKind (window | past | disjoint); wp, wf: windows (-1: unbounded). past makes only the graph causal (SeqContext still sees future utterances). One of: window, past, disjoint.
causal: bool = False  # causal model for streaming: SeqContext attends to the current and earlier utterances only (upper-triangular attention mask) and the graph must be past or disjoint; an utterance's prediction then depends on itself and earlier utterances only (in evaluation). Not in the reference.

# %%
from IPython.display import display

from emowb.notebook import TrainNotebook, ops
from emowb.viz.curves import plot_learning_curves
from emowb.viz.runs import read_run

nb = TrainNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, [nb.audio_features, nb.video_features])
run_dirs = ops.train_runs(nb, data)
[nb.relative(d) for d in run_dirs]

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
