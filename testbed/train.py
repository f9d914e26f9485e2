"""The PyTorch side: tokenised corpora, the Llama base model, PEFT LoRAs, Hugging Face export, perplexity.

Imported only by the stages that need it (torch, transformers, peft, numpy exist on the device machine).
Perplexity protocol (the one molora's runtime must reproduce): for each eval record, ids = [BOS] + tokens
(<= seq_len); the model predicts ids[1:] from their prefixes; ppl = exp(sum of NLL / number predicted),
summed over all records of a set.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from config import DOMAINS, LoraConfig, ModelConfig, TrainConfig
from tok import BOS, EOS


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment() -> Dict:
    import platform
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "device": "cpu"}
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


def train_loop(model, params, sampler: Sampler, *, lr: float, warmup: int, min_lr_ratio: float, weight_decay: float,
               grad_clip: float, batch_size: int, max_steps: int, max_seconds: float, log: Callable[[str], None],
               eval_fn: Optional[Callable[[], Dict]] = None, eval_every: int = 0) -> Dict:
    """AdamW with warmup + cosine; the schedule is laid over min(max_steps, steps that fit in max_seconds),
    estimated from the step time once 20 steps have run."""
    dev = device()
    model.to(dev).train()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt_kwargs = {"fused": True} if dev.type == "cuda" else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), **opt_kwargs)
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    total = max_steps
    t0 = time.time()
    t5 = None
    history = []
    step = 0

    def now() -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.time()

    planned = False
    while step < total:
        if step == 5:
            t5 = now()
        if max_seconds > 0 and not planned and step > 5 and (step == 25 or time.time() - t0 > 0.2 * max_seconds):
            per_step = (now() - t5) / (step - 5)
            total = max(step + 1, min(max_steps, int((max_seconds - (now() - t0)) / per_step) + step))
            planned = True
            log(f"  {per_step * 1000:.1f} ms/step -> {total} steps")
        if max_seconds > 0 and time.time() - t0 > max_seconds * 1.15:
            log(f"  over the time budget at step {step}; stopping")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, lr, warmup, min_lr_ratio)
        x, y = sampler.batch(batch_size, dev)
        with autocast:
            logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        step += 1
        if step % 50 == 0 or step == total:
            lv = loss.item()
            history.append({"step": step, "loss": round(lv, 4), "seconds": round(time.time() - t0, 1)})
            if step % 200 == 0 or step == total:
                log(f"  step {step}/{total} loss {lv:.3f} ({time.time() - t0:.0f} s)")
        if eval_fn and eval_every and step % eval_every == 0:
            history.append({"step": step, "eval": eval_fn()})
            model.train()
    model.eval()
    return {"steps": step, "seconds": round(time.time() - t0, 1), "tokens": step * batch_size * sampler.seq_len,
            "final_loss": next((h["loss"] for h in reversed(history) if "loss" in h), None),
            "history": history}


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
             t: TrainConfig, log) -> tuple:
    model = new_model(m, vocab_size, t.seed)
    log(f"  base model: {n_params(model):,} parameters")
    sampler = Sampler(streams, t.mixture, t.seq_len, t.seed)

    def eval_fn():
        v = valid_loss(model, valid, t.seq_len, t.batch_size, t.seed)
        log(f"  valid loss {v}")
        return v

    stats = train_loop(model, list(model.parameters()), sampler, lr=t.lr, warmup=t.warmup_steps,
                       min_lr_ratio=t.min_lr_ratio, weight_decay=t.weight_decay, grad_clip=t.grad_clip,
                       batch_size=t.batch_size, max_steps=t.max_steps, max_seconds=t.max_seconds, log=log,
                       eval_fn=eval_fn, eval_every=t.eval_every)
    stats["valid_loss"] = valid_loss(model, valid, t.seq_len, t.batch_size, t.seed)
    stats["parameters"] = n_params(model)
    return model.cpu(), stats


def peft_config(c: LoraConfig):
    import peft
    return peft.LoraConfig(r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, target_modules=list(c.target_modules),
                           bias="none", task_type="CAUSAL_LM")


def train_lora(base_dir: Path, stream: np.ndarray, valid: Dict[str, np.ndarray], domain: str, c: LoraConfig,
               t: TrainConfig, out_dir: Path, log) -> Dict:
    """One adapter on one domain's train stream; saves adapter_config.json + adapter_model.safetensors."""
    import peft
    torch.manual_seed(c.seed)
    model = peft.get_peft_model(load_hf(base_dir), peft_config(c))
    trainable = [p for p in model.parameters() if p.requires_grad]
    log(f"  lora {domain}: {sum(p.numel() for p in trainable):,} trainable parameters")
    seed = c.seed + DOMAINS.index(domain) if domain in DOMAINS else c.seed
    sampler = Sampler({domain: stream}, {domain: 1.0}, t.seq_len, seed)
    stats = train_loop(model, trainable, sampler, lr=c.lr, warmup=c.warmup_steps, min_lr_ratio=0.1,
                       weight_decay=0.0, grad_clip=t.grad_clip, batch_size=c.batch_size, max_steps=c.max_steps,
                       max_seconds=c.max_seconds_per_domain, log=log)
    stats["valid_loss"] = valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)
    log(f"  valid loss {stats['valid_loss']}")
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
