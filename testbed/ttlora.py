"""TT-LoRA experts for the testbed family (the experts of TT-LoRA MoE, arXiv 2504.21190): one tensor-train adapter per
domain on the family's committed base, trained on the same domain streams as its LoRA adapters, then written as
llama.cpp LoRA adapters without approximation.

    .cache/testbed-venv/bin/python testbed/ttlora.py --llama-src .cache/llama-src [--seconds 300]

A TT-LoRA layer's update of a weight W (out x in) is a tensor train: out = m_1...m_p and in = n_1...n_q are split
into modes and

    dW[(i_1..i_p), (j_1..j_q)] = alpha * G_1[i_1] ... G_p[i_p] H_1[j_1] ... H_q[j_q]

with cores G_k (r_{k-1} x m_k x r_k) and H_k, ranks r_0 = r_{p+q} = 1. With the output modes first, the train splits at
the boundary between them: the G cores contract to U (out x r_p), the H cores to V (r_p x in), and dW = alpha * U V
exactly, a LoRA of rank r_p. So the experts load in llama.cpp (and molora) as the LoRA adapters they are, through
convert_lora_to_gguf.py from PEFT's format; nothing is truncated. The trainable parameters are the cores only
(a few thousand per layer instead of LoRA's r (in + out)).

Stages, each skipped when its output exists under --work (default .cache/testbed-ttlora):
  base     the family's base from models/testbed/testbed-base.gguf into a transformers model (f16 weights as the
           GGUF holds them; Q and K un-permuted as convert_hf_to_gguf.py permuted them), checked against the
           manifest's PyTorch perplexity of the f16-rounded base
  train    one TT-LoRA expert per domain (--seconds each; the state with the lowest loss on the domain's valid
           stream is kept); the cores saved as tt-{domain}.safetensors
  export   each expert as a PEFT adapter (lora_A = V, lora_B = alpha * U, scale 1), checked against the TT forward,
           then convert_lora_to_gguf.py -> models/testbed/testbed-ttlora-{domain}.gguf
  evaluate PyTorch perplexity of every expert on the eval sets -> models/testbed/ttlora.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402
import molora_cli  # noqa: E402
import train  # noqa: E402
from config import DOMAINS, LoraConfig, ModelConfig, TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "models" / "testbed"
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# the modes of each width of the family's base (hidden 256, FFN 768)
MODES = {256: (4, 8, 8), 768: (8, 8, 12)}
RANK = 8          # every inner TT rank, the boundary one included: the experts are LoRAs of rank 8
ALPHA = 1.0


# ---------------------------------------------------------------- the base from its GGUF

def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of convert_hf_to_gguf.py's LlamaModel.permute for Q and K rows."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(path: Path) -> Dict[str, np.ndarray]:
    """Every tensor of a GGUF file in fp32, numpy's order of dimensions (gguf-py from the llama.cpp tree)."""
    sys.path.insert(0, str(ROOT / ".cache" / "llama-src" / "gguf-py"))
    from gguf import GGUFReader
    return {x.name: np.array(x.data, dtype=np.float32).reshape([int(d) for d in reversed(x.shape)])
            for x in GGUFReader(str(path)).tensors}


def base_from_gguf(path: Path, m: ModelConfig):
    """A LlamaForCausalLM holding the weights of the family's f16 GGUF (in fp32)."""
    from transformers import LlamaForCausalLM
    t = gguf_tensors(path)
    vocab = t["token_embd.weight"].shape[0]
    model = LlamaForCausalLM(train.llama_config(m, vocab)).float()
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    state = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    for i in range(m.num_hidden_layers):
        for g, h in names.items():
            w = t[f"blk.{i}.{g}.weight"]
            if g == "attn_q":
                w = unpermute(w, m.num_attention_heads)
            elif g == "attn_k":
                w = unpermute(w, m.num_key_value_heads)
            state[f"model.layers.{i}.{h}.weight"] = w
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                                 for k, v in state.items()}, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"GGUF -> transformers: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model


# ---------------------------------------------------------------- the TT-LoRA layer

class TTLoRALinear(nn.Module):
    """A frozen linear layer plus a tensor-train update, output modes first (see the module's doc)."""

    def __init__(self, base: nn.Linear, rank: int = RANK, alpha: float = ALPHA):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.out_modes, self.in_modes = MODES[base.out_features], MODES[base.in_features]
        modes = list(self.out_modes) + list(self.in_modes)
        ranks = [1] + [rank] * (len(modes) - 1) + [1]
        self.cores = nn.ParameterList()
        for k, n in enumerate(modes):
            c = torch.randn(ranks[k], n, ranks[k + 1]) / math.sqrt(ranks[k] * n)
            self.cores.append(nn.Parameter(c))
        with torch.no_grad():
            self.cores[0].zero_()   # dW = 0 at the start, as LoRA's B = 0
        self.alpha = alpha

    def factors(self):
        """U (out x r_p) from the output cores and V (r_p x in) from the input ones: dW = alpha U V. Row-major
        flattening of the modes, as W's rows and columns are indexed."""
        p = len(self.out_modes)
        u = self.cores[0].reshape(self.cores[0].shape[1], -1)                # (m1, r1)
        for c in self.cores[1:p]:
            u = (u @ c.reshape(c.shape[0], -1)).reshape(-1, c.shape[2])      # (m1..mk, rk)
        first = self.cores[p]
        v = first.reshape(-1, first.shape[2])                                # (r_p n1, r)
        for c in self.cores[p + 1:]:
            v = (v @ c.reshape(c.shape[0], -1)).reshape(-1, c.shape[2])      # (r_p n1..nk, rk)
        return u, v.reshape(first.shape[0], -1)                              # (r_p, n1..nq)

    def delta(self) -> torch.Tensor:
        """dW itself (out x in), for checks."""
        u, v = self.factors()
        return self.alpha * u @ v

    def forward(self, x):
        u, v = self.factors()
        return self.base(x) + self.alpha * (x @ v.t()) @ u.t()


def attach(model) -> List[nn.Parameter]:
    """Replaces every target projection of every layer by a TTLoRALinear over it; returns the cores."""
    for p in model.parameters():
        p.requires_grad_(False)
    cores = []
    for layer in model.model.layers:
        for owner in (layer.self_attn, layer.mlp):
            for name in TARGETS:
                if hasattr(owner, name):
                    tt = TTLoRALinear(getattr(owner, name))
                    setattr(owner, name, tt)
                    cores.extend(tt.cores)
    return cores


def tt_layers(model):
    for i, layer in enumerate(model.model.layers):
        for part, owner in (("self_attn", layer.self_attn), ("mlp", layer.mlp)):
            for name in TARGETS:
                mod = getattr(owner, name, None)
                if isinstance(mod, TTLoRALinear):
                    yield f"base_model.model.model.layers.{i}.{part}.{name}", mod


# ---------------------------------------------------------------- stages

def train_expert(base_path: Path, domain: str, streams, valid, seconds: int, log, lr: float = None) -> Dict:
    c, t = LoraConfig(), TrainConfig()
    torch.manual_seed(c.seed)
    model = base_from_gguf(base_path, ModelConfig())
    cores = attach(model)
    log(f"  tt-lora {domain}: {sum(p.numel() for p in cores):,} trainable parameters in {len(cores)} cores")
    sampler = train.Sampler({domain: streams[domain]}, {domain: 1.0}, t.seq_len, c.seed + DOMAINS.index(domain))

    def eval_fn():
        v = train.valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)
        log(f"  valid loss {v}")
        return v

    log(f"  before training: valid loss {train.valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)}")
    stats = train.train_loop(model, cores, sampler, lr=lr or c.lr, warmup=c.warmup_steps, min_lr_ratio=0.1,
                             weight_decay=0.0, grad_clip=t.grad_clip, batch_size=c.batch_size, max_steps=c.max_steps,
                             max_seconds=seconds, log=log, eval_fn=eval_fn, eval_every=c.eval_every,
                             select=domain)
    stats["trainable_parameters"] = sum(p.numel() for p in cores)
    return model, stats


def save_cores(model, path: Path) -> None:
    from safetensors.torch import save_file
    save_file({f"{name}.core{k}": c.detach().contiguous() for name, tt in tt_layers(model)
               for k, c in enumerate(tt.cores)}, str(path))


def load_cores(model, path: Path) -> None:
    from safetensors.torch import load_file
    saved = load_file(str(path))
    with torch.no_grad():
        for name, tt in tt_layers(model):
            for k, c in enumerate(tt.cores):
                c.copy_(saved[f"{name}.core{k}"])


def export_peft(model, out_dir: Path) -> None:
    """The experts as PEFT writes a LoRA: lora_A = V (r x in), lora_B = alpha U (out x r), lora_alpha = r."""
    from safetensors.torch import save_file
    tensors = {}
    for name, tt in tt_layers(model):
        u, v = tt.factors()
        tensors[f"{name}.lora_A.weight"] = v.detach().contiguous()
        tensors[f"{name}.lora_B.weight"] = (tt.alpha * u).detach().contiguous()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "adapter_model.safetensors"))
    (out_dir / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": RANK, "lora_alpha": RANK, "lora_dropout": 0.0,
        "bias": "none", "target_modules": list(TARGETS), "fan_in_fan_out": False, "base_model_name_or_path": None,
        "modules_to_save": None, "init_lora_weights": True, "use_rslora": False, "use_dora": False,
    }, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".cache" / "testbed-ttlora"))
    ap.add_argument("--tokens", default=str(ROOT / ".cache" / "testbed-large" / "tokens"),
                    help="the family's token streams ({domain}.train.npy, {domain}.valid.npy)")
    ap.add_argument("--llama-src", default=str(ROOT / ".cache" / "llama-src"))
    ap.add_argument("--seconds", type=int, default=600, help="training budget per expert (default 600, as the "
                    "family's LoRA adapters)")
    ap.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate (default 1e-2: against the LoRA "
                    "adapters' 2e-3, it lowered the code expert's valid loss 3.741 -> 3.688 in 120 s where 2e-3 gave "
                    "3.732; the valid split, never the eval set)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--molora", default=str(ROOT / "molora"))
    ap.add_argument("--corpora", default=str(ROOT / ".cache" / "testbed-large" / "corpora"),
                    help="the family's corpora (their train documents train the router)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train.set_threads(args.threads)
    logf = (work / "run.log").open("a", encoding="utf-8")

    def log(msg: str) -> None:
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    base_path = FAMILY / "testbed-base.gguf"
    manifest = json.loads((FAMILY / "manifest.json").read_text(encoding="utf-8"))
    eval_sets = corpora.read_eval_sets(FAMILY / "testbed-eval.jsonl")
    record_path = FAMILY / "ttlora.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}

    # base: the GGUF's weights give the manifest's PyTorch perplexity of the f16-rounded base
    if "base_check" not in record:
        model = base_from_gguf(base_path, ModelConfig())
        got = {s: round(train.perplexity(model, recs)["ppl"], 4) for s, recs in sorted(eval_sets.items())}
        want = manifest["perplexity_pytorch"]["base-f16-rounded"]
        log(f"base from GGUF: {got} (manifest, f16-rounded base: {want})")
        for s in want:
            if abs(got[s] - want[s]) > 1e-3 * want[s]:
                raise SystemExit(f"the base read from {base_path} is not the family's: {s} {got[s]} vs {want[s]}")
        record["base_check"] = {"perplexity": got, "manifest_f16_rounded": want}

    def save_record() -> None:
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def token_streams():
        """The domains' train and valid streams; the train ones must be the family's (the larger base's run rebuilt
        them from the same corpus)."""
        streams = {d: np.load(Path(args.tokens) / f"{d}.train.npy") for d in DOMAINS}
        valid = {d: np.load(Path(args.tokens) / f"{d}.valid.npy") for d in DOMAINS}
        for d in DOMAINS:
            want = manifest["tokens"][f"{d}.train"]
            if len(streams[d]) != want:
                raise SystemExit(f"{args.tokens}/{d}.train.npy has {len(streams[d])} tokens, the family's {want}")
        return streams, valid

    record.setdefault("experts", {})
    streams = None
    for d in DOMAINS:
        cores_path = work / f"tt-{d}.safetensors"
        gguf_path = FAMILY / f"testbed-ttlora-{d}.gguf"
        rec = record["experts"].setdefault(d, {})
        model = None
        if not cores_path.exists():
            if streams is None:
                streams = token_streams()
            t0 = time.time()
            model, stats = train_expert(base_path, d, *streams, args.seconds, log, lr=args.lr)
            save_cores(model, cores_path)
            rec.clear()
            rec.update({"training": {k: stats[k] for k in ("steps", "selected", "trainable_parameters", "seconds")
                                     if k in stats}, "train_seconds": round(time.time() - t0, 1)})
            save_record()
        if gguf_path.exists() and "perplexity_pytorch" in rec:
            continue
        if model is None:
            model = base_from_gguf(base_path, ModelConfig())
            attach(model)
            load_cores(model, cores_path)
        model.eval()
        if not gguf_path.exists():
            hf_base = work / "hf-base"   # what convert_lora_to_gguf.py reads the base's shape from (--base)
            if not (hf_base / "config.json").exists():
                train.save_hf(base_from_gguf(base_path, ModelConfig()), FAMILY / "testbed-tokenizer.model", hf_base)
            peft_dir = work / f"peft-{d}"
            export_peft(model, peft_dir)
            check_export(model, peft_dir, eval_sets, log)
            import convert
            src = convert.require_llama_src(args.llama_src)
            convert.run_cmd(convert.lora_to_gguf_cmd(src, peft_dir, hf_base, gguf_path, "f16", sys.executable),
                            log, 600)
        if "perplexity_pytorch" not in rec:
            rec["perplexity_pytorch"] = {s: round(train.perplexity(model, recs)["ppl"], 4)
                                         for s, recs in sorted(eval_sets.items())}
            log(f"tt-lora {d}: {rec['perplexity_pytorch']}")
            rec["gguf"] = gguf_path.name
            save_record()
    if "router" not in record:
        record["router"] = train_router(work, args, log)
        save_record()
    if "molora" not in record:
        record["molora"] = evaluate_in_molora(args, record, log)
        save_record()
    if "router_check" not in record:
        record["router_check"] = check_router_choices(work, args, eval_sets, log)
        save_record()
    (ROOT / "docs" / "TTLORA.md").write_text(report(record, args), encoding="utf-8")
    log("wrote docs/TTLORA.md")
    return 0


def report(record: Dict, args) -> str:
    """docs/TTLORA.md from the record (models/testbed/ttlora.json): every figure is the record's."""
    m = record["molora"]["perplexity"]
    sets = ["code", "prose", "math", "mixed"]
    family = json.loads((FAMILY / "manifest.json").read_text(encoding="utf-8"))["perplexity_pytorch"]
    lines = [
        "# TT-LoRA MoE on the testbed family",
        "",
        "Generated by `testbed/ttlora.py` from `models/testbed/ttlora.json`; do not edit by hand.",
        "",
        "TT-LoRA MoE (arXiv 2504.21190) keeps one frozen tensor-train adapter per task and a router that picks one of",
        "them per request from the base model's representation of the input. molora runs it with no code of its own",
        "for the experts: a TT-LoRA update whose output modes come first splits, at the boundary between output and",
        "input modes, into U (out x r) and V (r x in) exactly, so each expert is written as the llama.cpp LoRA adapter it",
        "is (`convert_lora_to_gguf.py` from PEFT's format) and loads with `--lora`. The router is molora's: `molora",
        "train-router --features request` trains a linear gate over the mean of the base's final hidden states over a",
        "text (one base pass), and at run time each request's tokens, prompt and reply, all go to the adapter the gate",
        "picks for its prompt (`complete`, `serve` with model `auto`, `chat` per turn, `perplexity` per record).",
        "",
        "## The experts",
        "",
        f"One per domain on the family's base, every linear projection of every layer (q, k, v, o, gate, up, down);",
        f"modes {MODES[256]} for 256 and {MODES[768]} for 768, TT rank {RANK} (so LoRAs of rank {RANK}); "
        f"{record['experts'][DOMAINS[0]]['training'].get('trainable_parameters', 0):,} trainable parameters each",
        "(the family's LoRA adapters, rank 32: 1,310,720). Trained as the family's LoRA adapters were: the domain's",
        f"train stream, AdamW, {args.seconds} s each on this 2-core box, the state with the lowest loss on the domain's",
        f"valid stream kept; learning rate {args.lr:g} (the LoRA adapters': 2e-3), chosen on the code valid split in",
        "120-s probes (3.741 -> 3.688 against 3.732 with 2e-3). The exported LoRA gives the TT forward's logits exactly",
        "(checked in PyTorch before conversion).",
        "",
        "## Held-out perplexity, measured by `molora perplexity` (testbed-eval.jsonl)",
        "",
        "| routing | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for name in ["base"] + [f"tt-{d} alone" for d in DOMAINS] + ["best of base and each expert, per sequence", "tt-lora moe router"]:
        lines.append(f"| {name} | " + " | ".join(f"{m[name][s]['ppl']:.3f}" for s in sets) + " |")
    lines += ["", "For comparison, the family's LoRA adapters (rank 32) on their own sets, PyTorch: "
              + ", ".join(f"{d} {family[f'lora-{d}'][d]:.3f}" for d in DOMAINS) + "; see docs/TESTBED.md.", ""]
    r = m["tt-lora moe router"]
    acc = ", ".join(f"{s} {100 * r[s]['label_accuracy']:.1f} %" for s in ("code", "prose", "math")
                    if r[s].get("label_accuracy") is not None)
    lines += [f"The router sends each record of a domain set to that domain's expert: {acc} of tokens. Each record is "
              "one request and the router reads the whole of it, as the per-sequence best does. On the mixed set "
              "(lines that mix code, prose and math) one expert per request can do little "
              f"({r['mixed']['ppl']:.3f} against the base's {m['base']['mixed']['ppl']:.3f}): that is what per-token "
              "routing is for (the family's per-token routers on its LoRA adapters: docs/TESTBED.md).", ""]
    lines += ["## Cross-checks", "",
              "| expert | set | PyTorch (TT forward, fp32) | molora (f16 GGUF) | difference |", "|---|---|---|---|---|"]
    for d, per in record["molora"]["experts_molora_vs_pytorch"].items():
        for s in sets:
            x = per[s]
            lines.append(f"| {d} | {s} | {x['pytorch']:.4f} | {x['molora']:.4f} | {x['difference_percent']:+.3f} % |")
    c = record["router_check"]
    lines += ["", f"Router choices: each of the {c['records']} records of the code, prose and math sets as one request "
              f"through `molora complete` against the same gate computed in PyTorch (the f16 base's final hidden "
              f"states, gate weights read from the router file with gguf-py): the same expert on {c['same_choice']} "
              f"of {c['compared']}. PyTorch's choices by set: {json.dumps(c['choices_by_set'])}.", "",
              "## Rerun", "", "    .cache/testbed-venv/bin/python testbed/ttlora.py --seconds "
              f"{args.seconds}   # after the family is built; stages already done are skipped", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- the router, through molora

def experts_args() -> List[str]:
    return molora_cli.family_args(FAMILY, "testbed-ttlora-{}.gguf")


def molora(args, cmd: List[str], log) -> str:
    return molora_cli.run(args.molora, cmd, log)


def train_router(work: Path, args, log) -> Dict:
    """TT-LoRA MoE's router: one expert per request, a linear gate over the mean of the base's final hidden states,
    trained by molora train-router on the train documents of each domain (labelled by domain; never the test split),
    the same documents as the family's labelled router."""
    import routers
    corpus = corpora.Corpus.read(Path(args.corpora))
    root = work / "router-corpus"
    description = routers.build_corpora(corpus, root, 2024, 800, 150_000)
    out = FAMILY / "router-ttlora.gguf"
    t0 = time.time()
    stdout = molora(args, ["train-router"] + experts_args()
                    + [a for d in DOMAINS for a in ("--domain", f"{d}={root / 'labelled' / d}")]
                    + ["--features", "request", "--hidden", "0", "--epochs", "20", "--seed", "2024", "-o", str(out)],
                    log)
    log("  " + stdout.strip())
    return {"file": out.name, "corpora": description["train_domain_docs"], "train_seconds": round(time.time() - t0, 1),
            "training": stdout.strip()}


def evaluate_in_molora(args, record: Dict, log) -> Dict:
    """molora perplexity on the held-out eval set: base, each TT expert alone, the per-sequence best of them, the
    TT-LoRA MoE router (each record one request), and the PyTorch figures of the experts beside molora's."""
    evalf = str(FAMILY / "testbed-eval.jsonl")
    common = experts_args() + ["-f", evalf, "-t", "0", "--json"]
    passes = {"base": json.loads(molora(args, ["perplexity", "-m", str(FAMILY / "testbed-base.gguf"), "-f", evalf,
                                                "-t", "0", "--json", "--token-nll"], log))["sets"]}
    for d in DOMAINS:
        passes[d] = json.loads(molora(args, ["perplexity"] + common + ["--adapter", d, "--token-nll"], log))["sets"]
    routed = json.loads(molora(args, ["perplexity"] + common + ["--router", str(FAMILY / "router-ttlora.gguf")],
                               log))["sets"]
    out: Dict[str, Dict] = {}
    sets = sorted(passes["base"])
    for name, res in [("base", passes["base"])] + [(f"tt-{d} alone", passes[d]) for d in DOMAINS] \
            + [("tt-lora moe router", routed)]:
        out[name] = {s: {"ppl": round(res[s]["perplexity"], 4), "nll_per_token": res[s]["nll_per_token"],
                         "label_accuracy": res[s].get("label_accuracy"), "seconds": res[s]["seconds"],
                         "tokens_decoded": res[s]["tokens_decoded"]} for s in sets}
    best = {}
    for s in sets:
        recs = [passes[c][s]["token_nll"] for c in passes]
        nll = sum(min(sum(r[q]) for r in recs) for q in range(len(recs[0])))
        n = passes["base"][s]["tokens_scored"]
        best[s] = {"ppl": round(math.exp(nll / n), 4), "nll_per_token": nll / n}
    out["best of base and each expert, per sequence"] = best
    cross = {}
    for d in DOMAINS:
        pt = record["experts"][d]["perplexity_pytorch"]
        cross[d] = {s: {"pytorch": pt[s], "molora": out[f"tt-{d} alone"][s]["ppl"],
                        "difference_percent": round(100 * (out[f"tt-{d} alone"][s]["ppl"] / pt[s] - 1), 3)}
                    for s in sets}
    log("molora: " + json.dumps({k: {s: v[s]["ppl"] for s in sets} for k, v in out.items()}))
    return {"perplexity": out, "experts_molora_vs_pytorch": cross}


@torch.no_grad()
def check_router_choices(work: Path, args, eval_sets, log) -> Dict:
    """Each eval record as one request through molora (complete, one token, --show-routes: the adapter its tokens
    get) against the same router computed in PyTorch: the mean of the f16 base's final hidden states over the
    record's tokens, standardised and through the gate's weights read from the router file with gguf-py."""
    t = gguf_tensors(FAMILY / "router-ttlora.gguf")
    log("  router file tensors: " + ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(t.items())))
    if "router.w2" in t:
        raise SystemExit("the router check computes a linear gate; this router has a hidden layer")
    mean, inv_std, b1 = (t[k].reshape(-1) for k in ("router.mean", "router.inv_std", "router.b1"))
    w1 = t["router.w1"]   # (outputs, inputs): a linear gate, rows = none + each expert
    model = base_from_gguf(FAMILY / "testbed-base.gguf", ModelConfig()).eval()
    records = [(s, r) for s in ("code", "prose", "math") for r in eval_sets[s]]
    names = ["none"] + list(DOMAINS)
    torch_choice = {}
    for i, (s, r) in enumerate(records):
        h = model.model(input_ids=torch.tensor([r["ids"]])).last_hidden_state[0]   # after the final norm
        x = (h.mean(dim=0).numpy() - mean) * inv_std
        torch_choice[i] = names[int(np.argmax(w1.reshape(len(names), -1).astype(np.float64) @ x + b1))]
    requests = work / "router-check.jsonl"
    requests.write_text("".join(json.dumps({"custom_id": str(i), "prompt": r["text"], "max_tokens": 1,
                                            "temperature": 0}) + "\n" for i, (s, r) in enumerate(records)),
                        encoding="utf-8")
    results = work / "router-check-out.jsonl"
    molora(args, ["complete"] + experts_args() + ["--router", str(FAMILY / "router-ttlora.gguf"), "--show-routes",
                                                  "--progress", "none", "--no-resume", "-c", "2048", "-o",
                                                  str(results), str(requests)], log)
    molora_choice = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        routes = rec.get("routes") or []
        if routes:
            used = routes[0]["adapters"]
            molora_choice[int(rec["custom_id"])] = used[0] if used else "none"
    same = sum(1 for i in molora_choice if molora_choice[i] == torch_choice[i])
    by_set = {}
    for i, (s, r) in enumerate(records):
        by_set.setdefault(s, {}).setdefault(torch_choice[i], 0)
        by_set[s][torch_choice[i]] += 1
    if len(molora_choice) != len(records):
        log(f"  {len(records) - len(molora_choice)} records gave no token in molora (no route to compare)")
    log(f"  router choices: molora = PyTorch on {same} of {len(molora_choice)} records ({len(records)} asked); "
        f"choices by set: {by_set}")
    return {"records": len(records), "compared": len(molora_choice), "same_choice": same, "choices_by_set": by_set}


@torch.no_grad()
def check_export(model, peft_dir: Path, eval_sets, log) -> None:
    """The PEFT adapter applied by PEFT to the plain base gives the TT forward's logits (fp32 rounding only)."""
    import peft
    plain = base_from_gguf(FAMILY / "testbed-base.gguf", ModelConfig())
    lora = peft.PeftModel.from_pretrained(plain, str(peft_dir)).eval()
    ids = torch.tensor([eval_sets["mixed"][0]["ids"][:128]])
    a, b = model(input_ids=ids).logits, lora(input_ids=ids).logits
    diff = float((a - b).abs().max())
    log(f"  export check: max |TT logits - PEFT LoRA logits| = {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit(f"the exported LoRA does not reproduce the TT expert (max logit difference {diff})")


if __name__ == "__main__":
    sys.exit(main())
