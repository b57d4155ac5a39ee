"""Validated configuration dataclasses and the shared fast-mode switch.

Every hyperparameter in the series lives in a dataclass whose fields are declared with :func:`param`: a
default, one line of help, and the allowed range. The range does two jobs: :class:`Config` checks it when an
object is made (so a negative learning rate fails at once, naming the field, the value and what is allowed),
and the notebooks' sliders read it so that a slider can never offer a value the code would refuse.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from typing import Any

FAST_ENV_VAR = "RLHF_LITE_FAST"


def fast_mode() -> bool:
    """True when ``RLHF_LITE_FAST`` is set to something other than ``""``, ``0``, ``false`` or ``no``.

    Every notebook and benchmark reads this one switch to shrink its budgets (CI, a quick first look).
    """
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


def param(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """Declare a config field with one line of help and its allowed values.

    ``low``/``high`` bound numbers (closed unless ``low_open``/``high_open``); ``choices`` lists allowed values.
    """
    meta = dict(help=help, low=low, high=high, low_open=low_open, high_open=high_open, choices=choices)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def allowed(field: dataclasses.Field) -> str:
    """Human words for what a field accepts, e.g. ``"a number in (0, 1]"`` or ``"one of 'random', 'active'"``."""
    m = field.metadata
    if m.get("choices") is not None:
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    low, high = m.get("low"), m.get("high")
    if low is None and high is None:
        return "any value"
    left = "(" if m.get("low_open") or low is None else "["
    right = ")" if m.get("high_open") or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"a number in {left}{lo}, {hi}{right}"


def check_field(owner: str, field: dataclasses.Field, value: Any) -> None:
    """Raise ``ValueError`` naming ``owner.field``, the value and what is allowed, if ``value`` is not allowed."""
    m = field.metadata
    if "help" not in m:
        return
    name = f"{owner}.{field.name}"
    if m.get("choices") is not None:
        if value not in m["choices"]:
            raise ValueError(f"{name}={value!r} is not allowed: expected {allowed(field)}")
        return
    low, high = m.get("low"), m.get("high")
    if low is None and high is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name}={value!r} is not a number: expected {allowed(field)}")
    if isinstance(field.default, int) and not isinstance(field.default, bool) and not isinstance(value, int):
        if float(value) != int(value):
            raise ValueError(f"{name}={value!r} must be a whole number: expected {allowed(field)}")
    too_low = low is not None and (value <= low if m.get("low_open") else value < low)
    too_high = high is not None and (value >= high if m.get("high_open") else value > high)
    if too_low or too_high:
        raise ValueError(f"{name}={value!r} is out of range: expected {allowed(field)}")


@dataclasses.dataclass
class Config:
    """Base class: validates every :func:`param` field after ``__init__`` and explains itself."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check_field(type(self).__name__, f, value)
            # Whole-number fields given as 3.0 become 3, so range(...) and indexing work downstream.
            if isinstance(f.default, int) and not isinstance(f.default, bool) and isinstance(value, float):
                setattr(self, f.name, int(value))

    def replace(self, **changes: Any):
        """A copy with some fields changed (validated again); unknown names raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {unknown[0]!r}; fields are {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def help(cls) -> dict[str, str]:
        """``{field name: one line of help}``, for panels and tooltips."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def field(cls, name: str) -> dataclasses.Field:
        """The dataclass field ``name`` (its metadata holds help and range)."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        raise ValueError(f"{cls.__name__} has no field {name!r}")

    def describe(self) -> str:
        """A plain-text table: name, value, allowed values, help."""
        rows = [(f.name, repr(getattr(self, f.name)), allowed(f), f.metadata.get("help", "")) for f in dataclasses.fields(self)]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}" for a, b, c, d in rows)

    def describe_html(self) -> str:
        """The :meth:`describe` table as HTML (name, value, allowed values, help), so that long help lines wrap
        inside their cell instead of breaking the columns. A notebook shows it for ``display(config)``."""
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("field", "value", "allowed", "what it does"))
        rows = "".join(
            "<tr>" + "".join(f"<td style='text-align:left;vertical-align:top'>{html.escape(c)}</td>" for c in (
                f.name, repr(getattr(self, f.name)), allowed(f), f.metadata.get("help", ""))) + "</tr>"
            for f in dataclasses.fields(self))
        return (f"<table class='rlhf-config'><caption style='text-align:left'><b>{type(self).__name__}</b>"
                f"</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")

    def _repr_html_(self) -> str:
        return self.describe_html()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict of the fields."""
        return dataclasses.asdict(self)
