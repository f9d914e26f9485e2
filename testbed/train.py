"""The PyTorch side: tokenised corpora, the Llama base model, PEFT LoRAs, Hugging Face export, perplexity.

Imported only by the stages that need it (torch, transformers, peft, numpy exist on the device machine).
Perplexity protocol (the one molora's runtime must reproduce): for each eval record, ids = [BOS] + tokens
(<= seq_len); the model predicts ids[1:] from their prefixes; ppl = exp(sum of NLL / number predicted),
summed over all records of a set.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from budget import OVERRUN, planned_steps
from config import DOMAINS, LoraConfig, ModelConfig, TrainConfig
from tok import BOS, EOS


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(n: int = 0) -> int:
    """torch's intra-op threads: n, or every core when n is 0."""
    n = n or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def autocast(dev: torch.device, precision: str):
    """bf16 autocast (fp32 master weights, fp32 loss) when precision is "bf16", else a no-op context."""
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def measure_throughput(m: ModelConfig, vocab_size: int, t: TrainConfig, log) -> Dict:
    """Tokens/s of full training steps (forward, backward, AdamW) of the base at its batch shape, on random
    tokens, for fp32 and bf16 autocast (interleaved, best of two rounds each) when t.precision is "auto", else
    for t.precision alone; "precision" is the faster one. The base's step count is derived from it."""
    dev = device()
    precisions = ["fp32", "bf16"] if t.precision == "auto" else [t.precision]
    model = new_model(m, vocab_size, t.seed).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(t.seed)
    x = torch.randint(3, vocab_size, (t.batch_size, t.seq_len + 1), generator=g).to(dev)
    per_round = max(0.5, t.throughput_seconds / 2)
    best: Dict[str, float] = {p: 0.0 for p in precisions}

    def step(p: str) -> None:
        with autocast(dev, p):
            logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        (loss + extra_loss() if extra_loss is not None else loss).backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        for p in precisions:
            step(p)                      # warm-up (kernel selection, allocator)
            n, t0 = 0, time.time()
            while n < 2 or time.time() - t0 < per_round:
                step(p)
                n += 1
            tps = n * t.batch_size * t.seq_len / (time.time() - t0)
            best[p] = max(best[p], tps)
    chosen = max(best, key=lambda p: best[p])
    log("  throughput (tokens/s, base training steps): "
        + ", ".join(f"{p} {v:,.0f}" for p, v in best.items()) + f" -> {chosen}")
    return {"tokens_per_s": {p: round(v, 1) for p, v in best.items()}, "precision": chosen,
            "threads": torch.get_num_threads(), "batch_size": t.batch_size, "seq_len": t.seq_len,
            "device": str(dev)}


def environment() -> Dict:
    import platform
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "device": "cpu", "threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count()}
    for mod in ("transformers", "peft", "sentencepiece", "numpy", "safetensors"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - recorded as absent
            env[mod] = None
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
    return env


# ---------------------------------------------------------------- data

def tokenize_docs(sp, docs: Sequence[Dict]) -> np.ndarray:
    """One stream: BOS ids EOS per document, uint16."""
    texts = [d["text"] for d in docs]
    out: List[int] = []
    for ids in sp.encode(texts):
        out.append(BOS)
        out.extend(ids)
        out.append(EOS)
    return np.asarray(out, dtype=np.uint16)


def write_token_streams(sp, corpus, pools: Sequence[str], out_dir: Path) -> tuple:
    """The train and valid stream of each pool as out_dir/POOL.SPLIT.npy; returns (paths, {POOL.SPLIT: tokens})."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    for d in pools:
        for split in ("train", "valid"):
            arr = tokenize_docs(sp, corpus.docs[d][split])
            p = out_dir / f"{d}.{split}.npy"
            np.save(p, arr)
            paths.append(p)
            counts[f"{d}.{split}"] = int(arr.size)
    return paths, counts


class Sampler:
    """Random windows of seq_len + 1 tokens; the domain of each row drawn by mixture weight."""

    def __init__(self, streams: Dict[str, np.ndarray], weights: Dict[str, float], seq_len: int, seed: int):
        self.names = [d for d in sorted(streams) if weights.get(d, 0) > 0 and len(streams[d]) > seq_len + 1]
        if not self.names:
            raise ValueError("no token stream is long enough for one window")
        w = np.asarray([weights[d] for d in self.names], dtype=np.float64)
        self.p = w / w.sum()
        self.streams = {d: torch.from_numpy(streams[d].astype(np.int64)) for d in self.names}
        self.seq_len = seq_len
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int, dev: torch.device):
        doms = self.rng.choice(len(self.names), size=batch_size, p=self.p)
        self.last = [self.names[k] for k in doms]    # each row's stream, for callers that condition on it
        rows = []
        for k in doms:
            s = self.streams[self.names[k]]
            o = int(self.rng.integers(0, len(s) - self.seq_len - 1))
            rows.append(s[o:o + self.seq_len + 1])
        x = torch.stack(rows).to(dev, non_blocking=True)
        return x[:, :-1], x[:, 1:]


# ---------------------------------------------------------------- model

def llama_config(m: ModelConfig, vocab_size: int):
    from transformers import LlamaConfig
    kw = {} if m.rope_theta == 10000.0 else {"rope_theta": m.rope_theta}   # 10000 is LlamaConfig's default
    return LlamaConfig(vocab_size=vocab_size, hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
                       num_hidden_layers=m.num_hidden_layers, num_attention_heads=m.num_attention_heads,
                       num_key_value_heads=m.num_key_value_heads, max_position_embeddings=m.max_position_embeddings,
                       rms_norm_eps=m.rms_norm_eps, tie_word_embeddings=m.tie_word_embeddings,
                       hidden_act="silu", attention_bias=False, mlp_bias=False,
                       bos_token_id=BOS, eos_token_id=EOS, pad_token_id=None, use_cache=False, **kw)


def new_model(m: ModelConfig, vocab_size: int, seed: int):
    from transformers import LlamaForCausalLM
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(m, vocab_size))
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def save_hf(model, tokenizer_model: Path, out_dir: Path) -> List[Path]:
    """config.json + model.safetensors + tokenizer.model + tokenizer_config.json: what convert_hf_to_gguf.py reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.architectures = ["LlamaForCausalLM"]
    model.save_pretrained(str(out_dir), safe_serialization=True)
    shutil.copyfile(tokenizer_model, out_dir / "tokenizer.model")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(
        {"add_bos_token": True, "add_eos_token": False, "model_max_length": model.config.max_position_embeddings},
        indent=2) + "\n", encoding="utf-8")
    return sorted(p for p in out_dir.iterdir() if p.is_file())


def load_hf(model_dir: Path):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(str(model_dir)).float()   # saved in fp32; .float() whatever the default


# ---------------------------------------------------------------- training

def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class TrainingPaused(Exception):
    """A checkpointed training loop stopped at its Checkpoint's deadline; running the stage again resumes it."""

    def __init__(self, step: int, total: int, path: Path):
        super().__init__(f"paused at step {step} of {total}; checkpoint {path}: run the same command again to resume")
        self.step, self.total, self.path = step, total, path


class Checkpoint:
    """Where and how often a long training loop saves its whole state (model, optimizer, data sampler, RNGs, step,
    history, elapsed time), so that it resumes mid-run after an interruption — kill -9 included: the file is
    written beside and renamed over the previous one. `key` names the run it belongs to (a checkpoint of another
    config is refused rather than resumed). `stop_at` (time.time()) pauses the loop there: save, then raise
    TrainingPaused."""

    def __init__(self, path: Path, key: str, every_seconds: float = 300.0, stop_at: Optional[float] = None,
                 stop_after_steps: Optional[int] = None):
        self.path, self.key, self.every_seconds = Path(path), key, every_seconds
        self.stop_at, self.stop_after_steps = stop_at, stop_after_steps

    def load(self) -> Optional[Dict]:
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("key") != self.key:
            raise RuntimeError(f"{self.path} is a checkpoint of another run ({state.get('key')} != {self.key}): "
                               "delete it to start over")
        return state

    def save(self, state: Dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({"key": self.key, **state}, tmp)
        os.replace(tmp, self.path)

    def due_to_stop(self, step: int) -> bool:
        return (self.stop_at is not None and time.time() >= self.stop_at) or \
            (self.stop_after_steps is not None and step >= self.stop_after_steps)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def train_loop(model, params, sampler: Sampler, *, lr: float, warmup: int, min_lr_ratio: float, weight_decay: float,
               grad_clip: float, batch_size: int, max_steps: int, max_seconds: float, log: Callable[[str], None],
               eval_fn: Optional[Callable[[], Dict]] = None, eval_every: int = 0, precision: str = "fp32",
               select: Optional[str] = None, log_every: int = 100, checkpoint: Optional[Checkpoint] = None,
               extra_loss: Optional[Callable[[], torch.Tensor]] = None) -> Dict:
    """AdamW with warmup + cosine over `total` steps: max_steps to begin with (the caller's plan), cut down to
    the steps that still fit in max_seconds at the pace measured after 20 steps and then every 100 (the
    machine may be shared), and raised again, up to max_steps, when the pace recovers. With `select`, eval_fn's value for that key picks the best
    evaluated state (of `params`), which is restored at the end. With `checkpoint` (runs without a time budget
    and without `select`), the loop resumes from the checkpoint's state, saves every checkpoint.every_seconds and
    pauses (TrainingPaused) at its deadline; a resumed run takes the same steps on the same batches as an
    uninterrupted one. `extra_loss` (a parameter-only regulariser) is added to the cross-entropy that is minimised;
    the logged loss stays the cross-entropy."""
    if checkpoint is not None and (select or max_seconds > 0):
        raise ValueError("a checkpointed loop runs a fixed number of steps: no time budget, no best-state selection")
    dev = device()
    model.to(dev).train()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt_kwargs = {"fused": True} if dev.type == "cuda" else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), **opt_kwargs)
    total = max_steps
    t0 = time.time()
    history = []
    step = 0
    mark = None            # (step, time) the pace is measured from
    best = None            # (value, step, state)
    plans = []
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["optimizer"])
        sampler.rng.bit_generator.state = resumed["sampler_rng"]
        torch.set_rng_state(resumed["torch_rng"])
        step, history = resumed["step"], resumed["history"]
        t0 = time.time() - resumed["seconds"]
        history.append({"step": step, "resumed": True, "seconds": round(resumed["seconds"], 1)})
        log(f"  resumed from {checkpoint.path} at step {step}/{total} ({resumed['seconds'] / 60:.1f} min trained)")
    saved_at = time.time()

    def save_checkpoint() -> None:
        nonlocal saved_at
        checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "sampler_rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                         "step": step, "history": history, "seconds": time.time() - t0})
        saved_at = time.time()

    def now() -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.time()

    def evaluate() -> None:
        nonlocal best
        v = eval_fn()
        history.append({"step": step, "eval": v})
        if select and isinstance(v, dict) and select in v and (best is None or v[select] < best[0]):
            best = (v[select], step, [p.detach().clone() for p in params])
        model.train()

    while step < total:
        if step == 5:
            mark = (step, now())
        if max_seconds > 0 and mark and (step == 25 or (step > 25 and step % 100 == 0)):
            per_step = (now() - mark[1]) / (step - mark[0])
            fit = step + int((max_seconds - (now() - t0)) / per_step)
            if fit != total or not plans:
                new_total = max(step + 1, min(max_steps, fit))
                plans.append({"step": step, "ms_per_step": round(per_step * 1000, 1), "total": new_total})
                if new_total != total or len(plans) == 1:
                    log(f"  {per_step * 1000:.0f} ms/step ({batch_size * sampler.seq_len / per_step:,.0f} tokens/s)"
                        f" at step {step} -> {new_total} steps, about {new_total * per_step / 60:.1f} min")
                total = new_total
            if step >= 125:
                mark = (step, now())   # the pace of the last 100 steps from here on
        if max_seconds > 0 and time.time() - t0 > max_seconds * OVERRUN:
            log(f"  over the time budget at step {step}; stopping")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, lr, warmup, min_lr_ratio)
        x, y = sampler.batch(batch_size, dev)
        with autocast(dev, precision):
            logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        (loss + extra_loss() if extra_loss is not None else loss).backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        step += 1
        if step % 50 == 0 or step == total:
            lv = loss.item()
            history.append({"step": step, "loss": round(lv, 4), "lr": round(opt.param_groups[0]["lr"], 7),
                            "seconds": round(time.time() - t0, 1)})
            if step % log_every == 0 or step == total:
                el = time.time() - t0
                log(f"  step {step}/{total} loss {lv:.3f} ({el:.0f} s, ~{el / step * (total - step) / 60:.1f} min left)")
        if eval_fn and eval_every and step % eval_every == 0 and step < total:
            evaluate()
        if checkpoint is not None and step < total:
            if checkpoint.due_to_stop(step):
                save_checkpoint()
                log(f"  paused at step {step}/{total}; state saved to {checkpoint.path}")
                raise TrainingPaused(step, total, checkpoint.path)
            if time.time() - saved_at >= checkpoint.every_seconds:
                save_checkpoint()
    if eval_fn and select:
        evaluate()                       # the final state competes too
    seconds = time.time() - t0
    out = {"steps": step, "seconds": round(seconds, 1), "tokens": step * batch_size * sampler.seq_len,
           "tokens_per_s": round(step * batch_size * sampler.seq_len / max(seconds, 1e-9), 1),
           "precision": precision, "plans": plans,
           "final_loss": next((h["loss"] for h in reversed(history) if "loss" in h), None),
           "history": history}
    if select and best is not None:
        with torch.no_grad():
            for p, v in zip(params, best[2]):
                p.copy_(v)
        out["selected"] = {"by": f"valid loss of {select}", "step": best[1], "value": best[0]}
        log(f"  kept the state of step {best[1]} (valid {select} {best[0]})")
    model.eval()
    return out


@torch.no_grad()
def valid_loss(model, streams: Dict[str, np.ndarray], seq_len: int, batch_size: int, seed: int,
               batches: int = 4) -> Dict[str, float]:
    """Mean next-token loss per domain on fixed windows of the valid streams (training curve only)."""
    model.eval()
    dev = device()
    out = {}
    for d in sorted(streams):
        if len(streams[d]) <= seq_len + 1:
            continue
        s = Sampler({d: streams[d]}, {d: 1.0}, seq_len, seed)
        losses = []
        for _ in range(batches):
            x, y = s.batch(batch_size, dev)
            logits = model(input_ids=x).logits.float()
            losses.append(float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))))
        out[d] = round(sum(losses) / len(losses), 4)
    return out


def pretrain(streams: Dict[str, np.ndarray], valid: Dict[str, np.ndarray], vocab_size: int, m: ModelConfig,
             t: TrainConfig, log, throughput: Optional[Dict] = None, steps: Optional[int] = None,
             checkpoint: Optional[Checkpoint] = None) -> tuple:
    """The base on t.mixture; steps planned from the measured throughput (measure_throughput) and the budget —
    or exactly `steps` (no time budget), resumable through `checkpoint`."""
    throughput = throughput or {"tokens_per_s": {}, "precision": "fp32" if t.precision == "auto" else t.precision}
    precision = throughput["precision"]
    tps = throughput["tokens_per_s"].get(precision, 0.0)
    max_seconds = 0 if steps else t.max_seconds
    steps = steps or planned_steps(t.max_steps, t.max_seconds, tps, t.batch_size, t.seq_len)
    model = new_model(m, vocab_size, t.seed)
    log(f"  base model: {n_params(model):,} parameters; {precision}, {tps:,.0f} tokens/s measured -> {steps} steps "
        f"({steps * t.batch_size * t.seq_len:,} tokens)" + (f" in {t.max_seconds} s" if max_seconds else ""))
    sampler = Sampler(streams, t.mixture, t.seq_len, t.seed)

    def eval_fn():
        v = valid_loss(model, valid, t.seq_len, t.batch_size, t.seed)
        log(f"  valid loss {v}")
        return v

    stats = train_loop(model, list(model.parameters()), sampler, lr=t.lr, warmup=t.warmup_steps,
                       min_lr_ratio=t.min_lr_ratio, weight_decay=t.weight_decay, grad_clip=t.grad_clip,
                       batch_size=t.batch_size, max_steps=steps, max_seconds=max_seconds, log=log,
                       eval_fn=eval_fn, eval_every=t.eval_every, precision=precision, checkpoint=checkpoint)
    stats["valid_loss"] = valid_loss(model, valid, t.seq_len, t.batch_size, t.seed)
    log(f"  valid loss {stats['valid_loss']}")
    stats["parameters"] = n_params(model)
    stats["planned_steps"] = steps
    stats["mixture"] = dict(t.mixture)
    return model.cpu(), stats


def peft_config(c: LoraConfig):
    import peft
    return peft.LoraConfig(r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, target_modules=list(c.target_modules),
                           bias="none", task_type="CAUSAL_LM")


def train_lora(base_dir: Path, stream: np.ndarray, valid: Dict[str, np.ndarray], domain: str, c: LoraConfig,
               t: TrainConfig, out_dir: Path, log, precision: str = "fp32",
               extra: Optional[Tuple[np.ndarray, float]] = None) -> Dict:
    """One adapter on one domain's train stream; saves adapter_config.json + adapter_model.safetensors.
    Steps: as many as fit in c.max_seconds_per_domain at the pace measured in the first steps. The adapter
    kept is the evaluated state (every c.eval_every steps, and the last) with the lowest loss on the domain's
    valid split (never the test split). extra = (stream, share): that share of the training rows drawn from a
    second stream (natural_adapters.py: the natural train windows' lines of the domain's label)."""
    import peft
    torch.manual_seed(c.seed)
    model = peft.get_peft_model(load_hf(base_dir), peft_config(c))
    trainable = [p for p in model.parameters() if p.requires_grad]
    log(f"  lora {domain}: {sum(p.numel() for p in trainable):,} trainable parameters")
    seed = c.seed + DOMAINS.index(domain) if domain in DOMAINS else c.seed
    if extra is None:
        sampler = Sampler({domain: stream}, {domain: 1.0}, t.seq_len, seed)
    else:
        sampler = Sampler({domain: stream, "extra": extra[0]}, {domain: 1.0 - extra[1], "extra": extra[1]},
                          t.seq_len, seed)

    def eval_fn():
        v = valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)
        log(f"  valid loss {v}")
        return v

    log(f"  before training: valid loss {valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)}")
    stats = train_loop(model, trainable, sampler, lr=c.lr, warmup=c.warmup_steps, min_lr_ratio=0.1,
                       weight_decay=0.0, grad_clip=t.grad_clip, batch_size=c.batch_size, max_steps=c.max_steps,
                       max_seconds=c.max_seconds_per_domain, log=log, eval_fn=eval_fn, eval_every=c.eval_every,
                       precision=precision, select=domain)
    stats["valid_loss"] = next(h["eval"] for h in reversed(stats["history"])
                               if h.get("step") == stats["selected"]["step"] and "eval" in h) \
        if stats.get("selected") else valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().save_pretrained(str(out_dir), safe_serialization=True)
    for need in ("adapter_config.json", "adapter_model.safetensors"):
        if not (out_dir / need).is_file():
            raise RuntimeError(f"PEFT did not write {need} in {out_dir}")
    stats["trainable_parameters"] = sum(p.numel() for p in trainable)
    return stats


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def perplexity(model, records: Sequence[Dict], batch_size: int = 32) -> Dict:
    """fp32, no autocast: the numbers molora's runtime is checked against."""
    dev = device()
    model.to(dev).eval()
    nll, count = 0.0, 0
    recs = sorted(records, key=lambda r: len(r["ids"]))
    for i in range(0, len(recs), batch_size):
        chunk = recs[i:i + batch_size]
        n = max(len(r["ids"]) for r in chunk)
        ids = torch.zeros((len(chunk), n), dtype=torch.long)
        mask = torch.zeros((len(chunk), n), dtype=torch.long)
        for j, r in enumerate(chunk):
            ids[j, :len(r["ids"])] = torch.tensor(r["ids"])
            mask[j, :len(r["ids"])] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = ids[:, 1:]
        tok_nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        valid = mask[:, 1:].bool()
        nll += float(tok_nll[valid].double().sum())
        count += int(valid.sum())
    return {"ppl": math.exp(nll / count) if count else float("nan"), "nll_sum": nll, "tokens": count,
            "records": len(records)}


def evaluate_all(base_dir: Path, lora_dirs: Dict[str, Path], eval_sets: Dict[str, List[Dict]], log) -> Dict:
    """Perplexity of base and each adapter on every eval set: {model: {set: {...}}}."""
    import peft
    out: Dict[str, Dict] = {}
    base = load_hf(base_dir)
    out["base"] = {s: perplexity(base, recs) for s, recs in sorted(eval_sets.items())}
    log("  base: " + ", ".join(f"{s} {v['ppl']:.3f}" for s, v in out["base"].items()))
    for domain, d in sorted(lora_dirs.items()):
        model = peft.PeftModel.from_pretrained(load_hf(base_dir), str(d))
        out[f"lora-{domain}"] = {s: perplexity(model, recs) for s, recs in sorted(eval_sets.items())}
        log(f"  lora-{domain}: " + ", ".join(f"{s} {v['ppl']:.3f}" for s, v in out[f"lora-{domain}"].items()))
    # the same base with weights rounded to f16 (what an f16 GGUF holds): the cross-check's PyTorch side
    half = load_hf(base_dir).half().float()
    out["base-f16-rounded"] = {s: perplexity(half, recs) for s, recs in sorted(eval_sets.items())}
    return out
