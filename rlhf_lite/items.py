"""What a person compares: the kinds of *item* the label path takes (clips of behaviour today, text completions in
the language-model lesson), each behind one small interface.

A preference record, the label store, the labelers and the labeling widget never ask what an item is: they ask
its :class:`ItemKind` (looked up from the item with :func:`kind_of`, from a stored payload with
:func:`kind_of_payload`). A kind knows how to

- turn an item into a JSON payload and back (:meth:`ItemKind.payload`, :meth:`ItemKind.from_payload`; the payload
  records its kind as ``"item": "<kind>"``, and a payload without ``"item"`` is a clip, so every label file
  written before text items existed loads unchanged);
- check a payload read from a file (:meth:`ItemKind.check_payload`, naming the field and what is allowed), two
  payloads of one record (:meth:`ItemKind.check_payloads`) and a whole file's worth (:meth:`ItemKind.check_stored`);
- say whether two items may be compared (:meth:`ItemKind.check_pair`) and whether an item is the one a payload
  stores (:meth:`ItemKind.same`, :meth:`ItemKind.match_keys`, for replaying recorded answers);
- show an item (:meth:`ItemKind.render` draws it ahead, off the main thread; :meth:`ItemKind.pair_view` is the
  ipywidgets view of a pair; :func:`view` shows one item on its own).

Two kinds are registered: ``"clip"`` (:class:`rlhf_lite.rollouts.Segment`: observations, actions, true rewards;
frames drawn on demand by :mod:`rlhf_lite.clip_drawing`, in :mod:`rlhf_lite.item_clips`) and ``"text"``
(:class:`TextItem`: a prompt and one completion of it). A new kind subclasses :class:`ItemKind` and calls
:func:`register`; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Hashable
from typing import Any, ClassVar

__all__ = [
    "ItemKind",
    "PairView",
    "TextItem",
    "TextKind",
    "register",
    "kinds",
    "get_kind",
    "kind_of",
    "kind_of_payload",
    "payload",
    "from_payload",
    "check_payload",
    "check_pair",
    "uid_of",
    "view",
]


class PairView:
    """The widget half of a kind: one ipywidgets ``widget`` showing a pair, updated in place for each new pair.

    ``show(left, right, drawn)`` puts a pair on screen (``drawn`` is ``(render(left), render(right))``, made
    ahead of time); ``blank()`` empties it while no pair is on screen, so the last pair does not stay there
    looking like one to judge.
    """

    widget: Any

    def show(self, left: Any, right: Any, drawn: tuple[Any, Any]) -> None:
        raise NotImplementedError

    def blank(self) -> None:
        raise NotImplementedError


class ItemKind:
    """One kind of item a person compares. Subclasses set the class attributes and implement the methods.

    ``name`` is what payloads record (``"item": name``); ``types`` are the Python classes of its items (an item
    may instead carry ``item_kind = name`` as a class attribute). ``noun`` / ``plural`` name one item to the
    person ("clip", "completion"); ``question`` is the widget's default question; ``instruction`` what to do.
    """

    name: ClassVar[str] = ""
    types: ClassVar[tuple[type, ...]] = ()
    noun: ClassVar[str] = "item"
    plural: ClassVar[str] = "items"
    question: ClassVar[str] = "Which one is better?"
    instruction: ClassVar[str] = "Look at both, then click."

    def payload(self, item: Any) -> dict[str, Any]:
        """A JSON-ready dict of ``item`` with ``"item": name`` (the file stores this)."""
        raise NotImplementedError

    def from_payload(self, payload: dict[str, Any]) -> Any:
        """The item back from :meth:`payload`'s dict (checked with :meth:`check_payload` first)."""
        raise NotImplementedError

    def check_payload(self, side: str, payload: dict[str, Any]) -> None:
        """Raise ``ValueError`` naming ``side.field`` and what is allowed unless ``payload`` is one of this kind."""
        raise NotImplementedError

    def check_payloads(self, left: dict[str, Any], right: dict[str, Any]) -> None:
        """Raise ``ValueError`` unless the two (already checked) payloads of one record may be compared."""

    def check_pair(self, left: Any, right: Any) -> None:
        """Raise ``ValueError`` unless the two items (both of this kind) may be compared fairly."""
        raise NotImplementedError

    def check_stored(
        self, left: dict[str, Any], right: dict[str, Any], env_id: str | None, env_note: str, earlier: Any
    ) -> Hashable:
        """The strict check a label file applies to each record of this kind when it is read or added.

        ``env_id`` is the file's environment (``env_note`` says where it was named); ``earlier`` is what this
        method returned for the file's first record, as ``(value, line)``, or ``None``. Returns what every
        record of one file must share (a clip's observation shape per step; ``None``: nothing). Raises
        ``ValueError`` saying what is wrong and what is allowed.
        """
        return None

    def uid(self, item: Any) -> str:
        """The item's name in label files (``""``: none)."""
        return str(getattr(item, "uid", "") or "")

    def match_keys(self, item: Any) -> tuple[str, ...]:
        """Keys under which a replayed recorded answer about this item is found, the most specific first."""
        uid = self.uid(item)
        return (uid,) if uid else ()

    def match_kinds(self) -> tuple[str, ...]:
        """What each position of :meth:`match_keys` matches by (e.g. ``("uid", "content")``)."""
        return ("uid",)

    def same(self, item: Any, payload: dict[str, Any]) -> bool:
        """Whether ``payload`` stores this very item (the same content, not only the same uid)."""
        raise NotImplementedError

    def render(self, item: Any, *, env_id: str | None = None, height: int = 240, fps: float | None = None) -> Any:
        """What :class:`PairView` shows of ``item``, made ahead of time on any thread (e.g. a clip's GIF bytes)."""
        raise NotImplementedError

    def pair_view(self, *, height: int = 240) -> PairView:
        """A new ipywidgets view of a pair of this kind (ipywidgets is imported only here)."""
        raise NotImplementedError

    def describe(self, item: Any) -> str:
        """A few words about ``item`` for a printed report (e.g. a clip's true return)."""
        return repr(self.uid(item))

    def single_view(self, item: Any, drawn: Any, *, height: int = 240) -> Any:
        """One item on its own as an ipywidgets widget, from :meth:`render`'s ``drawn``."""
        raise NotImplementedError

    def legend(self, env_id: str | None) -> str | None:
        """A sentence explaining what the items show beyond themselves (None: nothing to explain)."""
        return None


_KINDS: dict[str, ItemKind] = {}
_BY_TYPE: dict[type, ItemKind] = {}


def register(kind: ItemKind) -> ItemKind:
    """Add ``kind`` to the registry (under ``kind.name`` and its ``types``); returns it."""
    if not isinstance(kind, ItemKind) or not kind.name:
        raise ValueError(f"kind must be an ItemKind instance with a name, got {kind!r}")
    _KINDS[kind.name] = kind
    for t in kind.types:
        _BY_TYPE[t] = kind
    return kind


def kinds() -> tuple[str, ...]:
    """The names of the registered kinds, e.g. ``("clip", "text")``."""
    return tuple(_KINDS)


def get_kind(name: str) -> ItemKind:
    """The registered kind called ``name``; ``ValueError`` saying which exist otherwise."""
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"item={name!r} is not a known kind of item: expected one of {', '.join(map(repr, _KINDS))}")
    return kind


def kind_of(item: Any, side: str = "item") -> ItemKind:
    """The kind of ``item``: its class's ``item_kind`` attribute, else the kind registered for its class."""
    name = getattr(type(item), "item_kind", None)
    if isinstance(name, str):
        return get_kind(name)
    for t in type(item).__mro__:
        if t in _BY_TYPE:
            return _BY_TYPE[t]
    allowed = "; ".join(
        f"{k.name}: {', '.join(t.__module__ + '.' + t.__name__ for t in k.types)}" for k in _KINDS.values()
    )
    raise ValueError(
        f"{side} is a {type(item).__name__}, not an item a person can compare: expected one of ({allowed})"
    )


def kind_of_payload(payload: Any, side: str = "item") -> ItemKind:
    """The kind a stored payload records (``payload["item"]``; a payload without it is a clip, as every label
    file written before text items existed)."""
    if not isinstance(payload, dict):
        raise ValueError(f"{side} must be an item payload (a JSON object), got {type(payload).__name__}")
    name = payload.get("item", "clip")
    if name not in _KINDS:
        raise ValueError(
            f"{side}.item={name!r} is not a known kind of item: expected one of {', '.join(map(repr, _KINDS))}"
        )
    return _KINDS[name]


def payload(item: Any) -> dict[str, Any]:
    """The JSON payload of ``item`` (its kind's :meth:`ItemKind.payload`)."""
    return kind_of(item).payload(item)


def from_payload(payload: dict[str, Any]) -> Any:
    """The item stored in ``payload`` (checked first: ``ValueError`` naming the field)."""
    kind = check_payload("item", payload)
    return kind.from_payload(payload)


def check_payload(side: str, payload: Any) -> ItemKind:
    """Check a stored payload (``ValueError`` naming ``side.field`` and what is allowed); returns its kind."""
    kind = kind_of_payload(payload, side)
    kind.check_payload(side, payload)
    return kind


def check_pair(left: Any, right: Any) -> ItemKind:
    """Raise ``ValueError`` unless ``left`` and ``right`` are two items of one kind that may be compared; returns
    the kind."""
    kind, other = kind_of(left, "left"), kind_of(right, "right")
    if kind is not other:
        raise ValueError(
            f"left is a {kind.noun} ({kind.name}) but right is a {other.noun} ({other.name}): a person compares "
            "two items of one kind"
        )
    kind.check_pair(left, right)
    return kind


def uid_of(item: Any) -> str:
    """The name of ``item`` in label files (``""`` if it has none)."""
    return kind_of(item).uid(item)


def view(item: Any, *, env_id: str | None = None, height: int = 240) -> Any:
    """One item on its own as an ipywidgets widget (a clip playing, a completion in its box)."""
    kind = kind_of(item)
    return kind.single_view(item, kind.render(item, env_id=env_id, height=height), height=height)


# --------------------------------------------------------------------------------------------------------------
# Text


@dataclasses.dataclass(frozen=True)
class TextItem:
    """A completion of a prompt, as a person judges it: ``prompt`` (shown once above a pair), ``completion``
    (what is compared), ``uid`` (its name in label files; ``""`` lets a replay match it by content) and
    ``meta`` (plain JSON about it, e.g. which policy wrote it)."""

    prompt: str
    completion: str
    uid: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    item_kind: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        for field in ("prompt", "completion", "uid"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"TextItem.{field}={getattr(self, field)!r} is not allowed: expected a string")
        if not isinstance(self.meta, dict):
            raise ValueError(f"TextItem.meta={self.meta!r} is not allowed: expected a dict of plain JSON values")
        try:
            json.dumps(self.meta, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"TextItem.meta is not allowed ({e}): expected plain numbers, strings, lists, dicts"
            ) from None


_TEXT_STYLE = (
    "white-space:pre-wrap;font-family:var(--jp-content-font-family, sans-serif);font-size:115%;line-height:1.5;"
    "padding:10px 12px;border:1px solid #bbb;border-radius:4px;background:#fcfcfc;min-height:{h}px"
)


class TextKind(ItemKind):
    """Text completions (:class:`TextItem`): two completions of the same prompt are compared."""

    name = "text"
    types = (TextItem,)
    noun = "completion"
    plural = "completions"
    question = "Which completion is better?"
    instruction = "Read both completions, then click."

    def payload(self, item: TextItem) -> dict[str, Any]:
        return {
            "item": self.name,
            "uid": item.uid,
            "prompt": item.prompt,
            "completion": item.completion,
            "meta": dict(item.meta),
        }

    def from_payload(self, payload: dict[str, Any]) -> TextItem:
        return TextItem(
            prompt=payload["prompt"],
            completion=payload["completion"],
            uid=str(payload.get("uid", "")),
            meta=dict(payload.get("meta") or {}),
        )

    def check_payload(self, side: str, payload: dict[str, Any]) -> None:
        for field in ("prompt", "completion"):
            if field not in payload:
                raise ValueError(f"{side} text item is missing {field!r}: expected a string")
        for field in ("prompt", "completion", "uid"):
            if field in payload and not isinstance(payload[field], str):
                raise ValueError(f"{side}.{field}={payload[field]!r} is not allowed: expected a string")
        if not isinstance(payload.get("meta", {}), dict):
            raise ValueError(f"{side}.meta={payload['meta']!r} is not allowed: expected a JSON object")

    def check_payloads(self, left: dict[str, Any], right: dict[str, Any]) -> None:
        if left["prompt"] != right["prompt"]:
            raise ValueError(
                f"the two completions answer different prompts ({left['prompt']!r} vs {right['prompt']!r}): "
                "expected two completions of the same prompt"
            )

    def check_pair(self, left: TextItem, right: TextItem) -> None:
        if left.prompt != right.prompt:
            raise ValueError(
                f"the two completions answer different prompts ({left.prompt!r} vs {right.prompt!r}): "
                "expected two completions of the same prompt"
            )

    def match_keys(self, item: TextItem) -> tuple[str, ...]:
        content = "content:" + json.dumps([item.prompt, item.completion])
        return (item.uid, content) if item.uid else ("", content)

    def match_kinds(self) -> tuple[str, ...]:
        return ("uid", "content")

    def same(self, item: TextItem, payload: dict[str, Any]) -> bool:
        return payload.get("prompt") == item.prompt and payload.get("completion") == item.completion

    def describe(self, item: TextItem) -> str:
        text = item.completion if len(item.completion) <= 60 else item.completion[:57] + "..."
        return repr(text)

    def render(self, item: TextItem, *, env_id: str | None = None, height: int = 240, fps: float | None = None) -> str:
        import html

        return html.escape(item.completion) if item.completion else "<i style='color:#888'>(nothing: empty)</i>"

    def pair_view(self, *, height: int = 240) -> PairView:
        return _TextPairView(height)

    def single_view(self, item: TextItem, drawn: str, *, height: int = 240) -> Any:
        import html

        import ipywidgets as w

        return w.HTML(
            f"<div style='color:#555'>{html.escape(item.prompt)}</div>"
            f"<div style='{_TEXT_STYLE.format(h=height // 3)}'>{drawn}</div>"
        )


class _TextPairView(PairView):
    """The prompt once, then the two completions side by side in readable boxes."""

    def __init__(self, height: int) -> None:
        import ipywidgets as w

        self.height = int(height)
        self.prompt = w.HTML()
        self.prompt.add_class("rlhf-prompt")
        self.left, self.right = w.HTML(), w.HTML()
        self.left.add_class("rlhf-text-left")
        self.right.add_class("rlhf-text-right")
        caption = "<div style='text-align:center;font-weight:bold'>{}</div>"

        def side(text: str, box: Any) -> Any:
            return w.VBox(
                [w.HTML(caption.format(text)), box],
                layout=w.Layout(flex="1 1 0", min_width="200px", max_width="480px", margin="0 12px 6px 0"),
            )

        self.widget = w.VBox([self.prompt, w.HBox([side("left", self.left), side("right", self.right)])])
        self.blank()

    def show(self, left: TextItem, right: TextItem, drawn: tuple[str, str]) -> None:
        import html

        self.prompt.value = (
            "<div style='margin:0 0 6px 0'><span style='color:#555'>The prompt, the same for both:</span> "
            f"<b>{html.escape(left.prompt)}</b></div>"
        )
        style = _TEXT_STYLE.format(h=self.height // 3)
        self.left.value, self.right.value = (f"<div style='{style}'>{d}</div>" for d in drawn)
        for box in (self.left, self.right):
            box.remove_class("rlhf-text-empty")

    def blank(self) -> None:
        style = _TEXT_STYLE.format(h=self.height // 3)
        self.prompt.value = "<div style='color:#999;margin:0 0 6px 0'>(no pair on screen)</div>"
        self.left.value = self.right.value = f"<div style='{style};color:#bbb'>&nbsp;</div>"
        for box in (self.left, self.right):
            box.add_class("rlhf-text-empty")


from rlhf_lite import item_clips  # noqa: E402,F401  (registers the "clip" kind)

register(TextKind())
