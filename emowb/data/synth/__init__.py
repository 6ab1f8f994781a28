"""The embedded synthetic dyadic corpus: real (synthesised) speech, OpenFace-style faces, text.

>>> from emowb.data.synth import SynthConfig, generate
>>> corpus = generate("data/synth", SynthConfig(dialogues=50, seed=0))   # doctest: +SKIP
"""

from emowb.data.synth.generate import generate
from emowb.data.synth.params import SynthConfig

__all__ = ["SynthConfig", "generate"]
