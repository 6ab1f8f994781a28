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
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
corpus: str = ''  # '': <workdir>/synth (generated if missing); a corpus folder; or a COGMEN pickle
dialogues: int = 30  # number of dialogues (spread round-robin over sessions). (generated synthetic corpus)
corpus_seed: int = 0  # the seed; same seed + same config -> byte-identical corpus. (generated synthetic corpus)
utterances: list[int] = [18, 32]  # (min, max) utterances per dialogue, uniform. (generated synthetic corpus)
device: str = 'auto'  # auto | cpu | cuda[:N]; amp: bf16 autocast on CUDA (never on CPU).
threads: int = 1  # torch CPU threads
executor: str = 'local'  # where the runs train: local (one after the other, here), processes[:N] (N worker processes), ray[:ADDRESS] (a Ray cluster; a local one without ADDRESS)
backbone: str = 'mlp'  # Backbone. One of: cnn, mlp, ssl, ssl-pooled.
ssl_model: str = ''  # the encoder of backbone ssl: a local SSL folder, or a Whisper one (base / tiny.en bundled, or a folder). For ssl-pooled: the encoder of its cached features (empty means Whisper base)
ssl_features: str = 'whisper'  # pooled encoder student's input: whisper (bundled) or ssl (a local HuBERT / wav2vec2 / WavLM folder)
alpha: float = 1.0  # the three weights (poster eq. 5).
beta: float = 1.0  # the three weights (poster eq. 5).
gamma: float = 1.0  # the three weights (poster eq. 5).
tau_linguistic: float = 4.0  # per-teacher temperatures. Defaults follow the poster's finding: soft logits (high τ) for the strong linguistic teacher, hard (τ: 1) for the weak prosodic one.
tau_prosodic: float = 1.0  # per-teacher temperatures. Defaults follow the poster's finding: soft logits (high τ) for the strong linguistic teacher, hard (τ: 1) for the weak prosodic one.
taus: list[float] = [0.5, 1.0, 2.0, 4.0, 8.0]  # temperatures of the two sweeps
sweeps: bool = True  # run the two temperature sweeps
protocol: str = 'fixed'  # the speaker-independent protocol (make_splits; folds: fold-name suffixes to run).
folds: list[str] = []  # fold names to run (empty: all of the protocol)
seeds: list[int] = [0, 1, 2]  # student seeds.
epochs: int = 20  # the student's maximum epochs
teacher_epochs: int = 20  # the teachers' maximum epochs
prosodic_channels: list[int] = [8, 16, 32, 64]  # output channels of the residual blocks (the poster's "4-layer ResNet2D": four). (its stem uses the first)
per_speaker: bool = True  # z-score the audio inputs (the prosodic teacher's LLDs, the student's log-mel / functionals / pooled encoder states) per speaker with that speaker's own statistics first (label-free speaker normalisation, as DataConfig.per_speaker for COGMEN).

# %%
from IPython.display import Markdown, display

from emowb.eval.reproduce import sweep_frame
from emowb.viz.curves import plot_temperature_sweeps
from emowb.notebook import EmoDistillNotebook, ops

nb = EmoDistillNotebook.from_namespace(globals())
nb.use_threads()
data = ops.prepare(nb, ["egemaps", "egemaps-lld", "minilm"])
result = ops.run_emodistill(nb, data)

# %% [markdown]
# ## Ablations (student scored on speech only)

# %%
display(Markdown(result.ablation.table))

# %% [markdown]
# ## Temperature sweeps

# %%
sw = sweep_frame(result.ablation.out_dir)
if len(sw):
    ab = result.ablation.runs
    fig = plot_temperature_sweeps(sw, ab[ab["variant"].str.contains("no KD")], metric="UA")
    nb.save(fig, "emodistill_sweeps")
