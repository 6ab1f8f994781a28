"""ipywidgets controls for masked training: the four scenario probabilities, start probability,
mask length and granularity, plus a button that runs a callback and shows its result.

The scenario sliders are kept summing to one: moving one rescales the others in proportion
(or shares the remainder equally when they are all zero). Headless runs never build these
widgets; notebooks take the same values from their ``parameters`` cell.
"""

from __future__ import annotations

from typing import Callable

SCENARIOS = ("p_none", "p_full_a", "p_full_v", "p_random")
_DESCRIPTIONS = {"p_none": "no mask", "p_full_a": "audio off", "p_full_v": "video off",
                 "p_random": "random"}


def rebalance(values: dict[str, float], changed: str) -> dict[str, float]:
    """Keep ``values[changed]`` and rescale the others so that all sum to 1 (rounded to 0.01)."""
    keep = min(max(float(values[changed]), 0.0), 1.0)
    others = [k for k in values if k != changed]
    rest = sum(max(values[k], 0.0) for k in others)
    out = {changed: keep}
    for k in others:
        share = values[k] / rest if rest > 0 else 1 / len(others)
        out[k] = round((1 - keep) * share, 2)
    # put the rounding residue on the largest other so the sum is exactly 1
    residue = round(1 - sum(out.values()), 2)
    if residue and others:
        big = max(others, key=lambda k: out[k])
        out[big] = round(out[big] + residue, 2)
    return out


class MaskingControls:
    """Sliders + button. ``on_run(values) -> result`` is called on click; ``render(result)``
    (optional) draws it into the output area.

    Attributes:
        sliders: name -> FloatSlider for the four scenario probabilities.
        start_prob, mask_length, granularity: the random-mask widgets.
        button: the run button; ``output``: an ``ipywidgets.Output``.
        last_result: what the last click returned.
    """

    def __init__(self, *, on_run: Callable[[dict], object], render: Callable[[object], None] | None = None,
                 p_none: float = 0.1, p_full_a: float = 0.3, p_full_v: float = 0.3, p_random: float = 0.3,
                 start_prob: float = 0.2, mask_length: int = 1, granularity: str = "utterance") -> None:
        import ipywidgets as w

        init = dict(p_none=p_none, p_full_a=p_full_a, p_full_v=p_full_v, p_random=p_random)
        if abs(sum(init.values()) - 1) > 1e-6:
            raise ValueError(f"scenario probabilities must sum to 1, got {init}")
        self._on_run, self._render = on_run, render
        self._updating = False
        self.sliders = {k: w.FloatSlider(value=v, min=0, max=1, step=0.01, description=_DESCRIPTIONS[k],
                                         continuous_update=False) for k, v in init.items()}
        for k, s in self.sliders.items():
            s.observe(lambda change, k=k: self._balance(k), names="value")
        self.start_prob = w.FloatSlider(value=start_prob, min=0, max=1, step=0.05, description="start prob")
        self.mask_length = w.IntSlider(value=mask_length, min=1, max=10, description="mask length")
        self.granularity = w.Dropdown(options=["utterance", "feature"], value=granularity,
                                      description="granularity")
        self.button = w.Button(description="train & evaluate", button_style="primary")
        self.output = w.Output()
        self.status = w.HTML("")
        self.last_result = None
        self.button.on_click(lambda _: self.run())
        self.box = w.VBox([w.HBox([w.VBox(list(self.sliders.values())),
                                   w.VBox([self.start_prob, self.mask_length, self.granularity])]),
                           w.HBox([self.button, self.status]), self.output])

    def _balance(self, changed: str) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            new = rebalance({k: s.value for k, s in self.sliders.items()}, changed)
            for k, v in new.items():
                self.sliders[k].value = v
        finally:
            self._updating = False

    @property
    def values(self) -> dict:
        """The current settings as flat parameters (what a notebook's parameters cell holds)."""
        d = {k: round(s.value, 2) for k, s in self.sliders.items()}
        d.update(start_prob=self.start_prob.value, mask_length=self.mask_length.value,
                 granularity=self.granularity.value)
        return d

    def run(self):
        """What a click does: call ``on_run`` with :attr:`values`, keep and render the result."""
        self.status.value = "running ..."
        self.button.disabled = True
        try:
            self.last_result = self._on_run(self.values)
            if self._render is not None:
                self.output.clear_output(wait=True)
                with self.output:
                    self._render(self.last_result)
            self.status.value = "done"
        except Exception as e:  # show the error next to the button, and re-raise for the log
            self.status.value = f"<b>error:</b> {e}"
            raise
        finally:
            self.button.disabled = False
        return self.last_result

    def _ipython_display_(self):  # pragma: no cover - only in a live front end
        from IPython.display import display

        display(self.box)
