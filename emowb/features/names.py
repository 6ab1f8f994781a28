"""Human-readable names of a feature set's dimensions (for plots and tables)."""

from __future__ import annotations

from emowb.features.base import FeatureSet


def feature_names(fs: FeatureSet) -> list[str]:
    """Names of ``fs``'s columns: openSMILE's own names, OpenFace AU statistics, or ``name[i]``."""
    cfg = fs.config
    ext = cfg.get("extractor")
    if ext == "OpenSmileExtractor":
        import opensmile

        level = {"functionals": opensmile.FeatureLevel.Functionals,
                 "lld": opensmile.FeatureLevel.LowLevelDescriptors}.get(cfg.get("level"),
                                                                       opensmile.FeatureLevel.Functionals)
        names = list(opensmile.Smile(feature_set=opensmile.FeatureSet[cfg["feature_set"]],
                                     feature_level=level).feature_names)
        if len(names) == fs.dim:
            return names
    if ext == "FaceExtractor":
        from emowb.features.face import feature_names as face_names

        names = face_names(aus_r=cfg["aus_r"], aus_c=cfg["aus_c"])
        if len(names) == fs.dim:
            return names
    return [f"{fs.name}[{i}]" for i in range(fs.dim)]
