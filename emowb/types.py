"""Enums for the fixed choices that run through the whole workbench."""

from __future__ import annotations

import enum


class Modality(str, enum.Enum):
    """An input modality. The value is the one-letter code COGMEN uses (``"atv"``)."""

    AUDIO = "a"
    VIDEO = "v"
    TEXT = "t"

    @classmethod
    def parse(cls, spec: "str | Modality | tuple | list") -> tuple["Modality", ...]:
        """Parse ``"av"``, ``"a"``, ``["audio", "video"]`` ... into an ordered, unique tuple.

        The order is always audio, video, text (the order features are concatenated in).

        Raises:
            ValueError: on an unknown code or an empty specification.
        """
        if isinstance(spec, Modality):
            items = [spec]
        elif isinstance(spec, str):
            items = list(spec) if all(c in "atv" for c in spec) and spec else [spec]
        else:
            items = list(spec)
        out = set()
        for item in items:
            if isinstance(item, Modality):
                out.add(item)
                continue
            key = str(item).strip().lower()
            by_name = {m.name.lower(): m for m in cls} | {"speech": cls.AUDIO, "face": cls.VIDEO,
                                                         "visual": cls.VIDEO}
            if key in {m.value for m in cls}:
                out.add(cls(key))
            elif key in by_name:
                out.add(by_name[key])
            else:
                raise ValueError(f"unknown modality {item!r}: use a subset of 'atv' "
                                 "(a=audio, t=text, v=video)")
        if not out:
            raise ValueError("empty modality specification")
        return tuple(m for m in cls if m in out)

    @staticmethod
    def code(mods: "tuple[Modality, ...] | list[Modality]") -> str:
        """``(AUDIO, VIDEO) -> "av"``."""
        return "".join(m.value for m in Modality.parse(tuple(mods)))


class Protocol(str, enum.Enum):
    """Evaluation protocols. All of them are speaker-independent (see ``emowb.data.splits``)."""

    FIXED = "fixed"                     # COGMEN style: held-out test groups, dev = share of train dialogues
    LEAVE_ONE_GROUP_OUT = "logo"        # leave-one-session-out on IEMOCAP-like corpora
    LEAVE_ONE_SPEAKER_OUT = "loso"      # leave-one-speaker-out
    GROUP_KFOLD = "kfold"               # size-balanced grouped k-fold over groups (sessions/actors)
    STRATIFIED_GROUP_KFOLD = "stratified-kfold"   # StratifiedGroupKFold (shuffled, seeded)
