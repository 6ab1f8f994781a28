"""Feature extraction (openSMILE, SSL speech encoders, text encoders, OpenFace AUs) with a cache."""

from emowb.features.base import FeatureError, FeatureSet  # noqa: F401
