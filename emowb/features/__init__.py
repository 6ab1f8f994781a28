"""Feature extraction (openSMILE, SSL speech encoders, text encoders, OpenFace AUs, log-mel) with a cache.

``extract(corpus, name, **params)`` returns the cached feature set or extracts and stores it;
``load_features(corpus, name)`` reads a stored one. Names and shapes: :mod:`emowb.features.extract`.
The base types (:class:`FeatureSet`, :class:`Extractor`, the errors) are in
:mod:`emowb.features.base`; corpora imported with their own feature vectors (COGMEN's pickles) in
:mod:`emowb.features.imported`.
"""

from emowb.features.base import ExtractionError, Extractor, FeatureError, FeatureSet
from emowb.features.extract import FEATURE_SETS, extract, is_cached, make_extractor
from emowb.features.store import list_features, load_features

__all__ = ["ExtractionError", "Extractor", "FeatureError", "FeatureSet", "FEATURE_SETS", "extract", "is_cached",
           "make_extractor", "list_features", "load_features"]
