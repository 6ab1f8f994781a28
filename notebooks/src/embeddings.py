# %% [markdown]
# # Teacher vs student embedding spaces
#
# The post-graph embeddings of the test utterances from a saved triplet-KD run: the frozen
# audio+video teacher (with all its modalities) and the audio-only student, with and without KD.
# One UMAP reducer is fitted on teacher and student points together, so positions are comparable:
# the triplet loss is meant to pull the student's embeddings into the teacher's space, and the
# last cell says, from the numbers, whether it did. Beside the pictures,
# numbers for how well the spaces agree: linear CKA (1 = same geometry up to rotation and
# scale), the share of shared nearest neighbours, and how well teacher points label the student's
# points in the common map.

# %% tags=["parameters"]
workdir: str = 'out/demo'  # the workspace: corpus, runs, results (relative to the repository root)
figures_dir: str = ''  # where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)
kd_dir: str = ''  # a triplet-KD output folder ('': the latest in the workspace)
fold: str = ''  # fold to show ('': the first)
seed: int = -1  # seed to show (-1: the first)
split: str = 'test'  # train | dev | test
n_neighbors: int = 15  # UMAP n_neighbors
min_dist: float = 0.1  # UMAP min_dist
align: str = 'none'  # none | procrustes | cca: align differing embedding widths

# %%
import pandas as pd
from IPython.display import display

from emowb.notebook import EmbeddingsNotebook, ops
from emowb.eval.interpret import embedding_agreement
from emowb.viz.embeddings import alignment_scores, joint_umap, plot_embedding_comparison

nb = EmbeddingsNotebook.from_namespace(globals())
runs = ops.embeddings_setup(nb)
{role: nb.relative(path) for role, path in runs.items()}

# %%
scores = {}
for role, title in (("student-kd", "KD student"), ("student", "student without KD")):
    if role not in runs:
        continue
    ids, teacher, student, y, labels = ops.paired_embeddings(runs["teacher"], runs[role], split=nb.split)
    align_mode = nb.align if teacher.shape[1] == student.shape[1] else "procrustes"
    t2, s2 = joint_umap(teacher, student, align=align_mode, n_neighbors=nb.n_neighbors, min_dist=nb.min_dist)
    scores[title] = alignment_scores(teacher, student, y, t2, s2)
    fig = plot_embedding_comparison(t2, s2, y, labels=labels, names=("teacher (AV)", title), scores=scores[title])
    nb.save(fig, "embeddings_teacher_vs_" + ("kd_student" if role == "student-kd" else "student_nokd"))
table = pd.DataFrame(scores).T.assign(utterances=len(ids))
table.to_csv(nb.out("embeddings") / "alignment.csv")
display(table)

# %% [markdown]
# ## Where the clouds sit
#
# Written from the scores above.

# %%
from IPython.display import Markdown

display(Markdown(embedding_agreement(scores)))
