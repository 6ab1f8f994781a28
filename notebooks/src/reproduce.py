# %% [markdown]
# # The papers' tables, our numbers beside the published ones
#
# Reads the result folders the training notebooks wrote (masking, kd, emodistill) and lays them
# out in the shape of the papers' tables. Published numbers are IEMOCAP-4; ours are on whatever
# corpus the experiments ran on — the embedded synthetic corpus by default, IEMOCAP when you point
# the notebooks' `corpus` at an import of it (or COGMEN's `IEMOCAP_features_4.pkl`). Compare the
# shape of the findings, not the values.

# %% tags=["parameters"]
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
masking_dir: str = ''  # a masking-table folder ('': the latest)
kd_dir: str = ''  # a triplet-KD output folder ('': the latest)
emodistill_dir: str = ''  # an EmoDistill output folder ('': the latest)

# %%
from IPython.display import Markdown, display

from emowb.eval import reproduce
from emowb.eval.summary import to_markdown
from emowb.notebook import ReproduceNotebook, ops

nb = ReproduceNotebook.from_namespace(globals())
report = ["# Reproduction report\n"]


def show(title, frame):
    display(Markdown(f"### {title}"))
    display(frame)
    report.append(f"## {title}\n\n{to_markdown(frame)}\n")


# %% [markdown]
# ## Paper 1, Tables 2 and 3: masked training (test weighted F1)

# %%
try:
    for title, frame in reproduce.masking_tables(ops.find(nb, nb.masking_dir, "masking")).items():
        show(f"Paper 1, {title}", frame)
except FileNotFoundError as e:
    print(e)

# %% [markdown]
# ## Paper 1, Table 1: triplet knowledge distillation (test weighted F1)

# %%
try:
    show("Paper 1, Table 1 (triplet KD)", reproduce.kd_table(ops.find(nb, nb.kd_dir, "kd")))
except FileNotFoundError as e:
    print(e)

# %% [markdown]
# ## Paper 2: EmoDistill ablations (test WA / UA, %)

# %%
try:
    show("Paper 2, ablations", reproduce.emodistill_table(ops.find(nb, nb.emodistill_dir, "emodistill")))
except FileNotFoundError as e:
    print(e)

# %%
path = nb.out("reproduce") / "report.md"
path.write_text("\n".join(report))
print(f"wrote {nb.relative(path)}")
