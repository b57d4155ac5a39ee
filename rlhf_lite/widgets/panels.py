"""Sliders for a config: one per field, its help text beside it, its range from the field's ``param`` metadata."""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from rlhf_lite import config as config_lib
from rlhf_lite.widgets.presence import watch_views


class ConfigPanel:
    """Sliders for some fields of a :class:`~rlhf_lite.config.Config`, each with its help text beside it.

    Ranges come from the fields' ``param(low=..., high=...)`` metadata, so a slider can never offer a value
    the config would refuse; ``ranges={"field": (min, max[, step])}`` narrows one (it must stay inside what is
    allowed). ``config`` (a property) returns a new, validated config with the slider values; fields without a
    slider keep the values of the config (or class defaults) the panel was made from.
    """

    def __init__(
        self,
        config: config_lib.Config | type[config_lib.Config],
        fields: Sequence[str] | None = None,
        *,
        ranges: dict[str, tuple[float, ...]] | None = None,
        title: str | None = None,
    ):
        import ipywidgets as w

        self.cls = config if isinstance(config, type) else type(config)
        if not (isinstance(self.cls, type) and issubclass(self.cls, config_lib.Config)):
            raise ValueError(f"config={config!r} is not allowed: expected a Config subclass or instance")
        self.base = config if not isinstance(config, type) else self.cls()
        names = [f.name for f in dataclasses.fields(self.cls)]
        fields = None if fields is None else list(fields)
        if fields is None:  # every field a control can show; lists, None defaults and free text are left out
            fields = [f.name for f in dataclasses.fields(self.cls) if _has_control(f)]
        for name in fields:
            if name not in names:
                raise ValueError(f"{self.cls.__name__} has no field {name!r}; fields are {names}")
            if not _has_control(self.cls.field(name)):
                raise ValueError(
                    f"{self.cls.__name__}.{name} has no slider (its default is "
                    f"{self.cls.field(name).default!r}): expected a number, a bool or a field with choices"
                )
        ranges = dict(ranges or {})
        for name in ranges:
            if name not in fields:
                raise ValueError(f"ranges names {name!r}, which is not one of the panel's fields {fields}")
        self.controls: dict[str, Any] = {}
        rows = []
        if title:
            rows.append(w.HTML(f"<b>{html.escape(title)}</b>"))
        self.message = w.HTML()
        self.message.add_class("rlhf-panel-message")
        self.boxes: dict[str, Any] = {}  # field -> the box beside a slider where a value can be typed
        label_width = f"{0.62 * max([len(n) for n in fields] + [6]) + 1:.1f}em"  # the sliders line up
        for name in fields:
            f = self.cls.field(name)
            control = _control_for(self.cls, f, getattr(self.base, name), ranges.get(name))
            if not isinstance(f.default, bool):
                control.style.description_width = label_width
            control.add_class(f"rlhf-param-{name}")
            control.observe(lambda _change: self._validate(), names="value")
            self.controls[name] = control
            items = [control]
            span = _slider_span(control)
            if span is not None:  # a slider: its own readout would clamp a typed value silently, so a box does
                control.readout = False
                box = w.Text(
                    value=_show_number(control.value),
                    continuous_update=False,
                    layout=w.Layout(width="80px"),
                    tooltip=f"type a number from {span[0]:g} to {span[1]:g}",
                )
                box.add_class(f"rlhf-value-{name}")
                control.observe(
                    lambda change, box=box: setattr(box, "value", _show_number(change["new"])), names="value"
                )
                box.observe(lambda change, name=name: self._typed(name, change["new"]), names="value")
                self.boxes[name] = box
                items.append(box)
            help_text = html.escape(f.metadata.get("help", ""))
            allowed = (
                f"{span[0]:g} to {span[1]:g}"
                if span is not None  # what this slider offers
                else ""
                if isinstance(f.default, bool)
                else config_lib.allowed(f)
            )  # a tick box says it
            allowed = f" <span style='color:#888'>({html.escape(allowed)})</span>" if allowed else ""
            note = w.HTML(f"<span style='color:#444'>{help_text}{allowed}</span>", layout=w.Layout(margin="0 0 0 12px"))
            note.add_class("rlhf-help")
            rows.append(w.HBox(items + [note], layout=w.Layout(align_items="center")))
        rows.append(self.message)
        self.widget = watch_views(w.VBox(rows))
        self.widget.add_class("rlhf-panel")
        self._validate()

    def _typed(self, name: str, text: str) -> None:
        """A value typed into the box of slider ``name``: set the slider, or say what is allowed (never clamp)."""
        control, f = self.controls[name], self.cls.field(name)
        lo, hi = _slider_span(control)
        if _show_number(control.value) == text.strip():
            return  # the box was just updated from the slider
        where = f"{self.cls.__name__}.{name}"
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self._say(f"{where}: {text!r} is not a number. Type a number from {lo:g} to {hi:g}.")
            return
        is_int = isinstance(f.default, int) and not isinstance(f.default, bool)
        try:
            config_lib.check_field(self.cls.__name__, f, int(value) if is_int and value.is_integer() else value)
        except ValueError as exc:
            self._say(f"{exc}. Type a number from {lo:g} to {hi:g}; the slider stays at {_show_number(control.value)}.")
            return
        if not lo - 1e-12 * max(1.0, abs(hi)) <= value <= hi + 1e-12 * max(1.0, abs(hi)):
            self._say(
                f"{where}={text.strip()} is outside this slider's range: type a number from {lo:g} to {hi:g} "
                f"(the slider stays at {_show_number(control.value)})."
            )
            return
        control.value = int(round(value)) if is_int else value

    def _say(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{html.escape(text, quote=False)}</span>"

    @property
    def values(self) -> dict[str, Any]:
        """The slider values by field name (whole numbers as int)."""
        out = {}
        for name, control in self.controls.items():
            value = control.value
            default = self.cls.field(name).default
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
                value = int(round(value))
            out[name] = value
        return out

    @property
    def config(self) -> config_lib.Config:
        """A validated config with the current slider values (``ValueError`` names the culprit)."""
        return self.base.replace(**self.values)

    def observe(self, callback: Callable[[config_lib.Config], Any]) -> None:
        """Call ``callback(config)`` with the new validated config whenever a slider moves."""

        def handler(_change: Any) -> None:
            try:
                cfg = self.config
            except ValueError:
                return
            callback(cfg)

        for control in self.controls.values():
            control.observe(handler, names="value")

    def _validate(self) -> None:
        try:
            _ = self.config  # building it validates every slider value
        except ValueError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
        else:
            self.message.value = ""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"{self.cls.__name__} panel: " + ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return bundle


def config_panel(config: Any, fields: Sequence[str] | None = None, **kwargs: Any) -> ConfigPanel:
    """Shorthand for :class:`ConfigPanel`."""
    return ConfigPanel(config, fields, **kwargs)


def _has_control(f: dataclasses.Field) -> bool:
    """Whether :func:`_control_for` can show this field: numbers, bools and fields with ``choices``."""
    if f.metadata.get("choices") is not None:
        return True
    return isinstance(f.default, (bool, int, float)) and f.default is not dataclasses.MISSING


def _control_for(cls: type, f: dataclasses.Field, value: Any, override: tuple[float, ...] | None) -> Any:
    """The widget for one field: a checkbox, a dropdown of choices, an int slider, or a (log) float slider."""
    import ipywidgets as w

    m = f.metadata
    owner = cls.__name__
    common = dict(
        description=f.name,
        style={"description_width": "initial"},
        continuous_update=False,
        layout=w.Layout(width="380px"),
    )
    if isinstance(f.default, bool):
        common.pop("continuous_update")
        return w.Checkbox(value=bool(value), **common)
    if m.get("choices") is not None:
        common.pop("continuous_update")
        return w.Dropdown(options=list(m["choices"]), value=value, **common)
    is_int = isinstance(f.default, int)
    low, high = m.get("low"), m.get("high")
    value = float(value)
    if override is not None:
        if len(override) not in (2, 3):
            raise ValueError(f"ranges[{f.name!r}]={override!r} is not allowed: expected (min, max) or (min, max, step)")
        for end in override[:2]:
            config_lib.check_field(owner, f, int(end) if is_int else float(end))
        lo, hi = float(override[0]), float(override[1])
        if lo >= hi:
            raise ValueError(f"ranges[{f.name!r}]={override!r} is empty: expected min < max")
        step = override[2] if len(override) == 3 else None
        if is_int:
            return w.IntSlider(
                value=int(min(max(value, lo), hi)), min=int(lo), max=int(hi), step=int(step or 1), **common
            )
        step = float(step) if step else _nice_step((hi - lo) / 100)
        return _float_slider(w, value, lo, hi, step, common)

    # No override: the allowed range, open ends nudged inwards, unbounded ends and huge ranges cut to a
    # window around the current value (validation still allows the whole range; pass ranges= to change it).
    scale = max(abs(value), 1.0)
    lo = float(low) if low is not None else min(value, 0.0) - (0 if value >= 0 else scale)
    hi = float(high) if high is not None else max(value * 4, lo + 10 * (1 if is_int else 0.1 * scale))
    if is_int:
        lo_i = int(math.ceil(lo)) + (1 if m.get("low_open") and low is not None and float(low).is_integer() else 0)
        hi_i = int(math.floor(hi)) - (1 if m.get("high_open") and high is not None and float(high).is_integer() else 0)
        if hi_i - lo_i > 50 * scale:
            lo_i, hi_i = max(lo_i, int(value - 10 * scale)), min(hi_i, int(value + 10 * scale))
        return w.IntSlider(value=int(min(max(value, lo_i), hi_i)), min=lo_i, max=hi_i, step=1, **common)
    if value > 0 and (lo > 0 or (lo == 0 and m.get("low_open"))) and hi / max(lo, value / 1000) >= 100:
        # Learning rates and the like: a log slider gives each decade the same room (an open bound at 0
        # starts three decades below the value; at most three decades above it are shown).
        lo_l = math.log10(max(lo, value / 1000))
        hi_l = min(math.log10(hi), math.log10(value) + 3)
        if m.get("low_open") and lo > 0:
            lo_l += (hi_l - lo_l) / 100
        if m.get("high_open") and hi_l == math.log10(hi):
            hi_l -= (hi_l - lo_l) / 100
        v = min(max(value, 10**lo_l), 10**hi_l)
        return w.FloatLogSlider(
            value=v, base=10, min=lo_l, max=hi_l, step=(hi_l - lo_l) / 100, readout_format=".2g", **common
        )
    if hi - lo > 50 * scale:
        lo, hi = max(lo, value - 10 * scale), min(hi, value + 10 * scale)
    step = _nice_step(min((hi - lo) / 100, abs(value) / 5 if value else math.inf))
    if m.get("low_open") and low is not None and lo == float(low):
        lo += step
    if m.get("high_open") and high is not None and hi == float(high):
        hi -= step
    return _float_slider(w, value, lo, hi, step, common)


def _slider_span(control: Any) -> tuple[float, float] | None:
    """``(lowest, highest)`` value a slider offers (a log slider's ends are powers of its base); else None."""
    if not hasattr(control, "min") or not hasattr(control, "max"):
        return None
    if hasattr(control, "base"):
        return float(control.base) ** control.min, float(control.base) ** control.max
    return float(control.min), float(control.max)


def _show_number(value: Any) -> str:
    """A slider value as the box beside it shows it: whole numbers plain, others to 4 significant digits."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):.4g}"


def _float_slider(w: Any, value: float, lo: float, hi: float, step: float, common: dict) -> Any:
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    return w.FloatSlider(
        value=min(max(value, lo), hi), min=lo, max=hi, step=step, readout_format=f".{decimals}f", **common
    )


def _nice_step(raw: float) -> float:
    """Round a step to 1, 2 or 5 times a power of ten, so slider readouts stay short."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * 10**exp:
            return m * 10**exp
    return 10 ** (exp + 1)
