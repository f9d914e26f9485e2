"""Time budgets, torch-free: steps from a measured throughput, and the pipeline's worst-case training time.

The defaults in config.py are sized for the 2-core CPU box (issue 16): the whole pipeline within 100 minutes of
wall clock, with slack for other processes sharing the cores.
"""
from __future__ import annotations

from config import DOMAINS

# a training loop stops on its own at this multiple of its budget, whatever its plan (train.train_loop)
OVERRUN = 1.15
# corpora, tokenizer, tokens, eval sets, throughput, evaluation, conversion, manifest on the 2-core box,
# measured: about 3 minutes; allowed for here with room to spare
OTHER_STAGES_SECONDS = 6 * 60


def planned_steps(max_steps: int, max_seconds: float, tokens_per_s: float, batch_size: int, seq_len: int) -> int:
    """The steps that fit in max_seconds at tokens_per_s, at most max_steps (max_steps when no time budget)."""
    if max_seconds <= 0 or tokens_per_s <= 0:
        return max_steps
    return max(1, min(max_steps, int(max_seconds * tokens_per_s / (batch_size * seq_len))))


def training_seconds(cfg) -> float:
    """Planned training time: the base's budget plus each adapter's."""
    return cfg.train.max_seconds + len(DOMAINS) * cfg.lora.max_seconds_per_domain


def worst_case_seconds(cfg) -> float:
    """Every training loop at its overrun stop, plus the other stages."""
    return training_seconds(cfg) * OVERRUN + OTHER_STAGES_SECONDS
