"""ipywidgets controls: the masking probabilities (``masking.ipynb``) and a run picker
(``confusion.ipynb``).

:class:`MaskingControls`: the four scenario probabilities, start probability, mask length and
granularity, and a button that trains COGMEN-Mask with them. The scenario sliders always sum to
one: moving one shares the change among the other three in proportion to their values (equally
when they are all zero), computed from exact values so that many small moves do not drift, shown
to 0.001. Each click's result — the figure ``render`` returns and the run's numbers — appears in
the widget's output area, above a table of every setting tried so far.

:class:`RunPicker`: two dropdowns over a table of runs and a button that redraws a comparison of
the two chosen runs.

In a headless run (papermill) a control shows a one-line note instead of a widget repr; its
results are displayed by the notebook's next cells.
"""

from __future__ import annotations

from typing import Callable, Sequence

SCENARIOS = ("p_none", "p_full_a", "p_full_v", "p_random")
_DESCRIPTIONS = {"p_none": "no mask", "p_full_a": "audio off", "p_full_v": "video off",
                 "p_random": "random"}
#: Scenario probabilities are shown and returned to this many decimals.
DECIMALS = 3


def rebalance(values: dict[str, float], changed: str) -> dict[str, float]:
    """Keep ``values[changed]`` and share ``1 - values[changed]`` among the others in proportion
    to their values (equally when they are all zero). Exact: no rounding (see :func:`rounded`)."""
    keep = min(max(float(values[changed]), 0.0), 1.0)
    others = [k for k in values if k != changed]
    rest = sum(max(float(values[k]), 0.0) for k in others)
    out = {changed: keep}
    for k in others:
        share = max(float(values[k]), 0.0) / rest if rest > 0 else 1 / len(others)
        out[k] = (1 - keep) * share
    return out


def rounded(values: dict[str, float], fixed: str | None = None) -> dict[str, float]:
    """``values`` to :data:`DECIMALS` decimals, summing to exactly 1 at that precision: the
    rounding residue (at most a few thousandths) goes to the largest value other than ``fixed``."""
    scale = 10 ** DECIMALS
    ints = {k: round(v * scale) for k, v in values.items()}
    residue = scale - sum(ints.values())
    if residue:
        cand = [k for k in ints if k != fixed] or list(ints)
        big = max(cand, key=lambda k: ints[k])
        ints[big] += residue
    return {k: v / scale for k, v in ints.items()}


class _Control:
    """Display: the widget in a live front end, a one-line note as plain text elsewhere."""

    note = "interactive control"

    def _repr_mimebundle_(self, **kwargs):
        data = self.box._repr_mimebundle_(**kwargs)
        if isinstance(data, tuple):
            data = data[0]
        data = dict(data or {})
        data["text/plain"] = f"[{self.note}: open the notebook in JupyterLab to use it]"
        return data


class MaskingControls(_Control):
    """Sliders + button (see the module docstring).

    Args:
        on_run: ``values -> result``, called on a click (and by :meth:`run`).
        render: ``result -> matplotlib figure`` (or None) shown in the output area.
        p_none, p_full_a, p_full_v, p_random, start_prob, mask_length, granularity: initial values.

    Attributes:
        sliders: name -> FloatSlider for the four scenario probabilities.
        start_prob, mask_length, granularity: the random-mask widgets.
        button: the run button; ``output``: an ``ipywidgets.Output``; ``status``: its label.
        history: one dict per run: the settings and the result's numbers.
        last_result: what the last run returned.
    """

    note = "masking sliders and a train & evaluate button"

    def __init__(self, *, on_run: Callable[[dict], object], render: Callable[[object], object] | None = None,
                 p_none: float = 0.1, p_full_a: float = 0.3, p_full_v: float = 0.3, p_random: float = 0.3,
                 start_prob: float = 0.2, mask_length: int = 1, granularity: str = "utterance") -> None:
        import ipywidgets as w

        init = dict(p_none=p_none, p_full_a=p_full_a, p_full_v=p_full_v, p_random=p_random)
        if abs(sum(init.values()) - 1) > 1e-6:
            raise ValueError(f"scenario probabilities must sum to 1, got {init}")
        self._on_run, self._render = on_run, render
        self._updating = False
        self._exact = {k: float(v) for k, v in init.items()}
        fmt = f".{DECIMALS}f"
        self.sliders = {k: w.FloatSlider(value=v, min=0, max=1, step=10 ** -DECIMALS, readout_format=fmt,
                                         description=_DESCRIPTIONS[k], continuous_update=False)
                        for k, v in init.items()}
        for k, s in self.sliders.items():
            s.observe(lambda change, k=k: self._balance(k, change["new"]), names="value")
        self.start_prob = w.FloatSlider(value=start_prob, min=0, max=1, step=0.05, description="start prob")
        self.mask_length = w.IntSlider(value=mask_length, min=1, max=10, description="mask length")
        self.granularity = w.Dropdown(options=["utterance", "feature"], value=granularity,
                                      description="granularity")
        self.button = w.Button(description="train & evaluate", button_style="primary")
        self.output = w.Output()
        self.status = w.HTML("")
        self.history: list[dict] = []
        self.last_result = None
        self.button.on_click(lambda _: self._click())
        self.box = w.VBox([w.HBox([w.VBox(list(self.sliders.values())),
                                   w.VBox([self.start_prob, self.mask_length, self.granularity])]),
                           w.HBox([self.button, self.status]), self.output])

    def _balance(self, changed: str, new: float) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._exact = rebalance({**self._exact, changed: float(new)}, changed)
            shown = rounded(self._exact, fixed=changed)
            for k, v in shown.items():
                if k != changed:
                    self.sliders[k].value = v
        finally:
            self._updating = False

    @property
    def values(self) -> dict:
        """The current settings as flat parameters (what a notebook's parameters cell holds): the
        probabilities as shown (the moved slider exactly as set, the others rounded so that the
        four sum to 1)."""
        d = {k: round(float(s.value), DECIMALS) for k, s in self.sliders.items()}
        d.update(start_prob=self.start_prob.value, mask_length=self.mask_length.value,
                 granularity=self.granularity.value)
        return d

    def history_frame(self):
        """The settings tried so far and their results, one row per run (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def _click(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - a callback has no caller: show the error where the result goes
            import traceback

            with self.output:
                traceback.print_exc()

    def run(self):
        """What a click does: call ``on_run`` with :attr:`values`, keep the result, and show its
        figure and the history of runs in the output area."""
        self.status.value = "running ..."
        self.button.disabled = True
        try:
            values = self.values
            self.last_result = result = self._on_run(values)
            numbers = {k: v for k, v in (result.items() if isinstance(result, dict) else [])
                       if isinstance(v, (int, float))}
            self.history.append({**values, **numbers})
            self._show(result)
            self.status.value = f"done: run {len(self.history)}"
        except Exception as e:  # show the error next to the button, and re-raise for the log
            self.status.value = f"<b>error:</b> {e}"
            raise
        finally:
            self.button.disabled = False
        return self.last_result

    def _show(self, result) -> None:
        from IPython.display import display

        fig = self._render(result) if self._render is not None else None
        self.output.clear_output(wait=True)
        with self.output:
            if fig is not None:
                display(fig)
            display(self.history_frame().style.format(precision=3).hide(axis="index"))
        if fig is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)      # shown in the output area only (not again at the cell's end)


class RunPicker(_Control):
    """Choose two runs (rows of ``table``) and redraw ``draw(row_a, row_b)`` (a figure).

    Args:
        table: one row per run; ``label`` is the column shown in the dropdowns.
        draw: ``(row_a, row_b) -> matplotlib figure``.
        first, second: initial row positions.
    """

    note = "run picker: two dropdowns and a compare button"

    def __init__(self, table, *, draw: Callable, label: str = "label", first: int = 0, second: int = 1) -> None:
        import ipywidgets as w

        if len(table) < 2:
            raise ValueError(f"RunPicker needs at least two runs to compare, got {len(table)}")
        self.table = table.reset_index(drop=True)
        self._draw = draw
        options = [(str(v), i) for i, v in enumerate(self.table[label])]
        self.a = w.Dropdown(options=options, value=first, description="run A", layout=w.Layout(width="45%"))
        self.b = w.Dropdown(options=options, value=second, description="run B", layout=w.Layout(width="45%"))
        self.button = w.Button(description="compare", button_style="primary")
        self.output = w.Output()
        self.button.on_click(lambda _: self.show())
        self.box = w.VBox([w.HBox([self.a, self.b]), self.button, self.output])

    def figure(self):
        return self._draw(self.table.iloc[self.a.value], self.table.iloc[self.b.value])

    def show(self) -> None:
        from IPython.display import display
        import matplotlib.pyplot as plt

        fig = self.figure()
        self.output.clear_output(wait=True)
        with self.output:
            display(fig)
        plt.close(fig)
