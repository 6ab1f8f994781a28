# %% [markdown]
# # Masked modality training
#
# COGMEN-Mask draws one of four scenarios per training step — no mask, audio fully masked, video
# fully masked, random masking — so that the model keeps working when video is missing.
#
# 1. **The paper's Tables 2 and 3**: COGMEN-A, COGMEN-AV, COGMEN-Mask (random masking of utterance
#    positions, and of feature dimensions as the authors' code does), COGMEN-A with uni-modal
#    masking, each with the window graph and with a disjoint graph; scored with AV and A-only input.
# 2. **A grid** over the random-masking start probability, mask length and granularity.
# 3. **Sliders** (in JupyterLab) for the four scenario probabilities (kept summing to one), the start
#    probability and the mask length, with a button that trains and scores that setting. Run
#    headless, the same code runs once with the values of the parameters cell.

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
executor: str = 'local'  # where the runs train: local (one after the other, here), processes[:N] (N worker processes), ray[:ADDRESS] (a Ray cluster; a local one without ADDRESS)
paper_table: bool = True  # train the ten Table 2/3 variants
disjoint: bool = True  # include the disjoint-graph variants (Table 3)
grid_start_prob: list[float] = [0.1, 0.2, 0.4]  # grid: start probabilities of random masking
grid_mask_length: list[int] = [1, 3]  # grid: mask lengths (utterances)
grid_granularity: list[str] = ['utterance', 'feature']  # grid: granularities
p_none: float = 0.1  # probability of no masking. (sliders; the four scenario probabilities sum to one)
p_full_a: float = 0.3  # probability of masking all audio (sliders)
p_full_v: float = 0.3  # probability of masking all video (sliders)
p_random: float = 0.3  # probability of random masking. (sliders)
start_prob: float = 0.2  # probability that a position (utterance or feature dimension) starts a mask; a number, or a mapping modality code -> number. (slider run)
mask_length: int = 1  # positions per mask; a number or a mapping modality code -> number. (slider run)
granularity: str = 'utterance'  # MaskGranularity of random masking. (slider run) One of: utterance, feature.

# %%
from IPython.display import Markdown, display

from emowb.notebook import MaskingNotebook, ops
from emowb.viz.curves import plot_grid_heatmaps
from emowb.viz.widgets import MaskingControls

nb = MaskingNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, [nb.audio_features, nb.video_features])

# %% [markdown]
# ## 1. Tables 2 and 3 (test weighted F1)

# %%
if nb.paper_table:
    table = ops.run_paper_table(nb, data)
    display(Markdown(table.table))

# %% [markdown]
# ## 2. Grid over random masking (scenario probabilities as in the parameters)

# %%
grid = ops.run_grid(nb, data)
grid.to_csv(nb.out("masking") / "grid.csv", index=False)
for g, part in grid.groupby("granularity"):
    fig = plot_grid_heatmaps(part, x="start_prob", y="mask_length",
                             values={"f1_av": "AV inference", "f1_a": "A-only inference"},
                             title=f"COGMEN-Mask, {g} granularity: test weighted F1")
    nb.save(fig, f"masking_grid_{g}")

# %% [markdown]
# ## 3. Sliders
#
# Move a scenario slider and the other three share the change in proportion to their values, so
# that the four still sum to one; press the button to train COGMEN-Mask with those values. Its
# test weighted F1 with audio + video, audio only and video only appears below the button, above
# a table of every setting tried so far. (A headless run shows a one-line note here, and the run
# with the parameters' values in the next cell.)

# %%
controls = MaskingControls(
    on_run=ops.slider_runner(nb, data), render=ops.plot_slider_result,
    p_none=nb.p_none, p_full_a=nb.p_full_a, p_full_v=nb.p_full_v, p_random=nb.p_random,
    start_prob=nb.start_prob, mask_length=nb.mask_length, granularity=nb.granularity)
display(controls)
result = controls.run()  # one run with the parameters' values; every click adds one to the history

# %%
nb.save(ops.plot_slider_result(result), "masking_sliders")
controls.history_frame()
