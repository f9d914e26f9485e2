"""CoMoL on the testbed family (Core Space Mixture of LoRA, arXiv 2603.00573; docs/GATES.md section 1): one adapter
whose every adapted weight has one LoRA pair, E core matrices in the pair's low-rank space and a router over that
space, trained on all three domains at once from the family's committed base, then written as the adapter-mixture
GGUF that molora's patch 0011 runs (adapter.type = comol).

    .cache/testbed-venv/bin/python testbed/comol.py [--seconds 900]

Per token and per adapted weight W (out x in), as the authors' code computes it at inference (dropouts off):

    h = A x                      A: r x in
    g = softmax(R h)             R: E x r       (a dense softmax over all E cores, no top-k)
    y = W x + s B (sum_e g_e C_e)^T h           C_e: r x r, B: out x r, s = alpha / r = 1

(the core multiplies h as a row vector, h^T C, hence the transpose). The GGUF holds, per weight X, X.lora_a (A),
X.lora_b (B; Q and K rows permuted as convert_hf_to_gguf.py permutes the base's), X.comol_router (R) and
X.comol_core (M, ne = [r*E, r], M[i + e*r, j] = C_e[i, j]), all F32, adapter.lora.alpha = r.

Stages, each skipped when its output exists (--work, default .cache/testbed-comol):
  train     the adapter on the mixture of the LoRA adapters' training data (each domain's pool; for code and prose
            half of that domain's rows from the natural train windows' lines of its label, as natural_adapters.py
            trains those two LoRAs), the state with the lowest mean loss over the domains' valid splits kept
  export    models/testbed/testbed-comol.gguf
  evaluate  PyTorch perplexity on testbed-eval.jsonl with the learned gate and, as the check that the gate is what
            molora must reproduce, with every core weighted 1/E -> models/testbed/comol.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpora  # noqa: E402
import tok  # noqa: E402
import train  # noqa: E402
from config import DOMAINS, LoraConfig, ModelConfig, TrainConfig  # noqa: E402
from stages import RunLog  # noqa: E402
import mixture  # noqa: E402
from natural_adapters import NATURAL_SHARE, natural_runs  # noqa: E402
from ttlora import TARGETS, base_from_gguf  # noqa: E402

ROOT = HERE.parent
FAMILY = ROOT / "models" / "testbed"
RANK = 32           # the family's LoRA rank
CORES = 4           # E (the paper's runs: 8 at rank 16 on 8B models)
PARAMS = ("a", "b", "cores", "router")


class CoMoLLinear(nn.Module):
    """A frozen linear layer plus CoMoL's update (the module's doc); uniform=True weighs every core 1/E."""

    def __init__(self, base: nn.Linear, rank: int = RANK, cores: int = CORES):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(rank, base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))            # the update is 0 at the start
        self.cores = nn.Parameter(torch.empty(cores, rank, rank))
        self.router = nn.Parameter(torch.empty(cores, rank))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        for c in self.cores:
            nn.init.kaiming_uniform_(c, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.router, a=math.sqrt(5))                  # nn.Linear(r, E)'s default
        self.uniform = False

    def gate(self, h: torch.Tensor) -> torch.Tensor:
        if self.uniform:
            return torch.full((*h.shape[:-1], self.cores.shape[0]), 1.0 / self.cores.shape[0], dtype=h.dtype,
                              device=h.device)
        return torch.softmax(h @ self.router.t(), dim=-1)

    def forward(self, x):
        h = x @ self.a.t()                                                   # (.., r)
        g = self.gate(h)                                                     # (.., E)
        hc = torch.einsum("...i,eij->...ej", h, self.cores)                  # h^T C_e for each e: (.., E, r)
        u = (g.unsqueeze(-1) * hc).sum(dim=-2)                               # h^T sum_e g_e C_e
        return self.base(x) + u @ self.b.t()                                 # s = alpha / r = 1


def attach(model) -> List[nn.Parameter]:
    return [getattr(m, k) for m in mixture.attach(model, CoMoLLinear) for k in PARAMS]


def comol_layers(model):
    return mixture.wrapped(model, CoMoLLinear)


def export_gguf(model, path: Path, llama_src: Path) -> None:
    m = ModelConfig()

    def tensors():
        for i, name, mod in comol_layers(model):
            yield mixture.tensor_name(i, name, "lora_a"), mod.a.detach().numpy()
            yield mixture.tensor_name(i, name, "lora_b"), mixture.output_rows(mod.b.detach().numpy(), name, m)
            yield mixture.tensor_name(i, name, "comol_router"), mod.router.detach().numpy()
            # numpy (r, r*E) is ggml ne = [r*E, r]: row j, column i + e*r holds C_e[i, j]
            yield (mixture.tensor_name(i, name, "comol_core"),
                   np.concatenate([c.T for c in mod.cores.detach().numpy()], axis=1))

    mixture.write_gguf(path, llama_src, "comol", "testbed-comol", {"adapter.lora.alpha": float(RANK)}, tensors())


def training_streams(work: Path, sp) -> Tuple[Dict[str, np.ndarray], Dict[str, float], Dict[str, np.ndarray], Dict]:
    """The union of the family's LoRA adapters' training rows, each domain a third."""
    corpus = corpora.Corpus.read(work / "corpora")
    streams, weights, described = {}, {}, {}
    for d in DOMAINS:
        streams[d] = train.tokenize_docs(sp, corpus.docs[d]["train"])
        natural = natural_runs(work / "natural-train", d) if d in ("code", "prose") else []
        if natural:
            streams[f"{d}-natural"] = train.tokenize_docs(sp, natural)
            weights[d], weights[f"{d}-natural"] = (1 - NATURAL_SHARE) / 3, NATURAL_SHARE / 3
        else:
            weights[d] = 1 / 3
    for k, s in streams.items():
        described[k] = {"tokens": int(s.size), "share": round(weights[k], 4)}
    valid = {d: train.tokenize_docs(sp, corpus.docs[d]["valid"]) for d in DOMAINS}
    return streams, weights, valid, described


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".cache" / "testbed-comol"))
    ap.add_argument("--pipeline-work", default=str(ROOT / ".cache" / "testbed-work"),
                    help="the pipeline's work directory: its corpora and natural-train windows")
    ap.add_argument("--llama-src", default=str(ROOT / ".cache" / "llama-src"))
    ap.add_argument("--seconds", type=int, default=900, help="training budget (default 900)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train.set_threads(args.threads)
    log = RunLog(work / "run.log")

    base_path = FAMILY / "testbed-base.gguf"
    record_path = FAMILY / "comol.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}
    params_path = work / "comol.safetensors"
    gguf_path = FAMILY / "testbed-comol.gguf"
    from safetensors.torch import load_file, save_file

    c, t = LoraConfig(), TrainConfig()
    torch.manual_seed(c.seed)
    model = base_from_gguf(base_path, ModelConfig())
    params = attach(model)
    if not params_path.exists():
        sp = tok.load(FAMILY / "testbed-tokenizer.model")
        streams, weights, valid, described = training_streams(Path(args.pipeline_work), sp)
        log(f"comol: {sum(p.numel() for p in params):,} trainable parameters (rank {RANK}, {CORES} cores); "
            f"streams {json.dumps(described)}")
        sampler = train.Sampler(streams, weights, t.seq_len, c.seed)

        def eval_fn():
            v = train.valid_loss(model, valid, t.seq_len, c.batch_size, t.seed)
            v["mean"] = round(sum(v[d] for d in DOMAINS) / len(DOMAINS), 4)
            log(f"  valid loss {v}")
            return v

        t0 = time.time()
        stats = train.train_loop(model, params, sampler, lr=c.lr, warmup=c.warmup_steps, min_lr_ratio=0.1,
                                 weight_decay=0.0, grad_clip=t.grad_clip, batch_size=c.batch_size,
                                 max_steps=c.max_steps, max_seconds=args.seconds, log=log, eval_fn=eval_fn,
                                 eval_every=c.eval_every, select="mean")
        save_file({f"{i}.{n}.{k}": getattr(mod, k).detach().contiguous() for i, n, mod in comol_layers(model)
                   for k in PARAMS}, str(params_path))
        record = {"rank": RANK, "cores": CORES, "targets": list(TARGETS), "lr": c.lr, "batch_size": c.batch_size,
                  "seconds_budget": args.seconds, "train_seconds": round(time.time() - t0, 1), "streams": described,
                  "training": {k: stats[k] for k in ("steps", "selected") if k in stats},
                  "trainable_parameters": sum(p.numel() for p in params)}
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        saved = load_file(str(params_path))
        with torch.no_grad():
            for i, n, mod in comol_layers(model):
                for k in PARAMS:
                    getattr(mod, k).copy_(saved[f"{i}.{n}.{k}"])
    model.eval()
    if not gguf_path.exists():
        export_gguf(model, gguf_path, Path(args.llama_src))
        log(f"wrote {gguf_path}")
    if "perplexity_pytorch" not in record:
        eval_sets = corpora.read_eval_sets(FAMILY / "testbed-eval.jsonl")
        for key, uniform in (("perplexity_pytorch", False), ("perplexity_pytorch_uniform_gate", True)):
            for _, _, mod in comol_layers(model):
                mod.uniform = uniform
            record[key] = {s: round(train.perplexity(model, recs)["ppl"], 4) for s, recs in sorted(eval_sets.items())}
            log(f"comol {key}: {record[key]}")
        record["gguf"] = gguf_path.name
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
