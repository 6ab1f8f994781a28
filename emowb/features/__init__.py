"""Feature extraction (openSMILE, SSL speech encoders, text encoders, OpenFace AUs) with a cache.

``extract(corpus, name, **params)`` returns the cached feature set or extracts and stores it;
``load_features(corpus, name)`` reads a stored one. Names and shapes: :mod:`emowb.features.extract`.
"""

from emowb.features.base import FeatureError, FeatureSet  # noqa: F401
from emowb.features.common import ExtractionError  # noqa: F401
from emowb.features.extract import FEATURE_SETS, extract, is_cached, make_extractor  # noqa: F401
from emowb.features.store import list_features, load_features  # noqa: F401
