"""Validated configuration dataclasses and the shared fast-mode switch.

Every hyperparameter in the series lives in a dataclass whose fields are declared with :func:`param`: a
default, one line of help, and the allowed range. The range does two jobs: :class:`Config` checks it when an
object is made (so a negative learning rate fails at once, naming the field, the value and what is allowed),
and the notebooks' sliders read it so that a slider can never offer a value the code would refuse.
"""

from __future__ import annotations

import contextvars
import dataclasses
import html
import math
import os
from typing import Any

import numpy as np

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


def _kind(field: dataclasses.Field) -> str | None:
    """``"bool"``, ``"int"``, ``"float"`` or ``"str"``: what a field holds, from its annotation (or its default's
    type); ``None`` for anything else (optional fields, lists)."""
    ann = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    if ann in ("bool", "int", "float", "str"):
        return ann
    default = field.default
    for kind in (bool, int, float, str):  # bool first: True is an int too
        if type(default) is kind:
            return kind.__name__
    return None


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return not _is_bool(value) and isinstance(value, (int, float, np.integer, np.floating))


def check_field(owner: str, field: dataclasses.Field, value: Any) -> None:
    """Raise ``ValueError`` naming ``owner.field``, the value and what is allowed, if ``value`` is not allowed.

    Checked before any conversion: true/false fields take only bools (not 1 or 0.0), number fields only numbers
    (Python or numpy, not bools), whole-number fields only whole, finite numbers, text fields only strings;
    then the range or the choices."""
    m = field.metadata
    if "help" not in m:
        return
    name = f"{owner}.{field.name}"
    kind = _kind(field)
    if kind == "bool" and not _is_bool(value):
        raise ValueError(f"{name}={value!r} is not allowed: expected True or False (a bool, not a number or text)")
    if kind == "str" and not isinstance(value, str):
        what = allowed(field) if m.get("choices") is not None else "a string"
        raise ValueError(f"{name}={value!r} is not allowed: expected {what}, got {type(value).__name__}")
    if m.get("choices") is not None:
        if kind != "bool" and _is_bool(value) and not any(_is_bool(c) for c in m["choices"]):
            raise ValueError(f"{name}={value!r} is not allowed: expected {allowed(field)}")
        try:
            ok = value in m["choices"]
        except TypeError:  # e.g. an array: comparing it is ambiguous
            ok = False
        if not ok:
            raise ValueError(f"{name}={value!r} is not allowed: expected {allowed(field)}")
        return
    low, high = m.get("low"), m.get("high")
    if kind not in ("int", "float") and low is None and high is None:
        return
    if not _is_number(value) or math.isnan(value):
        raise ValueError(f"{name}={value!r} is not a number: expected {allowed(field)}")
    too_low = low is not None and (value <= low if m.get("low_open") else value < low)
    too_high = high is not None and (value >= high if m.get("high_open") else value > high)
    if too_low or too_high:
        raise ValueError(f"{name}={value!r} is out of range: expected {allowed(field)}")
    if kind == "int" and not (math.isfinite(value) and float(value) == math.floor(value)):
        raise ValueError(f"{name}={value!r} must be a whole number: expected {allowed(field)}")


def _converted(field: dataclasses.Field, value: Any) -> Any:
    """A checked value as the plain Python type its field holds: whole numbers given as 3.0 or ``np.int64(3)``
    become 3 (so ``range(...)`` and indexing work), numpy floats and bools Python ones (so JSON takes them)."""
    kind = _kind(field)
    if kind == "int" and _is_number(value) and type(value) is not int:
        return int(value)
    if kind == "float" and isinstance(value, (np.integer, np.floating)):
        return float(value)
    if kind == "bool" and isinstance(value, np.bool_):
        return bool(value)
    if kind == "str" and type(value) is not str and isinstance(value, str):
        return str(value)
    return value


_REVALIDATING = contextvars.ContextVar("rlhf_lite_config_revalidating", default=False)


@dataclasses.dataclass
class Config:
    """Base class: validates every :func:`param` field after ``__init__`` and explains itself."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check_field(type(self).__name__, f, value)
            object.__setattr__(self, f.name, _converted(f, value))
        object.__setattr__(self, "_validated", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a field after construction is checked as the constructor checks it (``cfg.label_budget =
        -1`` raises ``ValueError``), including a subclass's checks across fields."""
        f = self.__dataclass_fields__.get(name)
        if f is not None and self.__dict__.get("_validated"):
            check_field(type(self).__name__, f, value)
            value = _converted(f, value)
            if not _REVALIDATING.get():  # the whole config again, on a copy: checks that span fields
                token = _REVALIDATING.set(True)
                try:
                    dataclasses.replace(self, **{name: value})
                finally:
                    _REVALIDATING.reset(token)
        object.__setattr__(self, name, value)

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
        rows = [
            (f.name, repr(getattr(self, f.name)), allowed(f), f.metadata.get("help", ""))
            for f in dataclasses.fields(self)
        ]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}" for a, b, c, d in rows)

    def describe_html(self) -> str:
        """The :meth:`describe` table as HTML (name, value, allowed values, help), so that long help lines wrap
        inside their cell instead of breaking the columns. A notebook shows it for ``display(config)``."""
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("field", "value", "allowed", "what it does"))
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:left;vertical-align:top'>{html.escape(c)}</td>"
                for c in (f.name, repr(getattr(self, f.name)), allowed(f), f.metadata.get("help", ""))
            )
            + "</tr>"
            for f in dataclasses.fields(self)
        )
        return (
            f"<table class='rlhf-config'><caption style='text-align:left'><b>{type(self).__name__}</b>"
            f"</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )

    def _repr_html_(self) -> str:
        return self.describe_html()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict of the fields."""
        return dataclasses.asdict(self)
