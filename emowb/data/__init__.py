"""Corpora: the canonical format, the synthetic generator, importers, splits and batching."""

from emowb.data.corpus import IEMOCAP4, Corpus, CorpusError, CorpusInfo, make_table  # noqa: F401
from emowb.data.splits import Split, SplitError, check_independent, make_splits  # noqa: F401
