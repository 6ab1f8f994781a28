# %% [markdown]
# # EmoDistill: prosodic and linguistic teachers → speech-only student
#
# The second paper's method. Two frozen teachers — a prosodic ResNet on eGeMAPS low-level
# descriptors and a linguistic teacher (a pre-trained sentence encoder with a head, on the
# transcript) — supervise a student that sees speech only, at the logit level (temperature KL, a
# temperature per teacher) and at the embedding level (1 − cosine between the student's projection
# heads and the teachers' embeddings):
#
# `L = alpha · L_logits + beta · L_embeddings + gamma · L_CE`.
#
# The ablation table drops each loss and each teacher; the sweeps vary each teacher's temperature
# with the other teacher removed. Teachers are trained once per fold and cached, so the sweeps do
# not re-run them. The light student (`mlp` on eGeMAPS functionals, or `cnn` on log-mel spectra)
# trains on a CPU; `ssl` uses a local HuBERT / wav2vec2 / WavLM folder (`ssl_model`).

# %% tags=["parameters"]
workdir = "out/demo"
figures_dir = "figures"
corpus = ""
dialogues = 30
corpus_seed = 0
utterances = [18, 32]
device = "auto"
threads = 1
backbone = "mlp"
ssl_model = ""
alpha = 1.0
beta = 1.0
gamma = 1.0
tau_linguistic = 4.0
tau_prosodic = 1.0
taus = [1.0, 4.0]
sweeps = True
protocol = "fixed"
folds = []
seeds = [0]
epochs = 20
teacher_epochs = 20
prosodic_channels = [8, 16, 32, 64]
per_speaker = True  # z-score each speaker's audio with their own statistics (label-free)

# %%
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display

from emowb.eval.reproduce import sweep_frame
from emowb.kd.emodistill import run_ablations
from emowb.notebook import EmoDistillNotebook, ops

nb = EmoDistillNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, ["egemaps", "egemaps-lld", "minilm"])
result = run_ablations(nb.config(data.root), nb.out_dir(data.root), taus=nb.taus, sweeps=nb.sweeps, corpus=data)

# %% [markdown]
# ## Ablations (student scored on speech only)

# %%
display(Markdown(result.ablation.table))

# %% [markdown]
# ## Temperature sweeps

# %%
sw = sweep_frame(result.ablation.out_dir)
if len(sw):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, (teacher, part) in zip(axes, sw.groupby("teacher")):
        sns.lineplot(data=part.melt(id_vars=["tau"], value_vars=["UA", "WA"], var_name="metric"),
                     x="tau", y="value", hue="metric", marker="o", errorbar="sd", ax=ax)
        ax.set(xscale="log", title=f"{teacher} teacher only: vary its temperature", ylabel="test score")
        ax.set_xticks(sorted(part["tau"].unique()), labels=[f"{t:g}" for t in sorted(part["tau"].unique())])
        ax.minorticks_off()
    fig.tight_layout()
    nb.save(fig, "emodistill_sweeps")
