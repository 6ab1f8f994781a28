# %% [markdown]
# # Data inspection
#
# What is in a corpus: counts per label, speaker, session and dialogue; utterance durations;
# turn-taking; how labels follow each other within dialogues (emotional inertia when the same
# speaker goes on, reaction when the floor changes); what the voice and face features look like per
# emotion; a few utterances to listen to with their face-AU traces; and what each modality alone
# carries (linear probes, speaker-independent).
#
# By default it works on the embedded synthetic dyadic corpus (generated into the workspace if
# missing). Point `corpus` at any corpus folder (e.g. an IEMOCAP import) to inspect that instead.

# %% tags=["parameters"]
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
corpus: str = ''  # '': <workdir>/synth (generated if missing); a corpus folder; or a COGMEN pickle
dialogues: int = 30  # number of dialogues (spread round-robin over sessions). (generated synthetic corpus)
corpus_seed: int = 0  # the seed; same seed + same config -> byte-identical corpus. (generated synthetic corpus)
utterances: list[int] = [18, 32]  # (min, max) utterances per dialogue, uniform. (generated synthetic corpus)
device: str = 'auto'  # auto | cpu | cuda[:N]; amp: bf16 autocast on CUDA (never on CPU).
threads: int = 1  # torch CPU threads
examples: int = 2  # utterances per emotion to listen to
probe: bool = True  # run the linear modality probes
features: list[str] = ['egemaps', 'openface-au', 'minilm']  # feature sets to extract and probe

# %%
import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Audio, display

from emowb.features import load_features
from emowb.notebook import DataNotebook, ops
from emowb.viz import data as vd

nb = DataNotebook.from_namespace(globals())
data = ops.prepare(nb, nb.features)
print(data.report())

# %% [markdown]
# ## Counts and durations

# %%
fig = vd.plot_counts(data)
nb.save(fig, "data_counts")

# %% [markdown]
# ## Dialogues: turn-taking and label transitions
#
# The diagonal of the left matrix is emotional inertia: how often a speaker's next utterance keeps
# the label of their previous one. The right matrix is what follows when the other speaker takes
# the floor.

# %%
fig = vd.plot_dialogue_structure(data)
nb.save(fig, "data_dialogues")

# %% [markdown]
# ## Features per emotion
#
# Voice (eGeMAPS functionals) separates arousal: F0 and loudness rise in anger and joy and fall in
# sadness. Face (OpenFace AU statistics) separates valence: the smile (AU12) marks joy, the brow
# lowerer (AU04) anger and sadness.

# %%
sets = {name: load_features(data, name) for name in nb.features if name in ("egemaps", "openface-au")}
columns = {"egemaps": ["F0semitoneFrom27.5Hz_sma3nz_amean", "loudness_sma3_amean"],
           "openface-au": ["AU12_r_mean", "AU04_r_mean"]}
fig = vd.plot_feature_distributions(data, sets, {k: v for k, v in columns.items() if k in sets})
nb.save(fig, "data_features")

# %% [markdown]
# ## Listen and look
#
# A few utterances per emotion, with the face's action-unit traces (grey: frames where no face was
# tracked).

# %%
t = data.table
shown = 0
for label in data.labels:
    rows = t.index[(t["label"] == label) & (t["audio"] != "")][: nb.examples]
    for i in rows:
        print(f"{t['utt_id'][i]} [{label}] {t['speaker'][i]}: {t['text'][i]}")
        display(Audio(filename=str(data.path("audio", i))))
        if data.path("face", i) is not None and shown == 0:
            fig = vd.plot_face_trace(data, t["utt_id"][i])
            nb.save(fig, "data_face_trace")
            shown += 1

# %% [markdown]
# ## What each modality carries
#
# A standardised logistic regression per modality, scored speaker-independently (leave one
# session out; C chosen by an inner grouped cross-validation). Utterances whose face was never
# tracked count as errors for the face rows.

# %%
if nb.probe:
    from emowb.eval.linear import modality_table

    names = {"voice": "egemaps", "face": "openface-au", "text": "minilm"}
    rows = {k: load_features(data, v) for k, v in names.items() if v in nb.features}
    if len(rows) > 1:
        rows["all"] = list(rows.values())
    probe_table, confusions = modality_table(data, rows, protocol="logo")
    probe_table.to_csv(nb.out("data") / "modality_probe.csv", index=False)
    display(probe_table[["modality", "dim", "invalid", "UA", "weighted_f1"]])
