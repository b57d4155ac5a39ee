"""Config values (issue 11, finding 5): every wrong kind of value gives a ValueError naming the field and what is
allowed, numpy numbers are accepted, and assigning a field is checked too. Each test failed before the fix."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlhf_lite import agents, loop
from rlhf_lite import reward_model as rm
from rlhf_lite.config import Config

CONFIGS = [loop.RLHFConfig, agents.PPOConfig, rm.RewardModelConfig, agents.QLearningConfig]


def fields_of(kind: str):
    """(config class, field name) of every checked field of the given kind, across the package's configs."""
    out = []
    for cls in CONFIGS:
        for f in cls.__dataclass_fields__.values():
            declared = f.type if isinstance(f.type, str) else f.type.__name__
            if "help" in f.metadata and declared == kind and f.metadata.get("choices") is None:
                out.append((cls, f.name))
    return out


WHOLE = fields_of("int")
BOOLS = [
    (cls, f.name)
    for cls in CONFIGS
    for f in cls.__dataclass_fields__.values()
    if "help" in f.metadata and isinstance(f.default, bool)
]


def test_there_are_fields_of_each_kind():
    assert len(WHOLE) > 10 and len(BOOLS) >= 2 and len(fields_of("float")) > 5


@pytest.mark.parametrize("value", [math.inf, -math.inf])
@pytest.mark.parametrize("cls,name", WHOLE, ids=[f"{c.__name__}.{n}" for c, n in WHOLE])
def test_infinity_on_whole_number_fields_is_a_value_error_naming_the_field(cls, name, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}=-?inf .*expected"):
        cls(**{name: value})


@pytest.mark.parametrize("value", [123, None, 1.5, ["Pendulum-v1"]])
def test_env_id_of_the_wrong_type_names_the_field(value):
    with pytest.raises(ValueError, match=r"RLHFConfig\.env_id=.* is not allowed: expected a string"):
        loop.RLHFConfig(env_id=value)


def test_numpy_numbers_are_accepted_and_become_python_numbers():
    cfg = loop.RLHFConfig(
        label_budget=np.int64(20),
        noise_prob=np.float32(0.5),
        horizon=np.int32(100),
        segment_length=np.float64(25.0),
        anneal_lr=np.bool_(False),
    )
    assert (cfg.label_budget, cfg.horizon, cfg.segment_length) == (20, 100, 25)
    assert all(type(v) is int for v in (cfg.label_budget, cfg.horizon, cfg.segment_length))
    assert type(cfg.noise_prob) is float and cfg.noise_prob == 0.5 and cfg.anneal_lr is False
    json.dumps(cfg.to_dict())  # plain JSON, as a checkpoint writes it
    assert agents.PPOConfig(learning_rate=np.float32(1e-3)).learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_bools_are_refused_where_numbers_are_meant(value):
    with pytest.raises(ValueError, match=r"RLHFConfig\.label_budget=.* is not a number"):
        loop.RLHFConfig(label_budget=value)
    with pytest.raises(ValueError, match=r"RLHFConfig\.noise_prob=.* is not a number"):
        loop.RLHFConfig(noise_prob=value)


@pytest.mark.parametrize("value", [1, 0, 0.0, 1.0, "yes", None, np.int64(1)])
@pytest.mark.parametrize("cls,name", BOOLS, ids=[f"{c.__name__}.{n}" for c, n in BOOLS])
def test_numbers_are_refused_where_bools_are_meant(cls, name, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}=.* expected True or False"):
        cls(**{name: value})


def test_out_of_range_and_fractional_whole_numbers():
    with pytest.raises(ValueError, match=r"RLHFConfig\.label_budget=1e\+30 is out of range: expected a number in \[1"):
        loop.RLHFConfig(label_budget=1e30)
    with pytest.raises(ValueError, match=r"label_budget=2.5 must be a whole number"):
        loop.RLHFConfig(label_budget=2.5)
    with pytest.raises(ValueError, match=r"noise_prob=nan is not a number"):
        loop.RLHFConfig(noise_prob=float("nan"))
    with pytest.raises(ValueError, match=r"selection=1 is not allowed: expected one of 'random', 'active'"):
        loop.RLHFConfig(selection=1)


def test_assigning_a_field_is_checked():
    cfg = loop.RLHFConfig()
    with pytest.raises(ValueError, match=r"RLHFConfig\.label_budget=-1 is out of range"):
        cfg.label_budget = -1
    with pytest.raises(ValueError, match=r"RLHFConfig\.env_id=123 is not allowed"):
        cfg.env_id = 123
    with pytest.raises(ValueError, match=r"segment_length=500 is out of range: expected at most horizon=200"):
        cfg.segment_length = 500  # a check across fields, from the subclass
    assert cfg.label_budget == 25 and cfg.env_id == "Pendulum-v1" and cfg.segment_length == 25  # unchanged
    cfg.label_budget = np.int64(30)
    assert cfg.label_budget == 30 and type(cfg.label_budget) is int
    assert cfg == loop.RLHFConfig(label_budget=30)
    cfg.replace(label_budget=40)  # replace still works and checks
    with pytest.raises(ValueError, match="label_budget"):
        cfg.replace(label_budget=math.inf)


def test_non_field_attributes_and_subclasses_without_params_are_untouched():
    import dataclasses

    @dataclasses.dataclass
    class Plain(Config):
        x: int = 3  # no param(): not checked

    p = Plain(x="anything")
    p.x = None
    p.other = 5
    assert p.x is None and p.other == 5
