"""Validated configs: a bad value fails at once, naming the field, the value and what is allowed."""

import dataclasses

import pytest

from rlhf_lite.config import Config, fast_mode, param


@dataclasses.dataclass
class Toy(Config):
    learning_rate: float = param(1e-3, "step size", low=0.0, low_open=True)
    gamma: float = param(0.99, "discount", low=0.0, high=1.0)
    steps: int = param(10, "how many", low=1)
    mode: str = param("random", "pair selection", choices=("random", "active"))


def test_defaults_are_valid():
    Toy()


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"learning_rate": -0.1}, ["Toy.learning_rate=-0.1", "(0, inf)"]),
        ({"learning_rate": 0.0}, ["Toy.learning_rate=0.0", "(0, inf)"]),
        ({"gamma": 1.5}, ["Toy.gamma=1.5", "[0, 1]"]),
        ({"steps": 0}, ["Toy.steps=0", "[1, inf)"]),
        ({"steps": 2.5}, ["Toy.steps=2.5", "whole number"]),
        ({"mode": "clever"}, ["Toy.mode='clever'", "'random', 'active'"]),
        ({"gamma": "high"}, ["Toy.gamma='high'", "not a number"]),
        ({"gamma": float("nan")}, ["Toy.gamma=nan", "not a number"]),
    ],
)
def test_bad_values_name_field_value_and_range(changes, words):
    with pytest.raises(ValueError) as err:
        Toy(**changes)
    for w in words:
        assert w in str(err.value)


def test_whole_number_floats_become_ints():
    assert Toy(steps=3.0).steps == 3 and isinstance(Toy(steps=3.0).steps, int)


def test_replace_validates_and_rejects_unknown_fields():
    assert Toy().replace(gamma=0.5).gamma == 0.5
    with pytest.raises(ValueError, match="Toy.gamma"):
        Toy().replace(gamma=-1)
    with pytest.raises(ValueError, match="no field 'gama'"):
        Toy().replace(gama=0.5)


def test_help_and_describe():
    assert Toy.help()["gamma"] == "discount"
    text = Toy().describe()
    assert "learning_rate" in text and "step size" in text and "[0, 1]" in text


def test_describe_html_is_a_table_a_notebook_shows():
    @dataclasses.dataclass
    class Tagged(Toy):
        note: str = param("<b>", "a help line with <markup> & more", choices=("<b>", "x"))

    table = Tagged(gamma=0.5).describe_html()
    assert Tagged(gamma=0.5)._repr_html_() == table, "display(config) shows the table"
    assert table.count("<tr>") == 1 + len(dataclasses.fields(Tagged)), "a header row and one row per field"
    assert "<td style='text-align:left;vertical-align:top'>0.5</td>" in table and "[0, 1]" in table
    assert "&lt;markup&gt; &amp; more" in table and "<markup>" not in table, "help text is escaped"


def test_fast_mode_reads_the_environment(monkeypatch):
    for value, expected in [("1", True), ("yes", True), ("0", False), ("", False), ("false", False)]:
        monkeypatch.setenv("RLHF_LITE_FAST", value)
        assert fast_mode() is expected
    monkeypatch.delenv("RLHF_LITE_FAST")
    assert fast_mode() is False
