"""Corpora: the canonical format, the synthetic generator, importers and splits."""

from emowb.data.corpus import IEMOCAP4, Corpus, CorpusError, CorpusInfo, make_table
from emowb.data.splits import Split, SplitError, check_independent, make_splits

__all__ = ["IEMOCAP4", "Corpus", "CorpusError", "CorpusInfo", "make_table", "Split", "SplitError",
           "check_independent", "make_splits"]
