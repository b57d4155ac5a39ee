"""A tiny decoder-only transformer (GPT-style), with the four things RLHF asks of a language model.

1. **Next-token logits** (:meth:`TinyLM.forward`): token + learned position embeddings, ``n_layer`` pre-norm
   blocks of causal self-attention (``torch.nn.functional.scaled_dot_product_attention``) and an MLP, a final
   layer norm and an output layer tied to the token embedding.
2. **Sampling** (:func:`generate`) with a temperature and a KV cache: each new token attends to the keys and
   values already computed for the earlier ones, so a completion of L tokens costs L small steps instead of L
   passes over a growing sequence. ``use_cache=False`` recomputes everything (the tests check both agree).
3. **Log-probabilities of given completions** (:func:`completion_logprobs`): log pi(token | prompt, earlier
   tokens) for each completion token, with a mask for padding; their sum is log pi(completion | prompt),
   the quantity PPO's ratio, the KL penalty and DPO are written in.
4. **Features** (:func:`features`): the last hidden state at a completion's final token, what a reward head
   (a linear layer on a frozen LM) reads.

Conventions: a prompt is a list of token ids starting with ``<bos>``; a completion is a list of ids that ends
with ``<eos>`` when the model finished (a completion cut at the length limit has none). Batches are lists of
such lists; padding is added inside.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlhf_lite.config import Config, param
from rlhf_lite.lm.tokenizer import Tokenizer

__all__ = [
    "LMConfig",
    "TinyLM",
    "generate",
    "completion_logprobs",
    "features",
    "completion_states",
    "pad_batch",
    "save",
    "load",
    "CheckpointError",
    "SHIPPED_CHECKPOINT",
]

SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[2] / "data" / "tiny_lm.pt"
"""The pretrained model shipped with the lessons (its ``.json`` says the command and seed that made it)."""

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
"""One ``(keys, values)`` pair per layer, each ``[B, n_head, T_past, d_head]``."""


@dataclasses.dataclass
class LMConfig(Config):
    """Shape of the tiny language model (the tokenizer fixes ``vocab_size``)."""

    vocab_size: int = param(142, "number of token ids (the tokenizer's length, specials included)", low=5, high=100_000)
    block_size: int = param(
        48, "longest sequence (prompt + completion) the model reads: its number of positions", low=2, high=4096
    )
    n_layer: int = param(2, "transformer blocks", low=1, high=24)
    n_head: int = param(4, "attention heads per block (d_model must divide by it)", low=1, high=64)
    d_model: int = param(96, "width of the residual stream (embedding size)", low=8, high=4096)
    mlp_ratio: int = param(4, "hidden width of each block's MLP, as a multiple of d_model", low=1, high=16)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % self.n_head:
            raise ValueError(
                f"LMConfig.d_model={self.d_model} is not allowed with n_head={self.n_head}: "
                "expected a multiple of n_head"
            )


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model),
            nn.GELU(),
            nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model),
        )

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x [B, T, d]`` (the T newest positions), ``past`` keys/values of earlier positions -> new ``x`` and
        the keys/values of all positions so far (``[B, n_head, T_past + T, d_head]``)."""
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        if past is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif T == 1:
            # One new query may see every cached key. (is_causal=True would be wrong here: PyTorch aligns its
            # causal mask to the top-left corner, so the new query would see only the first key.)
            out = F.scaled_dot_product_attention(q, k, v)
        else:  # several new queries after a cache: causal mask aligned to the bottom-right corner
            t_all = k.shape[2]
            mask = torch.ones(T, t_all, dtype=torch.bool).tril(diagonal=t_all - T)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(out.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp(self.ln2(x)), (k, v)


class TinyLM(nn.Module):
    """Decoder-only transformer: ids ``[B, T]`` -> next-token logits ``[B, T, vocab]``."""

    def __init__(self, cfg: LMConfig, generator: torch.Generator | None = None) -> None:
        """``generator`` draws the initial weights (pass a seeded one so that runs repeat without global seeding)."""
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: one table to read words in and write them out
        for module in self.modules():
            self._init(module, generator)

    @staticmethod
    def _init(module: nn.Module, generator: torch.Generator | None) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02, generator=generator)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, past: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor, KVCache]:
        """``ids [B, T]`` (the newest T tokens; earlier ones are in ``past``) -> ``logits [B, T, vocab]``,
        ``hidden [B, T, d_model]`` (the final layer-normed states, what the logits are read from) and the cache
        for all positions so far. Position t only ever sees positions <= t."""
        t_past = 0 if past is None else past[0][0].shape[2]
        T = ids.shape[1]
        if t_past + T > self.config.block_size:
            raise ValueError(f"sequence of {t_past + T} tokens is longer than block_size={self.config.block_size}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(t_past, t_past + T, device=ids.device))
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i])
            cache.append(kv)
        hidden = self.ln_f(x)
        return self.head(hidden), hidden, cache

    def num_parameters(self) -> int:
        """Distinct trainable numbers (the tied output layer counted once)."""
        return sum(p.numel() for p in self.parameters())


def _torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from ``rng``, so that one numpy seed pins the torch draws too."""
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


@torch.no_grad()
def generate(
    model: TinyLM,
    prompts: Sequence[Sequence[int]],
    rng: np.random.Generator,
    *,
    max_new_tokens: int | None = None,
    temperature: float = 1.0,
    eos_id: int = 2,
    use_cache: bool = True,
) -> list[list[int]]:
    """Sample one completion per prompt: a list of ids, ending with ``eos_id`` unless cut at the limit.

    ``temperature`` divides the logits (1 samples the model's own distribution, below 1 sharpens it, 0 takes
    the most likely token). Prompts of the same length are sampled together (no padding needed, so the causal
    attention stays exact); ``max_new_tokens`` defaults to what the block size leaves after the longest prompt.
    The result depends only on ``rng`` and the model, and is the same with or without the cache."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature!r} is not allowed: expected a number >= 0")
    block = model.config.block_size
    longest = max(len(p) for p in prompts)
    limit = block - longest if max_new_tokens is None else min(max_new_tokens, block - longest)
    if limit < 1:
        raise ValueError(f"a prompt of {longest} tokens leaves no room in block_size={block}")
    g = _torch_generator(rng)
    out: list[list[int]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    was_training = model.training
    model.eval()
    for length in sorted(by_length):
        rows = by_length[length]
        ids = torch.tensor([list(prompts[i]) for i in rows], dtype=torch.long)
        done = torch.zeros(len(rows), dtype=torch.bool)
        logits, _, cache = model(ids)
        for _ in range(limit):
            step = logits[:, -1]
            if temperature == 0:
                nxt = step.argmax(-1)
            else:
                nxt = torch.multinomial(F.softmax(step / temperature, dim=-1), 1, generator=g).squeeze(1)
            for j, i in enumerate(rows):
                if not done[j]:
                    out[i].append(int(nxt[j]))
            done |= nxt == eos_id
            if bool(done.all()):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            logits, _, cache = model(nxt[:, None], cache) if use_cache else model(ids)
    model.train(was_training)
    return out


def pad_batch(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``ids [B, T]`` of prompt + completion, ``prompt_len [B]`` and ``completion_len [B]``.

    Right padding keeps every real token at its true position, so ``is_causal`` attention is exact and the
    pads (after all real tokens) change nothing before them."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions: expected one each")
    seqs = [list(p) + list(c) for p, c in zip(prompts, completions)]
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return (ids, torch.tensor([len(p) for p in prompts]), torch.tensor([len(c) for c in completions]))


def completion_logprobs(
    model: TinyLM, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of each completion given its prompt, and the padding mask.

    Returns ``token_logprobs [B, L]`` (L = longest completion; entry ``[b, j]`` is log pi(c_j | prompt, c_<j),
    0 where padded) and ``mask [B, L]`` (True on real completion tokens). ``token_logprobs.sum(1)`` is
    log pi(completion | prompt). Gradients flow (no ``no_grad`` here): PPO and DPO train through it."""
    ids, p_len, c_len = pad_batch(prompts, completions, pad_id)
    logits, _, _ = model(ids)
    logp = F.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # [B, T-1]: of ids[:, t+1]
    L = int(c_len.max()) if len(c_len) else 0
    j = torch.arange(max(L, 1))
    mask = j[None, :] < c_len[:, None]
    pos = (p_len[:, None] - 1 + j[None, :]).clamp(max=logp.shape[1] - 1)  # completion token j sits at p_len + j
    token_logprobs = logp.gather(1, pos) * mask
    return token_logprobs[:, :L], mask[:, :L]


def features(
    model: TinyLM,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int = 0,
    *,
    pool: str = "last",
) -> torch.Tensor:
    """One feature vector per completion for a reward head: ``[B, d_model]``.

    ``pool="last"``: the last hidden state at the completion's final token (its last prompt token if empty); by
    then the causal model has read the whole prompt and completion. ``pool="mean"``: the mean of the hidden
    states over the completion's tokens (the last prompt token if empty), which keeps what each word said
    (the reward model of :mod:`rlhf_lite.lm.reward` reads this). Gradients flow, so a reward model may
    fine-tune the LM under its head."""
    if pool not in ("last", "mean"):
        raise ValueError(f"pool={pool!r} is not allowed: expected one of 'last', 'mean'")
    ids, p_len, c_len = pad_batch(prompts, completions, pad_id)
    _, hidden, _ = model(ids)
    if pool == "last":
        last = p_len + c_len - 1
        return hidden[torch.arange(len(last)), last]
    t = torch.arange(ids.shape[1])
    start = torch.where(c_len > 0, p_len, p_len - 1)
    inside = ((t[None, :] >= start[:, None]) & (t[None, :] < (p_len + c_len.clamp(min=1))[:, None])).float()
    return (hidden * inside[..., None]).sum(1) / inside.sum(1, keepdim=True)


def completion_states(
    model: TinyLM, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hidden state each completion token was sampled from, and the padding mask.

    Returns ``states [B, L, d_model]`` (entry ``[b, j]`` is the final hidden state at the position that predicts
    completion token j, i.e. after the prompt and tokens ``< j``: the "state" of token j as an action) and
    ``mask [B, L]``. A value head reads these (PPO's critic, one value per token)."""
    ids, p_len, c_len = pad_batch(prompts, completions, pad_id)
    _, hidden, _ = model(ids)
    L = int(c_len.max()) if len(c_len) else 0
    j = torch.arange(max(L, 1))
    mask = j[None, :] < c_len[:, None]
    pos = (p_len[:, None] - 1 + j[None, :]).clamp(max=ids.shape[1] - 1)
    states = hidden.gather(1, pos[..., None].expand(-1, -1, hidden.shape[-1])) * mask[..., None]
    return states[:, :L], mask[:, :L]


class CheckpointError(ValueError):
    """A model checkpoint is missing, damaged or does not match its config; the message names the file."""


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save(model: TinyLM, tokenizer: Tokenizer, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``<path>.pt`` (the state dict, ``torch.save``) and ``<path>.json`` (config, tokenizer words and
    ``meta``: say there what made the file, e.g. the command and seed). Returns the ``.pt`` path."""
    if len(tokenizer) != model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {len(tokenizer)} words but the model's vocab_size is {model.config.vocab_size}"
        )
    weights, config = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k != "head.weight"}  # tied
    torch.save(state, weights)
    record = {
        "format": "rlhf_lite.lm.model/1",
        "weights": weights.name,
        "config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "meta": meta or {},
    }
    config.write_text(json.dumps(record, indent=1) + "\n")
    return weights


def load(path: str | Path) -> tuple[TinyLM, Tokenizer, dict[str, Any]]:
    """Read a checkpoint written by :func:`save` (``torch.load(weights_only=True)``): ``(model, tokenizer,
    meta)``, the model in eval mode. Raises :class:`CheckpointError` naming the file for anything wrong."""
    weights, config = _paths(path)
    try:
        record = json.loads(config.read_text())
        cfg = LMConfig(**record["config"])
        tokenizer = Tokenizer(record["tokenizer"]["words"])
    except FileNotFoundError as e:
        raise CheckpointError(f"{config}: model config file not found") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{config}: not a tiny-LM config file ({type(e).__name__}: {e})") from e
    if len(tokenizer) != cfg.vocab_size:
        raise CheckpointError(f"{config}: tokenizer has {len(tokenizer)} words but vocab_size={cfg.vocab_size}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointError(f"{weights}: model weights file not found") from e
    except Exception as e:  # a truncated or foreign file: torch raises several kinds
        raise CheckpointError(f"{weights}: damaged or not a torch state dict ({type(e).__name__}: {e})") from e
    model = TinyLM(cfg)
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights}: expected a state dict, got {type(state).__name__}")
    if "tok_emb.weight" in state:
        state = dict(state, **{"head.weight": state["tok_emb.weight"]})  # the tied output layer
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise CheckpointError(f"{weights}: weights do not match the config in {config.name} ({e})") from e
    model.eval()
    return model, tokenizer, dict(record.get("meta", {}))
