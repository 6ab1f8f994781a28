"""The config base: keyword-only, validated, coerced, JSON round trip, flat params."""

import dataclasses
import enum

import pytest

from emowb.config import Config, ConfigError, parse_assignments, require
from emowb.models.cogmen import InputMode
from emowb.train.masking import MaskGranularity, MaskingConfig
from emowb.train.run import RunConfig


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner(Config):
    rate: float = 0.1
    colour: Colour = Colour.RED


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outer(Config):
    steps: int = 3
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = Inner()
    maybe: Inner | None = None

    def validate(self):
        require(self.steps > 0, f"Outer.steps must be > 0, got {self.steps}")


def test_keyword_only_and_validation():
    with pytest.raises(TypeError):
        Outer(5)  # positional
    with pytest.raises(ConfigError, match="Outer.steps must be > 0"):
        Outer(steps=0)
    with pytest.raises(ConfigError, match=r"Inner.colour: 'green' is not one of"):
        Inner(colour="green")


def test_coercion_and_round_trip(tmp_path):
    o = Outer(steps="4", sizes=[3, 4], inner={"rate": "0.5", "colour": "blue"})
    assert o.steps == 4 and o.sizes == (3, 4) and o.inner == Inner(rate=0.5, colour=Colour.BLUE)
    d = o.to_dict()
    assert d["inner"]["colour"] == "blue" and d["sizes"] == [3, 4]
    assert Outer.from_dict(d) == o
    assert Outer.load(o.save(tmp_path / "c.json")) == o
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['stpes'\]"):
        Outer.from_dict({"stpes": 3})


def test_from_params_routes_flat_keys():
    o = Outer.from_params(steps=2, inner__rate=0.3, **{"inner.colour": "blue"})
    assert o.steps == 2 and o.inner.rate == 0.3 and o.inner.colour is Colour.BLUE
    assert Outer.from_params(inner__rate=0.7).inner.rate == 0.7
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        Outer.from_params(nope=1)
    base = Outer(steps=9)
    assert Outer.from_params(base, inner__rate=0.2).steps == 9
    with pytest.raises(ConfigError, match="ambiguous"):     # inner and maybe both have 'rate'
        Outer.from_params(rate=0.2)


def test_from_params_on_real_configs():
    cfg = RunConfig.from_params(corpus="/tmp/x", features={"a": "egemaps", "v": "openface-au"},
                                modalities="av", input="project", granularity="feature", epochs=7, seed=2)
    assert cfg.model.input is InputMode.PROJECT and cfg.train.epochs == 7 and cfg.train.seed == 2
    assert cfg.masking.granularity is MaskGranularity.FEATURE and cfg.masking.p_full == {"a": 0.3, "v": 0.3}
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"granularity: 'x' is not one of \['utterance', 'feature'\]"):
        RunConfig.from_params(granularity="x")


def test_ambiguous_key():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Two(Config):
        first: Inner = Inner()
        second: Inner = Inner()

    with pytest.raises(ConfigError, match="ambiguous"):
        Two.from_params(rate=0.2)
    assert Two.from_params(second__rate=0.2).second.rate == 0.2


def test_masking_config_in_run_config_is_validated():
    with pytest.raises(ConfigError, match="sum to 1"):
        RunConfig.from_params(p_none=0.5)
    assert RunConfig.from_params(masking=MaskingConfig.unimodal("a"), modalities="a").masking.p_full == {}


def test_parse_assignments_json_or_text_and_clear_errors():
    got = parse_assignments(["a=1", " b.c = [2, 3] ", "d=text", "e=a=b", "f=true"], flag="--set")
    assert got == {"a": 1, "b.c": [2, 3], "d": "text", "e": "a=b", "f": True}
    assert parse_assignments(["num-workers=2"], flag="-o", dashes_to_underscores=True) == {"num_workers": 2}
    assert parse_assignments(None, flag="-p") == {}
    with pytest.raises(SystemExit, match="-p expects KEY=VALUE, got 'oops'"):
        parse_assignments(["oops"], flag="-p")
