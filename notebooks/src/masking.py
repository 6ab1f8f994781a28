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
paper_table = True
disjoint = True
grid_start_prob = [0.1, 0.2, 0.4]
grid_mask_length = [1, 3]
grid_granularity = ["utterance", "feature"]
p_none = 0.1
p_full_a = 0.3
p_full_v = 0.3
p_random = 0.3
start_prob = 0.2
mask_length = 1
granularity = "utterance"

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
# Move a scenario slider and the other three rescale so that the four still sum to one; press the
# button to train COGMEN-Mask with those values and see its AV and A-only F1.

# %%
controls = MaskingControls(
    on_run=ops.slider_runner(nb, data), render=lambda r: nb.save(ops.plot_slider_result(r), "masking_sliders"),
    p_none=nb.p_none, p_full_a=nb.p_full_a, p_full_v=nb.p_full_v, p_random=nb.p_random,
    start_prob=nb.start_prob, mask_length=nb.mask_length, granularity=nb.granularity)
display(controls.box)
result = controls.run()  # headless: one run with the parameters' values; interactive: press the button
result
