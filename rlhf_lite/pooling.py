"""A room that labels together: one shared pair pack, everyone's label files pooled, and how much they agree.

In a workshop every participant labels on their own laptop, into their own append-only label file
(:class:`rlhf_lite.preferences.LabelStore`). This module turns those files into a lesson of its own: the
"human" in RLHF is many people who do not agree.

- :func:`pair_pack`: with one name (or seed) that the facilitator announces, every participant is asked the same
  pairs in the same order, so answers can be compared pair by pair.
- :func:`read_folder`: reads a folder of everyone's files (a USB stick, a shared drive, JupyterHub homes) with the
  store's own reader, checks each file (a bad one is named with its line and skipped, never modified), and drops
  exact duplicates by label id (a file copied twice counts once).
- :func:`agreement`: per pair and overall, percent agreement and Krippendorff's alpha (nominal; chance-corrected,
  and it allows raters who labeled different subsets of the pairs); :meth:`Agreement.most_disputed` lists the
  pairs the room disagreed on most.
- :func:`compare_predictors`: one reward predictor trained on the room's labels against one per person, by
  held-out accuracy against the true reward stored in the clips.

``python -m rlhf_lite.pooling FOLDER`` prints all of it (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_lite import items, preferences
from rlhf_lite.agreement import CATEGORIES, Agreement, PairAgreement, Rating, agreement, krippendorff_alpha
from rlhf_lite.preferences import LabelFileWarning, LabelStore, PreferenceRecord
from rlhf_lite.rollouts import Segment

__all__ = [
    "CATEGORIES",
    "pack_seed",
    "pair_pack",
    "FileReport",
    "Rating",
    "Pool",
    "read_folder",
    "krippendorff_alpha",
    "PairAgreement",
    "Agreement",
    "agreement",
    "compare_predictors",
    "report",
    "main",
]


# ==============================================================================================================
# The shared pair pack
# ==============================================================================================================


def pack_seed(name_or_seed: str | int) -> int:
    """A seed from a pack name (the same on every machine: a hash, not Python's salted ``hash``) or an int."""
    if isinstance(name_or_seed, bool) or not isinstance(name_or_seed, (str, int, np.integer)):
        raise ValueError(f"pack={name_or_seed!r} is not allowed: expected a name (a string) or a whole-number seed")
    if isinstance(name_or_seed, str):
        if not name_or_seed.strip():
            raise ValueError("pack name is empty: expected a name such as 'tuesday-room'")
        return int.from_bytes(hashlib.sha256(name_or_seed.strip().encode("utf-8")).digest()[:8], "big")
    if name_or_seed < 0:
        raise ValueError(f"pack seed {name_or_seed} is not allowed: expected a whole number >= 0")
    return int(name_or_seed)


def pair_pack(
    name_or_seed: str | int,
    segments: Sequence[Segment],
    n: int,
    exclude: Sequence[tuple[str, str]] | None = None,
) -> list[tuple[Segment, Segment]]:
    """The ``n`` pairs of the pack ``name_or_seed``: the same pairs, in the same order and left/right sides, for
    everyone who passes the same name and the same clips (or other items, e.g. text completions of one prompt).

    The clips are put in uid order first, so the order a machine happened to list them in does not matter; they
    must carry non-empty uids (the lessons' clips do: the same seeds cut the same clips everywhere), and a uid
    that appears twice must be the same clip (it is then kept once).
    ``exclude`` as in :func:`rlhf_lite.preferences.random_pairs` (e.g. pairs already answered, to resume).
    """
    segments = list(segments)
    uids = [items.uid_of(s) if _is_item(s) else None for s in segments]
    if any(not u for u in uids):
        i = next(k for k, u in enumerate(uids) if not u)
        raise ValueError(
            f"segments[{i}] has no uid: a pair pack needs clips with uids (rollouts.cut_segments gives them)"
        )
    unique: dict[str, Any] = {}
    for s, uid in zip(segments, uids):  # cut_segments may cut the same window twice: the same uid, kept once
        first = unique.setdefault(uid, s)
        kind = items.kind_of(s)
        if first is not s and not kind.same(s, kind.payload(first)):
            raise ValueError(f"uid {uid!r} names two different {kind.plural}: a pair pack needs one per uid")
    ordered = [unique[u] for u in sorted(unique)]
    rng = np.random.default_rng(pack_seed(name_or_seed))
    return preferences.random_pairs(ordered, n, rng, exclude=exclude)


def _is_item(x: Any) -> bool:
    try:
        items.kind_of(x)
    except ValueError:
        return False
    return True


# ==============================================================================================================
# Reading a folder of label files
# ==============================================================================================================


@dataclasses.dataclass
class FileReport:
    """What reading one file gave: ``error`` is ``None`` if it was read, else why it was skipped (file and line)."""

    path: Path
    name: str  # the path relative to the folder, as the report shows it
    labels: int = 0  # live labels read (before dropping duplicates)
    retracted: int = 0  # labels taken back by undo
    duplicates: int = 0  # labels dropped because another file already had the same label id
    skipped_lines: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    labelers: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None


@dataclasses.dataclass
class Pool:
    """The room's labels: ``ratings`` (one per live label, duplicates dropped), ``files`` (one report each)."""

    folder: Path
    files: list[FileReport]
    ratings: list[Rating]
    conflicts: int = 0  # label ids found in two files with different content (the first one was kept)

    @property
    def raters(self) -> list[str]:
        """Every rater, in the order first read."""
        return list(dict.fromkeys(r.rater for r in self.ratings))

    def records(self, rater: str | None = None) -> list[PreferenceRecord]:
        """The pooled live records (only ``rater``'s if given)."""
        return [r.record for r in self.ratings if rater is None or r.rater == rater]

    @property
    def skipped(self) -> list[FileReport]:
        return [f for f in self.files if f.error is not None]

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    def items(self, key: tuple[str, str]) -> tuple[Any, Any]:
        """The two items of pair ``key`` (in key order), rebuilt from the first record about them."""
        for r in self.ratings:
            if r.key == key:
                (left, right), first = r.record.items(), _names(r.record)[0]
                return (left, right) if first == key[0] else (right, left)
        raise KeyError(f"no rating about pair {key}")

    def segments(self, key: tuple[str, str]) -> tuple[Segment, Segment]:
        """The two clips of pair ``key`` (in key order): :meth:`items` of clips."""
        return self.items(key)


def _names(record: PreferenceRecord) -> tuple[str, str]:
    """The names a pair's two items are told apart by: their uids, or (text without uids) their content."""
    kind, (left, right) = items.kind_of_payload(record.left), record.items()
    for a, b in zip(kind.match_keys(left), kind.match_keys(right)):
        if a and b:
            return a, b
    return record.uids


def _category(record: PreferenceRecord) -> tuple[tuple[str, str], str | None]:
    left, right = _names(record)
    key = (left, right) if left <= right else (right, left)
    if record.answer == "cant_tell":
        return key, None
    if record.answer == "equal":
        return key, "equal"
    preferred = left if record.answer == "left" else right
    return key, "first" if preferred == key[0] else "second"


def read_folder(folder: str | Path, pattern: str = "*.jsonl", *, skip_bad_lines: bool = False) -> Pool:
    """Read every label file matching ``pattern`` under ``folder`` (sub-folders included, in name order).

    Each file is read with :class:`~rlhf_lite.preferences.LabelStore` (``create=False``: opened read-only, never
    written). A file the store refuses (not a label file, bad JSON, a missing field, a truncated line...) is
    skipped whole and its :class:`FileReport` says why, naming the line; ``skip_bad_lines=True`` keeps the good
    lines of such a file instead (the store's own ``skip_bad``). A label id seen in an earlier file is dropped (a
    file copied twice counts once). A rater is a labeler name within one file; the same name in two files
    (everyone left the default ``"reader"``) becomes two raters, told apart by the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: expected the folder that holds everyone's label files")
    paths = sorted(p for p in folder.rglob(pattern) if p.is_file())
    files: list[FileReport] = []
    seen: dict[str, dict[str, Any]] = {}
    raw: list[tuple[str, str, PreferenceRecord]] = []  # (file name, labeler, record)
    conflicts = 0
    for path in paths:
        rep = FileReport(path=path, name=str(path.relative_to(folder)))
        files.append(rep)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LabelFileWarning)  # reported below, through rep.skipped_lines
                store = LabelStore(path, create=False, skip_bad=skip_bad_lines)
                live = store.labels()
                rep.retracted = len(store.retracted_ids())
        except FileNotFoundError:
            rep.error = f"{path}: the file is empty (not even a header line)"
            continue
        except (ValueError, OSError, UnicodeError) as e:
            rep.error = str(e).replace(" Pass skip_bad=True to skip bad lines with a warning.", "")
            continue
        rep.skipped_lines = list(store.skipped)
        rep.labels = len(live)
        for record in live:
            as_dict = record.to_dict()
            if record.id in seen:
                rep.duplicates += 1
                conflicts += seen[record.id] != as_dict
                continue
            seen[record.id] = as_dict
            raw.append((rep.name, record.labeler, record))
        rep.labelers = sorted({r.labeler for r in live})
    files_of: dict[str, set[str]] = {}
    for name, labeler, _ in raw:
        files_of.setdefault(labeler, set()).add(name)
    ratings = []
    for name, labeler, record in raw:
        rater = labeler if len(files_of[labeler]) == 1 else f"{labeler} ({name})"
        key, category = _category(record)
        ratings.append(Rating(rater, key, category, record))
    return Pool(folder=folder, files=files, ratings=ratings, conflicts=conflicts)


# ==============================================================================================================
# One predictor for the room, one per person
# ==============================================================================================================


def compare_predictors(
    pool: Pool,
    observation_space: Any,
    action_space: Any,
    config: Any = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    test_segments: Sequence[Segment] | None = None,
    test_pairs: int = 300,
) -> dict[str, Any]:
    """Train one reward predictor on the pooled labels and one on each rater's alone; score each on held-out pairs.

    Accuracy is how often a predictor prefers the clip with the higher *true* return (stored with the clips for
    evaluation only), ties in the true return left out. The test pairs are ``test_pairs`` random pairs of
    ``test_segments`` if given (clips nobody labeled); otherwise a ``test_fraction`` of the labeled pairs (by
    pair, chosen with ``seed``), held out of every training set. ``config``: a
    :class:`rlhf_lite.reward_model.RewardModelConfig` (default: the package's, with no validation split, since
    the held-out pairs are the test). Returns ``{"pooled": acc, "raters": {rater: acc}, "median_rater": acc,
    "test_pairs": n, "train_labels": {"pooled": n, rater: n}}``; a rater with no training labels left is left out.
    """
    from rlhf_lite import reward_model as rm

    kinds = {r.record.item_kind for r in pool.ratings}
    if kinds - {"clip"}:
        raise ValueError(
            f"compare_predictors scores predictors against the true return stored with clips; this pool holds "
            f"{', '.join(sorted(kinds))} labels"
        )
    config = rm.RewardModelConfig(validation_fraction=0.0) if config is None else config
    rng = np.random.default_rng(seed)
    test_keys: set[tuple[str, str]] = set()
    if test_segments is not None:
        segments = list(test_segments)
        n = min(int(test_pairs), len(segments) * (len(segments) - 1) // 2)
        candidates = preferences.random_pairs(segments, n, rng)
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction={test_fraction!r} is not allowed: expected a number between 0 and 1")
        keys = sorted({r.key for r in pool.ratings})
        if len(keys) < 4:
            raise ValueError(f"only {len(keys)} distinct pairs are labeled: need at least 4 to hold some out")
        held_out = rng.permutation(len(keys))[: max(1, round(test_fraction * len(keys)))]
        test_keys = {keys[i] for i in held_out}
        candidates = [pool.segments(key) for key in sorted(test_keys)]
    lefts, rights, targets = [], [], []
    for a, b in candidates:
        if a.true_return != b.true_return:
            lefts.append(a)
            rights.append(b)
            targets.append(1.0 if a.true_return > b.true_return else 0.0)
    if not targets:
        raise ValueError("every test pair has two clips of equal true return: nothing to score predictors on")

    def accuracy(records: list[PreferenceRecord], model_seed: int) -> tuple[float | None, int]:
        pairs = preferences.to_pairs([r for r in records if _category(r)[0] not in test_keys])
        if not pairs:
            return None, 0
        model = rm.RewardEnsemble(observation_space, action_space, config, seed=model_seed)
        model.fit(pairs)
        return model.evaluate(lefts, rights, targets)["accuracy"], len(pairs)

    pooled, n_pooled = accuracy(pool.records(), seed)
    per_rater, sizes = {}, {"pooled": n_pooled}
    for rater in pool.raters:
        acc, n = accuracy(pool.records(rater), seed)
        if acc is not None:
            per_rater[rater], sizes[rater] = acc, n
    return {
        "pooled": pooled,
        "raters": per_rater,
        "median_rater": float(np.median(list(per_rater.values()))) if per_rater else float("nan"),
        "test_pairs": len(targets),
        "train_labels": sizes,
    }


# ==============================================================================================================
# The report, and the command
# ==============================================================================================================


def report(pool: Pool, *, top: int = 5, predictors: dict[str, Any] | None = None) -> str:
    """The facilitator's summary of a pool: files read and skipped, raters, agreement, most disputed pairs and,
    if given, :func:`compare_predictors`' result."""
    lines = [f"Label files under {pool.folder}: {len(pool.files)} found, {len(pool.skipped)} skipped"]
    for f in pool.files:
        if f.error is not None:
            lines.append(f"  SKIPPED {f.name}: {f.error} (the file was not changed)")
            continue
        extra = [f"{f.retracted} taken back"] if f.retracted else []
        if f.duplicates:
            extra.append(f"{f.duplicates} duplicate(s) of labels in an earlier file dropped")
        if f.skipped_lines:
            extra.append("bad lines skipped: " + "; ".join(f"line {n}: {why}" for n, why in f.skipped_lines[:3]))
        who = ", ".join(f.labelers) or "nobody"
        lines.append(f"  read    {f.name}: {f.labels} labels by {who}" + (f" ({'; '.join(extra)})" if extra else ""))
    if pool.conflicts:
        lines.append(
            f"  warning: {pool.conflicts} label id(s) appear in two files with different content; "
            "the first file's version was kept"
        )
    if not pool.ratings:
        lines.append("No labels to pool.")
        return "\n".join(lines)
    agree = agreement(pool)
    rated_twice = sum(p.n >= 2 for p in agree.pairs)
    lines += [
        f"{len(pool.ratings)} labels from {len(agree.raters)} rater(s): {', '.join(agree.raters)}",
        f"{len(agree.pairs)} distinct pairs, {rated_twice} of them rated by two or more raters",
    ]
    if rated_twice:
        lines.append(
            f"agreement: {agree.percent:.0%} of rater pairs gave the same answer; Krippendorff's alpha "
            f"{agree.alpha:.2f} (1 = full agreement, 0 = no more than chance)"
        )
    else:
        lines.append(
            "agreement: no pair was rated by two raters, so there is nothing to compare (did everyone label "
            "the same pair pack, with the same lesson settings?)"
        )
    disputed = agree.most_disputed(top)
    if disputed:
        lines.append(f"the {len(disputed)} pairs the room disagreed on most (first = the one with the smaller name):")
        for p in disputed:
            a, b = pool.items(p.key)
            kind = items.kind_of(a)
            lines.append(f"  {p.describe()}; {kind.describe(a)} vs {kind.describe(b)}")
    if predictors is not None:
        lines.append(
            f"predictors, held-out accuracy against the true reward on {predictors['test_pairs']} pairs: "
            f"trained on the pool ({predictors['train_labels']['pooled']} labels) {predictors['pooled']:.0%}, "
            f"on one person alone: median {predictors['median_rater']:.0%}"
        )
        for rater, acc in sorted(predictors["raters"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {rater}: {acc:.0%} ({predictors['train_labels'][rater]} labels)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlhf_lite.pooling FOLDER``: read every label file under FOLDER and print the room's report."""
    parser = argparse.ArgumentParser(prog="python -m rlhf_lite.pooling", description=main.__doc__)
    parser.add_argument("folder", help="folder holding everyone's label files (searched recursively)")
    parser.add_argument("--pattern", default="*.jsonl", help="file names to read (default: *.jsonl)")
    parser.add_argument(
        "--keep-good-lines",
        action="store_true",
        help="read the good lines of a file with bad ones, instead of skipping the whole file",
    )
    parser.add_argument("--top", type=int, default=5, help="how many of the most disputed pairs to list")
    parser.add_argument(
        "--predictors",
        action="store_true",
        help="also train a predictor on the pool and one per rater (a few seconds each)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split and the predictors")
    args = parser.parse_args(argv)
    try:
        pool = read_folder(args.folder, args.pattern, skip_bad_lines=args.keep_good_lines)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    predictors = None
    if args.predictors and pool.ratings:
        import torch

        from rlhf_lite import envs

        torch.set_num_threads(1)
        env_ids = {r.record.env_id for r in pool.ratings if r.record.env_id}
        if len(env_ids) != 1:
            print(
                f"error: --predictors needs labels from one environment, found {sorted(env_ids) or 'none named'}",
                file=sys.stderr,
            )
            return 2
        env = envs.make_env(env_ids.pop())
        predictors = compare_predictors(pool, env.observation_space, env.action_space, seed=args.seed)
    print(report(pool, top=args.top, predictors=predictors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
