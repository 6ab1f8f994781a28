"""One schema: settings declared once, unknown keys refused everywhere, one identity."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emowb.config import Config, ConfigError, identity, setting
from emowb.models.cogmen import CogmenConfig
from emowb.notebook.params import (NOTEBOOK_CONFIGS, KDNotebook, check_namespace, generated_parameters)
from emowb.notebook.presets import PRESETS, preset_values
from emowb.notebook.runner import check_overrides, parameters_for
from emowb.train.run import DataConfig, RunConfig
from emowb.train.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Inner(Config):
    alpha: float = setting(1.0, help="the weight")
    progress: bool = setting(True, help="a bar", changes_results=False)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Outer(Config):
    inner: _Inner = setting(default_factory=_Inner, help="nested")
    seed: int = 0


def test_setting_metadata_and_runtime_fields():
    assert _Inner.runtime_fields() == ("progress",)
    assert _Inner.help_for("alpha") == "the weight"
    schema = {e["name"]: e for e in _Inner.schema()}
    assert schema["alpha"]["default"] == 1.0 and schema["alpha"]["type"] == "float"
    assert schema["progress"]["changes_results"] is False
    # runtime-only fields do not change the identity; result-changing ones do
    a, b = _Outer(), _Outer.from_params(progress=False)
    assert a != b and identity(a) == identity(b)
    assert identity(a) != identity(_Outer.from_params(alpha=2.0))
    assert identity(a, corpus_fingerprint="x") != identity(a, corpus_fingerprint="y")


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'alpah'.*did you mean 'alpha'"):
        _Outer.from_params(alpah=1)
    with pytest.raises(ConfigError, match="did you mean 'seq_ff'"):
        RunConfig.from_params(seq_f=64)
    with pytest.raises(ConfigError, match="did you mean"):
        TrainConfig.from_dict({"lr": 1e-3, "epoch": 3})


def test_corpus_path_is_not_part_of_the_identity(tmp_path):
    rel = DataConfig(corpus="out/demo/synth", features={"a": "egemaps"})
    absolute = DataConfig(corpus=str((ROOT / "out/demo/synth").resolve()), features={"a": "egemaps"})
    assert identity(rel, corpus_fingerprint="f") == identity(absolute, corpus_fingerprint="f")
    assert identity(rel, corpus_fingerprint="f") != identity(rel.replace(per_speaker=False), corpus_fingerprint="f")


def test_notebook_aliases_take_the_package_defaults():
    """A notebook parameter that is a package setting is declared there only."""
    fields = {f.name: f for f in dataclasses.fields(KDNotebook)}
    assert fields["seq_ff"].default == CogmenConfig().seq_ff
    assert fields["lr"].default == TrainConfig().lr
    assert fields["per_speaker"].default == DataConfig().per_speaker
    assert fields["seq_ff"].metadata["source"] == "CogmenConfig.seq_ff"
    for cls in NOTEBOOK_CONFIGS.values():
        for entry in cls.schema():
            assert entry["help"], f"{cls.__name__}.{entry['name']} has no help text"


@pytest.mark.parametrize("name", sorted(NOTEBOOK_CONFIGS))
def test_parameters_cells_are_generated_from_the_schema(name):
    src = (ROOT / "notebooks" / "src" / f"{name}.py").read_text()
    m = re.search(r'# %% tags=\["parameters"\]\n(.*?)\n\n# %%', src, re.S)
    assert m, f"notebooks/src/{name}.py has no parameters cell"
    assert m.group(1) == generated_parameters(name), (
        f"notebooks/src/{name}.py: parameters cell differs from the schema; regenerate with "
        "`python -m emowb.notebook.build`")
    ns: dict = {}
    exec(m.group(1), ns)
    cfg = NOTEBOOK_CONFIGS[name].from_namespace({k: v for k, v in ns.items() if k != "__builtins__"})
    assert isinstance(cfg, NOTEBOOK_CONFIGS[name])


@pytest.mark.parametrize("size", sorted(PRESETS))
def test_presets_hold_only_differences(size):
    for name, cls in NOTEBOOK_CONFIGS.items():
        defaults = {e["name"]: e["default"] for e in cls.schema()}
        own = dict(PRESETS[size].get(name, {}))
        for key, value in own.items():
            assert key in defaults, f"preset {size}/{name}: unknown parameter {key}"
        if size == "demo":  # the base preset: every entry must differ from the schema
            for key, value in own.items():
                d = defaults[key]
                assert (list(d) if isinstance(d, tuple) else d) != value, (
                    f"demo preset repeats the default of {name}.{key}")
        parameters_for(name, size=size, workdir=Path("w"), figures_dir=Path("f"))


def test_namespace_check_names_the_misspelt_parameter():
    ns = {k: v for k, v in preset_values("demo", "kd").items()}
    with pytest.raises(ConfigError, match=r"unknown parameter 'alpah' \(did you mean 'alpha'\?\)"):
        check_namespace(KDNotebook, {**ns, "alpah": 1, "display": print, "re": re})
    check_namespace(KDNotebook, {**ns, "display": print, "re": re, "_": None, "In": []})


def test_notebooks_override_must_exist():
    with pytest.raises(ConfigError, match=r"devce.*did you mean 'device'"):
        check_overrides(["data", "kd"], {"devce": "cuda"})
    check_overrides(["data", "kd"], {"device": "cpu", "alpha": 0.5})
    with pytest.raises(ConfigError):  # a value that does not validate fails before any notebook runs
        parameters_for("kd", size="tiny", workdir=Path("w"), figures_dir=Path("f"), overrides={"threads": 0})


def test_cli_notebooks_rejects_unknown_parameter():
    r = subprocess.run([sys.executable, "-m", "emowb", "notebooks", "--size", "tiny", "--out", "/nonexistent/x",
                        "-p", "devce=cuda"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0
    assert "did you mean 'device'" in (r.stderr + r.stdout)
    assert "Traceback" not in r.stderr


def test_papermill_unknown_parameter_fails_in_a_real_kernel(tmp_path):
    """``papermill notebooks/kd.ipynb out.ipynb -p alpah 1`` stops at the config cell, naming alpha."""
    pm = Path(sys.executable).with_name("papermill")
    r = subprocess.run([str(pm), "notebooks/kd.ipynb", str(tmp_path / "out.ipynb"), "-p", "alpah", "1",
                        "-p", "workdir", str(tmp_path / "w")], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode != 0
    assert "did you mean 'alpha'" in r.stderr + r.stdout
    assert not (tmp_path / "w" / "synth").exists()  # it failed before doing any work


def test_papermill_help_documents_typed_parameters():
    pm = Path(sys.executable).with_name("papermill")
    r = subprocess.run([str(pm), "--help-notebook", "notebooks/kd.ipynb"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"alpha: float \(default 1\.0\)\s+weight of the triplet term", r.stdout), r.stdout
    assert re.search(r"seq_ff: int \(default 512\)", r.stdout), r.stdout


def test_cli_and_notebooks_share_one_configuration(tmp_path, capsys):
    """kd.ipynb run by ``emowb notebooks`` and ``emowb kd triplet`` with the same parameters (the
    corpus named by another path) land in one folder: the CLI trains nothing again."""
    from emowb.cli import main
    from emowb.notebook.runner import run_notebooks

    work = tmp_path / "w"
    run_notebooks(work, size="tiny", only=["kd"], log=None)
    (folder,) = (work / "kd").iterdir()
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("metrics.json")}
    assert len(stamps) >= 3                                       # teacher, KD student, student
    corpus = Path("..") / ".." / work.relative_to(work.anchor) / "synth"   # a different spelling
    assert main(["kd", "triplet", str(work.anchor / corpus), "--workdir", str(work), "--size", "tiny"]) == 0
    assert f"results in {folder}" in capsys.readouterr().out
    assert sorted((work / "kd").iterdir()) == [folder]
    assert {p: p.stat().st_mtime_ns for p in work.rglob("metrics.json")} == stamps
    # a parameter that changes results gets its own folder
    assert main(["kd", "triplet", str(work / "synth"), "--workdir", str(work), "--size", "tiny",
                 "--alpha", "0.5"]) == 0
    assert len(list((work / "kd").iterdir())) == 2
    capsys.readouterr()
    assert main(["kd", "triplet", str(work / "synth"), "--workdir", str(work), "--set", "alpah=1"]) == 2
    err = capsys.readouterr().err
    assert "alpah" in err and "did you mean 'alpha'" in err and "Traceback" not in err
