"""A word-level tokenizer: one id per word of the corpus grammar, plus four specials.

Real language models split text into sub-word pieces (BPE); this corpus has about 130 words, so one token per
word keeps every id readable (``decode`` gives back the words) and costs nothing to build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rlhf_lite.lm import corpus

__all__ = ["Tokenizer", "SPECIALS", "PAD", "BOS", "EOS", "UNK"]

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
"""Special tokens, ids 0-3: padding (never predicted, masked out), start of text, end of completion (the model
says "I am done" by writing it), an unknown word (anything outside the vocabulary)."""

FORMAT = "rlhf_lite.lm.tokenizer/1"


class Tokenizer:
    """Maps words to ids and back. ``Tokenizer.from_corpus()`` builds it from the grammar's vocabulary."""

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if list(words[:4]) != list(SPECIALS):
            words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        if len(set(words)) != len(words):
            dup = sorted({w for w in words if words.count(w) > 1})
            raise ValueError(f"Tokenizer words must be distinct; repeated: {dup[:5]}")
        self.words = words
        self.ids = {w: i for i, w in enumerate(words)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (self.ids[s] for s in SPECIALS)

    @classmethod
    def from_corpus(cls) -> Tokenizer:
        """The specials followed by :func:`rlhf_lite.lm.corpus.vocabulary` (sorted, so ids are stable)."""
        return cls(list(SPECIALS) + corpus.vocabulary())

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of the space-separated words of ``text`` (unknown words -> ``<unk>``), with optional bos/eos."""
        ids = [self.ids.get(w, self.unk_id) for w in text.split()]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Sequence[int], *, skip_specials: bool = True) -> str:
        """Words of ``ids`` joined by spaces; specials dropped unless ``skip_specials=False``.

        Decoding stops at nothing: cut a completion at its ``<eos>`` first if that is what you mean."""
        out = []
        for i in ids:
            word = self.words[int(i)]
            if skip_specials and word in SPECIALS:
                continue
            out.append(word)
        return " ".join(out)

    def save(self, path: str | Path) -> None:
        """Write the word list as JSON (``{"format": ..., "words": [...]}``)."""
        Path(path).write_text(json.dumps({"format": FORMAT, "words": self.words}, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a file written by :meth:`save`; a clear ``ValueError`` naming the file if it is not one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a tokenizer file ({e})") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("words"), list):
            raise ValueError(
                f"{path}: not a tokenizer file (expected a JSON object with format {FORMAT!r} and a list 'words')"
            )
        return cls(data["words"])

    def to_dict(self) -> dict:
        """The JSON-friendly form (kept inside a model's config file)."""
        return {"format": FORMAT, "words": list(self.words)}
