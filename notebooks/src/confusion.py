# %% [markdown]
# # Confusion matrices side by side
#
# Two saved runs at a time: row-normalised confusion matrices with counts, their difference, and
# F1 per class. The pairs are the papers' figures: the teacher (AV) against the triplet-KD student
# (A only), the student without and with KD, and COGMEN-A against COGMEN-Mask, both on audio only.

# %% tags=["parameters"]
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
kd_dir: str = ''  # a triplet-KD output folder ('': the latest)
masking_dir: str = ''  # a masking-table folder ('': the latest)
split: str = 'test'  # train | dev | test

# %%
from IPython.display import Markdown, display

from emowb.notebook import ConfusionNotebook, ops
from emowb.viz.confusion import compare_confusions
from emowb.viz.runs import read_run
from emowb.viz.widgets import RunPicker

nb = ConfusionNotebook.from_namespace(globals())
pairs = ops.confusion_pairs(nb)
print(f"{len(pairs)} comparison(s)")

# %%
for pair in pairs:
    a, b = read_run(pair["a"]), read_run(pair["b"])
    fig, f1 = compare_confusions(a.preds(split=nb.split, context=pair["ctx_a"]),
                                 b.preds(split=nb.split, context=pair["ctx_b"]),
                                 labels=a.labels, names=pair["names"])
    nb.save(fig, pair["name"])
    display(f1.round(3))
    display(Markdown(ops.confusion_interpretation(a, b, pair["names"], split=nb.split, ctx_a=pair["ctx_a"],
                                                  ctx_b=pair["ctx_b"])))

# %% [markdown]
# ## Compare any two runs
#
# Pick two of the runs above and press "compare" (JupyterLab; a headless run shows a note).

# %%
candidates = ops.candidate_runs(pairs)
if len(candidates) >= 2:
    picker = RunPicker(candidates, draw=ops.compare_picked(nb.split))
    display(picker)
