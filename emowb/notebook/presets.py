"""Notebook sizes: presets that hold only differences from the package's schema defaults.

``demo`` is what the committed notebooks' ``parameters`` cells show (they are generated from the
schema plus this preset, :func:`emowb.notebook.params.parameters_source`); ``tiny`` (the test
suite: seconds per notebook) and ``paper`` (the papers' protocols: hours on a CPU) are
differences on top of ``demo``. ``"*"`` applies to every notebook that trains.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "SIZES", "preset_values"]

# CPU-sized COGMEN for one fold and seed (the SeqContext feed-forward is 512 wide, not 2048). A
# fifth of the training dialogues (6 of 30, ~150 utterances) is the early-stopping dev set: with
# the default tenth (3 dialogues) dev F1 saturates within 2-3 epochs and selects nothing.
_COGMEN_DEMO = dict(seeds=[0], epochs=25, batch_size=16, patience=8, seq_ff=512, dev_share=0.2)
_SMALL_MODEL = dict(hidden_size=16, seq_ff=32, gnn_heads=2, epochs=2, batch_size=4, patience=2)

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {
        "*": dict(dialogues=30),
        "train": _COGMEN_DEMO,
        "masking": _COGMEN_DEMO,
        # the teacher's SeqContext (paper: 4); the default three seeds, so the KD effect has a spread
        "kd": {**{k: v for k, v in _COGMEN_DEMO.items() if k != "seeds"}, "seq_layers": 4},
        # the MLP student trains in about a second: the default three seeds and five temperatures
        "emodistill": dict(backbone="mlp", protocol="fixed", epochs=20, teacher_epochs=20,
                           prosodic_channels=[8, 16, 32, 64]),
    },
    "tiny": {
        "base": "demo",
        "*": dict(dialogues=5, utterances=[10, 12], threads=1),
        "data": dict(examples=1, probe=False),
        "train": _SMALL_MODEL,
        "masking": dict(_SMALL_MODEL, disjoint=False, grid_start_prob=[0.2], grid_mask_length=[1],
                        grid_granularity=["feature"]),
        "kd": dict(_SMALL_MODEL, seq_layers=1, student_seq_layers=1, student_gnn_heads=2, seeds=[0]),
        "emodistill": dict(epochs=2, teacher_epochs=2, taus=[1.0], seeds=[0]),
        "embeddings": dict(n_neighbors=5),
    },
    "paper": {
        "base": "demo",
        "*": dict(dialogues=50),
        "train": dict(seeds=[0, 1, 2], protocol="logo", epochs=50),
        "masking": dict(seeds=[0, 1, 2], protocol="logo", epochs=50),
        "kd": dict(seeds=[0, 1, 2], protocol="logo", epochs=50, table1=True),
        "emodistill": dict(seeds=[0, 1, 2], protocol="logo", epochs=40, teacher_epochs=40,
                           taus=[0.5, 1.0, 2.0, 4.0, 8.0]),
    },
}
SIZES = tuple(PRESETS)

#: Notebooks that read results and take no corpus or training parameters ("*" skips them).
_ANALYSIS = ("embeddings", "confusion", "reproduce")


def preset_values(size: str, notebook: str) -> dict[str, Any]:
    """The parameters ``size`` sets for ``notebook`` (its base preset's first)."""
    if size not in PRESETS:
        from emowb.config import ConfigError, suggest

        raise ConfigError(f"unknown size {size!r}{suggest(size, PRESETS)}: use one of {sorted(PRESETS)}")
    preset = PRESETS[size]
    out = preset_values(preset["base"], notebook) if "base" in preset else {}
    if notebook not in _ANALYSIS:
        out.update(preset.get("*", {}))
    out.update(preset.get(notebook, {}))
    return out
