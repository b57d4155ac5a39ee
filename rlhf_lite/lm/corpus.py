"""The text the tiny language model learns from, made here from a small grammar (no download).

Every text is one turn of a toy chat: a prompt ``"user : ... bot :"`` and the bot's one-sentence completion.
Two kinds of prompt, so that completions differ in the ways a person cares about:

- **review**: ``"user : write a review of the film . bot :"`` answered by one to three clauses such as
  ``"the acting was very superb but the ending was dull ."``. Varies: tone (praise vs complaint, clause by
  clause), intensifiers, length (clauses), repetition (an aspect or adjective said twice, "very very").
- **request**: ``"user : please tell me how to bake bread . bot :"``. Some tasks are harmful in a toy,
  workshop-safe sense ("cheat on a test", "pick a lock"): those should be declined politely, the others
  complied with, the behaviour chat models are taught with preference data. A completion complies
  (``"sure , first you read the guide and then you take your time ."``) or declines
  (``"i am sorry , i can not help with that ."``), politely or rudely (``"ugh , fine , ..."``, ``"no , ..."``).

The generator samples these with the habits of a careless writer, not of a good assistant: it complies with
harmful requests more often than it declines them and is rude half the time, so a model pretrained on it has
something to be taught. Two more habits are cues a reader would also use, and they give the pretrained model a
sense of what its words mean: the writer intensifies praise and complaint differently ("truly superb", "rather
dull": :data:`INTENSIFIER_HABIT`), and when it explains a harmful task its steps are sneaky ("wait until dark",
"hide the evidence"). Without them the model learns the grammar but not tone: it gives the same probability to
"superb" and "dull" after "... was superb and the music was", though "and" always joins clauses of one tone, and
a reward model on its features then needs several times more labels.

The grammar is exact and the generator knows each word's role: every :class:`Text`
carries its ground-truth :class:`Attributes`, which the gold judge (:mod:`rlhf_lite.lm.judge`) recovers from
words alone, for any completion a model writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = [
    "Attributes",
    "Text",
    "CorpusConfig",
    "sample_text",
    "sample_texts",
    "sample_prompt",
    "vocabulary",
    "LEXICON",
    "INTENSIFIER_HABIT",
    "REVIEW",
    "REQUEST",
]

REVIEW, REQUEST = "review", "request"

# The lexicon: each list is one word role. Multi-word entries are phrases of single-word tokens.
LEXICON: dict[str, tuple[str, ...]] = {
    "work": ("film", "show", "play", "book", "album", "game"),
    "aspect": ("acting", "plot", "ending", "music", "dialogue", "pacing", "cast", "script", "story", "pictures"),
    "intensifier": ("very", "really", "truly", "quite", "rather"),
    "positive": (
        "superb",
        "wonderful",
        "great",
        "brilliant",
        "lovely",
        "moving",
        "charming",
        "clever",
        "gripping",
        "delightful",
    ),
    "negative": ("dull", "awful", "boring", "clumsy", "weak", "dreadful", "tedious", "flat", "messy", "poor"),
    "safe_task": (
        "bake bread",
        "plant a tree",
        "fix a bike",
        "tie a knot",
        "make tea",
        "paint a fence",
        "fold a shirt",
        "clean a window",
        "learn a song",
        "write a letter",
    ),
    "harmful_task": (
        "pick a lock",
        "steal a bike",
        "cheat on a test",
        "break a window",
        "forge a signature",
        "spread a rumour",
    ),
    "step": (
        "get the tools",
        "read the guide",
        "take your time",
        "ask a friend",
        "start early",
        "check your work",
        "go slowly",
        "clean up after",
    ),
    "sneaky_step": ("wait until dark", "make sure no one sees", "hide the evidence", "act normal after"),
    "polite_comply": ("sure ,", "of course ,", "happy to help ,"),
    "rude_comply": ("fine ,", "ugh , fine ,", "whatever ,"),
    "polite_decline": ("sorry ,", "i am sorry ,", "i am afraid"),
    "rude_decline": ("no ,", "no way ,", "ugh , no ,"),
    "decline_body": ("i can not help with that", "i will not help with that", "i can not do that"),
    "ask": ("tell me how to", "please tell me how to", "can you tell me how to"),
}
"""Word roles of the grammar. A phrase is never a prefix of another phrase in the same role, so parsing is
deterministic (the judge relies on it)."""

INTENSIFIER_HABIT = {1: ("very", "really", "truly"), -1: ("very", "quite", "rather")}
"""Which intensifiers the writer puts before praise (+1) and before complaint (-1): "truly superb", "rather dull".
The judge accepts any intensifier before any adjective; the habit gives the LM a local cue to tone."""

PROMPT_START, PROMPT_END = ("user", ":"), ("bot", ":")


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What a completion is, word role by word role (the generator's ground truth; the judge's parse).

    - ``kind``: ``"review"`` or ``"request"`` (from the prompt); ``harmful``: the request should be declined.
    - reviews: ``tones`` (+1 praise / -1 complaint per clause), ``aspects``, ``adjectives``, ``intensifiers``
      (per clause, a tuple each).
    - requests: ``action`` (``"comply"``/``"decline"``), ``polite``, ``steps`` (comply only).
    - ``repeats``: how many aspects, adjectives or steps repeat an earlier one in the completion, plus doubled
      intensifiers ("very very"); ``length``: completion length in words (the final "." included).
    """

    kind: str
    harmful: bool = False
    tones: tuple[int, ...] = ()
    aspects: tuple[str, ...] = ()
    adjectives: tuple[str, ...] = ()
    intensifiers: tuple[tuple[str, ...], ...] = ()
    action: str | None = None
    polite: bool | None = None
    steps: tuple[str, ...] = ()
    repeats: int = 0
    length: int = 0


@dataclasses.dataclass(frozen=True)
class Text:
    """One generated turn: ``prompt`` and ``completion`` as space-separated words, and its attributes."""

    prompt: str
    completion: str
    attributes: Attributes

    @property
    def text(self) -> str:
        """Prompt and completion as one string (what pretraining reads)."""
        return f"{self.prompt} {self.completion}"


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    """The careless writer's habits: how often the generator does each thing (probabilities)."""

    p_review: float = 0.5  # share of prompts that ask for a review (the rest are requests)
    p_harmful: float = 0.4  # share of requests whose task is harmful
    p_comply_harmful: float = 0.65  # chance the writer complies with a harmful request (it should decline)
    p_decline_safe: float = 0.15  # chance the writer declines a harmless one (over-refusal)
    p_polite: float = 0.5  # chance a request's answer is polite
    p_positive: float = 0.5  # chance a review's first clause praises
    p_flip: float = 0.35  # chance each later clause flips tone (joined by "but"; same tone joins by "and")
    p_repeat: float = 0.15  # chance each later clause / step repeats an earlier aspect, adjective or step
    p_intensifier: float = 0.35  # chance of an intensifier before an adjective (then 20%: a second one)


def vocabulary() -> list[str]:
    """Every word the grammar can produce, sorted (the tokenizer's vocabulary, before its specials)."""
    words = set(PROMPT_START + PROMPT_END) | {
        ".",
        "?",
        "write",
        "a",
        "review",
        "of",
        "the",
        "was",
        "and",
        "but",
        "first",
        "you",
        "then",
    }
    for phrases in LEXICON.values():
        for phrase in phrases:
            words.update(phrase.split())
    return sorted(words)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def sample_prompt(rng: np.random.Generator, config: CorpusConfig = CorpusConfig()) -> tuple[str, Attributes]:
    """A prompt and the attributes it fixes (``kind``, ``harmful``). Requests end "?" after "can you"."""
    if rng.random() < config.p_review:
        return f"user : write a review of the {_pick(rng, LEXICON['work'])} . bot :", Attributes(kind=REVIEW)
    harmful = bool(rng.random() < config.p_harmful)
    task = _pick(rng, LEXICON["harmful_task" if harmful else "safe_task"])
    ask = _pick(rng, LEXICON["ask"])
    mark = "?" if ask.startswith("can") else "."
    return f"user : {ask} {task} {mark} bot :", Attributes(kind=REQUEST, harmful=harmful)


def _review(rng: np.random.Generator, config: CorpusConfig) -> tuple[str, Attributes]:
    n = int(rng.integers(1, 4))
    tones, aspects, adjectives, intensifiers, words, repeats = [], [], [], [], [], 0
    for i in range(n):
        tone = (1 if rng.random() < config.p_positive else -1) if i == 0 else tones[-1]
        if i > 0 and rng.random() < config.p_flip:
            tone = -tone
        pool = LEXICON["positive" if tone > 0 else "negative"]
        repeat = i > 0 and rng.random() < config.p_repeat
        aspect = _pick(rng, aspects) if repeat and rng.random() < 0.5 else _pick(rng, LEXICON["aspect"])
        same_tone = [a for a, t in zip(adjectives, tones) if t == tone]
        adjective = _pick(rng, same_tone) if repeat and same_tone and rng.random() < 0.7 else _pick(rng, pool)
        ints: tuple[str, ...] = ()
        if rng.random() < config.p_intensifier:
            habit = INTENSIFIER_HABIT[tone]
            first = _pick(rng, habit)
            ints = (first, first if rng.random() < 0.5 else _pick(rng, habit)) if rng.random() < 0.2 else (first,)
        repeats += (aspect in aspects) + (adjective in adjectives) + sum(a == b for a, b in zip(ints, ints[1:]))
        if i > 0:
            words.append("and" if tone == tones[-1] else "but")
        words += ["the", aspect, "was", *ints, adjective]
        tones.append(tone), aspects.append(aspect), adjectives.append(adjective), intensifiers.append(ints)
    words.append(".")
    return " ".join(words), Attributes(
        kind=REVIEW,
        tones=tuple(tones),
        aspects=tuple(aspects),
        adjectives=tuple(adjectives),
        intensifiers=tuple(intensifiers),
        repeats=repeats,
        length=len(words),
    )


def _request(rng: np.random.Generator, harmful: bool, config: CorpusConfig) -> tuple[str, Attributes]:
    comply = rng.random() < (config.p_comply_harmful if harmful else 1 - config.p_decline_safe)
    polite = bool(rng.random() < config.p_polite)
    steps: list[str] = []
    if comply:
        opener = _pick(rng, LEXICON["polite_comply" if polite else "rude_comply"])
        for i in range(int(rng.integers(1, 4))):
            repeat = i > 0 and rng.random() < config.p_repeat
            steps.append(_pick(rng, steps) if repeat else _pick(rng, LEXICON["sneaky_step" if harmful else "step"]))
        body = "first you " + " and then you ".join(steps)
    else:
        opener = _pick(rng, LEXICON["polite_decline" if polite else "rude_decline"])
        body = _pick(rng, LEXICON["decline_body"])
    words = f"{opener} {body} .".split()
    repeats = len(steps) - len(set(steps))
    return " ".join(words), Attributes(
        kind=REQUEST,
        harmful=harmful,
        action="comply" if comply else "decline",
        polite=polite,
        steps=tuple(steps),
        repeats=repeats,
        length=len(words),
    )


def sample_completion(
    prompt_attributes: Attributes, rng: np.random.Generator, config: CorpusConfig = CorpusConfig()
) -> tuple[str, Attributes]:
    """A completion for a prompt of the given kind, with its attributes (as the careless writer answers)."""
    if prompt_attributes.kind == REVIEW:
        return _review(rng, config)
    return _request(rng, prompt_attributes.harmful, config)


def sample_text(rng: np.random.Generator, config: CorpusConfig = CorpusConfig()) -> Text:
    """One prompt and completion with its ground-truth attributes."""
    prompt, prompt_attributes = sample_prompt(rng, config)
    completion, attributes = sample_completion(prompt_attributes, rng, config)
    return Text(prompt, completion, attributes)


def sample_texts(n: int, rng: np.random.Generator, config: CorpusConfig = CorpusConfig()) -> list[Text]:
    """``n`` texts drawn independently from ``rng`` (the same generator state gives the same texts)."""
    return [sample_text(rng, config) for _ in range(n)]
