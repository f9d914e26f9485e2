"""SAMoRA on the testbed family (arXiv 2604.19048; docs/GATES.md section 2): one adapter whose every adapted weight
has one shared A, E expert B matrices, a semantic router (the cosine of A x against E learned keys, over a
temperature) and a task-adaptive scale, trained on all three domains at once from the family's committed base, then
written as the adapter-mixture GGUF that molora's patch 0012 runs (adapter.type = samora).

    .cache/testbed-venv/bin/python testbed/samora.py [--seconds 900]

Per token and per adapted weight W (out x in), as the authors' `SALinear.forward` computes it (dropout off, as the
family's LoRAs train):

    h   = A x                                  A: r x in
    g   = softmax_e( cos(h, lambda_e) / T )     lambda_e: r, T = 0.8
    u   = s * h                                s: r (a per-rank scale)
    y   = W x + tau(task) sum_e g_e B_e u      B_e: out x r   (alpha / r is not applied: the authors' code does not)
    tau(task) = sigmoid(emb[task] . w)         emb: n_task x 8, w: 8; an unseen task: sigmoid(mean_t emb[t] . w)

The task of a training row is its domain (code, prose, math: the authors' task ids are their benchmarks). Training
adds the authors' regulariser per adapted weight: 1e-3 (mean((A A^T - I)^2) + mean((B_e^T B_e - I)^2)) + 1e-2
KL(Q || P) between the softmaxes of the normalised keys and of the normalised mean rows of the B_e.

The GGUF holds, per weight X, with everything folded exactly: X.lora_a (A), X.lora_b (the E blocks B_e diag(s) side
by side, ne = [r*E, out], column block e = expert e; Q and K rows permuted as convert_hf_to_gguf.py permutes the
base's), X.samora_keys (lambda_e / (max(|lambda_e|, 1e-12) T), ne = [r, E]) and X.samora_tau (the n_task + 1 values
of tau, the last for an unseen task, ne = [n_task + 1]), all F32; adapter.lora.alpha = 0 (llama.cpp then applies no
alpha / r), adapter.samora.tasks names the tasks.

Stages, each skipped when its output exists (--work, default .cache/testbed-samora):
  train     on the mixture of the LoRA adapters' training data (comol.training_streams: the same rows CoMoL saw),
            each row with its domain's task id; the state with the lowest mean loss over the domains' valid splits
            (each with its own task) kept
  export    models/testbed/testbed-samora.gguf
  evaluate  PyTorch perplexity on testbed-eval.jsonl with the unseen-task scale (what a router that is not told the
            domain gets), with each per-domain set's own task, and with every expert weighted 1/E (the check that
            the gate is what molora must reproduce) -> models/testbed/samora.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import List, Union

import torch
from torch import nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpora  # noqa: E402
import tok  # noqa: E402
import train  # noqa: E402
import mixture  # noqa: E402
from comol import training_streams  # noqa: E402
from config import DOMAINS, LoraConfig, ModelConfig, TrainConfig  # noqa: E402
from stages import RunLog  # noqa: E402
from ttlora import TARGETS, base_from_gguf  # noqa: E402

ROOT = HERE.parent
FAMILY = ROOT / "models" / "testbed"
RANK = 16           # r 16 with 3 expert Bs: per square weight as many parameters as one of the family's rank-32 LoRAs
EXPERTS = 3         # E, the authors' --num_B
TEMPERATURE = 0.8   # the authors' --temperature in every script
TASK_DIM = 8        # the task embedding's width in SALinear
UNSEEN = -1         # the authors' lambda_index for a task not trained on
ORTH_WEIGHT, KL_WEIGHT = 1e-3, 1e-2


class Task:
    """The task id the SAMoRA layers of one model read: an int for every row, or a LongTensor (batch,), -1 = unseen."""
    current: Union[int, torch.Tensor] = UNSEEN


class SAMoRALinear(nn.Module):
    """A frozen linear layer plus SAMoRA's update (the module's doc); uniform=True weighs every expert 1/E."""

    def __init__(self, base: nn.Linear, task: Task, n_task: int, rank: int = RANK, experts: int = EXPERTS):
        super().__init__()
        self.base, self.task = base, task
        for p in base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lambdas = nn.Parameter(torch.empty(experts, rank))
        self.b = nn.Parameter(torch.zeros(experts, base.out_features, rank))   # the update is 0 at the start
        self.s = nn.Parameter(torch.ones(rank))
        self.task_embedding = nn.Parameter(torch.randn(n_task, TASK_DIM))         # nn.Embedding's N(0, 1)
        self.task_gate = nn.Parameter(torch.empty(TASK_DIM, 1))
        for p in (self.a, self.lambdas, self.task_gate):
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))
        self.uniform = False

    def gate(self, h: torch.Tensor) -> torch.Tensor:
        if self.uniform:
            e = self.lambdas.shape[0]
            return torch.full((*h.shape[:-1], e), 1.0 / e, dtype=h.dtype, device=h.device)
        return torch.softmax(F.normalize(h, dim=-1) @ F.normalize(self.lambdas, dim=-1).t() / TEMPERATURE, dim=-1)

    def tau_table(self) -> torch.Tensor:
        """tau for each trained task, then for an unseen one (the sigmoid of the mean logit, as forward_new)."""
        logits = (self.task_embedding @ self.task_gate).squeeze(-1)               # (n_task,)
        return torch.sigmoid(torch.cat([logits, logits.mean().unsqueeze(0)]))

    def tau(self, ndim: int) -> torch.Tensor:
        table = self.tau_table()
        t = self.task.current
        if isinstance(t, int):
            return table[t]                                                       # -1: the unseen entry, last
        return table[t].reshape(-1, *([1] * (ndim - 1)))                          # one per row

    def forward(self, x):
        h = x @ self.a.t()                                                       # (.., r)
        g = self.gate(h)                                                         # (.., E)
        u = h * self.s
        experts = torch.einsum("...i,eoi->...eo", u, self.b)                     # B_e u for each e: (.., E, out)
        return self.base(x) + self.tau(x.dim()) * (g.unsqueeze(-1) * experts).sum(dim=-2)

    def regulariser(self) -> torch.Tensor:
        eye = torch.eye(self.a.shape[0])
        orth_a = ((self.a @ self.a.t() - eye) ** 2).mean()
        orth_b = ((self.b.transpose(1, 2) @ self.b - eye) ** 2).mean()
        p = torch.log_softmax(F.normalize(self.lambdas, dim=-1), dim=-1)
        q = torch.softmax(F.normalize(self.b.mean(dim=1), dim=-1), dim=-1)
        kl = F.kl_div(p, q, reduction="batchmean")
        return ORTH_WEIGHT * (orth_a + orth_b) + KL_WEIGHT * kl


PARAMS = ("a", "lambdas", "b", "s", "task_embedding", "task_gate")


def attach(model, task: Task, n_task: int) -> List[nn.Parameter]:
    return [getattr(m, k) for m in mixture.attach(model, lambda base: SAMoRALinear(base, task, n_task))
            for k in PARAMS]


def samora_layers(model):
    return mixture.wrapped(model, SAMoRALinear)


def folded(mod: SAMoRALinear, name: str, m: ModelConfig):
    """The four tensors of one weight as the GGUF holds them (numpy, torch's row-major shapes)."""
    with torch.no_grad():
        b = torch.cat([mod.b[e] * mod.s for e in range(mod.b.shape[0])], dim=1).double().numpy()   # (out, r*E)
        lam = mod.lambdas.double()
        keys = (lam / lam.norm(dim=-1, keepdim=True).clamp_min(1e-12) / TEMPERATURE).numpy()      # (E, r)
        return {"lora_a": mod.a.double().numpy(), "lora_b": mixture.output_rows(b, name, m), "samora_keys": keys,
                "samora_tau": mod.tau_table().double().numpy()}


def export_gguf(model, path: Path, llama_src: Path) -> None:
    m = ModelConfig()
    tensors = ((mixture.tensor_name(i, name, suffix), t) for i, name, mod in samora_layers(model)
               for suffix, t in folded(mod, name, m).items())
    mixture.write_gguf(path, llama_src, "samora", "testbed-samora",
                       {"adapter.lora.alpha": 0.0, "adapter.samora.tasks": list(DOMAINS),
                        "adapter.samora.temperature": TEMPERATURE}, tensors)


class TaskSampler(train.Sampler):
    """train.Sampler that sets each row's task id (its stream's domain) before the model sees the batch."""

    def __init__(self, streams, weights, seq_len: int, seed: int, task: Task):
        super().__init__(streams, weights, seq_len, seed)
        self.task = task

    def batch(self, batch_size: int, dev: torch.device):
        x, y = super().batch(batch_size, dev)
        self.task.current = torch.tensor([DOMAINS.index(n.split("-")[0]) for n in self.last], device=dev)
        return x, y


def perplexities(model, task: Task, eval_sets, own_task: bool) -> dict:
    out = {}
    for s, recs in sorted(eval_sets.items()):
        task.current = DOMAINS.index(s) if own_task and s in DOMAINS else UNSEEN
        out[s] = round(train.perplexity(model, recs)["ppl"], 4)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".cache" / "testbed-samora"))
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

    record_path = FAMILY / "samora.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}
    params_path = work / "samora.safetensors"
    gguf_path = FAMILY / "testbed-samora.gguf"
    from safetensors.torch import load_file, save_file

    c, t = LoraConfig(), TrainConfig()
    torch.manual_seed(c.seed)
    model = base_from_gguf(FAMILY / "testbed-base.gguf", ModelConfig())
    task = Task()
    params = attach(model, task, len(DOMAINS))
    if not params_path.exists():
        sp = tok.load(FAMILY / "testbed-tokenizer.model")
        streams, weights, valid, described = training_streams(Path(args.pipeline_work), sp)
        log(f"samora: {sum(p.numel() for p in params):,} trainable parameters (rank {RANK}, {EXPERTS} experts, "
            f"T {TEMPERATURE}); streams {json.dumps(described)}")
        sampler = TaskSampler(streams, weights, t.seq_len, c.seed, task)
        layers = [mod for _, _, mod in samora_layers(model)]

        def eval_fn():
            v = {}
            for d in DOMAINS:
                task.current = DOMAINS.index(d)
                v.update(train.valid_loss(model, {d: valid[d]}, t.seq_len, c.batch_size, t.seed))
            v["mean"] = round(sum(v[d] for d in DOMAINS) / len(DOMAINS), 4)
            log(f"  valid loss {v}")
            return v

        t0 = time.time()
        stats = train.train_loop(model, params, sampler, lr=c.lr, warmup=c.warmup_steps, min_lr_ratio=0.1,
                                 weight_decay=0.0, grad_clip=t.grad_clip, batch_size=c.batch_size,
                                 max_steps=c.max_steps, max_seconds=args.seconds, log=log, eval_fn=eval_fn,
                                 eval_every=c.eval_every, select="mean",
                                 extra_loss=lambda: sum(mod.regulariser() for mod in layers))
        save_file({f"{i}.{n}.{k}": getattr(mod, k).detach().contiguous() for i, n, mod in samora_layers(model)
                   for k in PARAMS}, str(params_path))
        record = {"rank": RANK, "experts": EXPERTS, "temperature": TEMPERATURE, "tasks": list(DOMAINS),
                  "targets": list(TARGETS), "lr": c.lr, "batch_size": c.batch_size,
                  "regulariser": {"orth": ORTH_WEIGHT, "kl": KL_WEIGHT},
                  "seconds_budget": args.seconds, "train_seconds": round(time.time() - t0, 1), "streams": described,
                  "training": {k: stats[k] for k in ("steps", "selected") if k in stats},
                  "trainable_parameters": sum(p.numel() for p in params)}
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        saved = load_file(str(params_path))
        with torch.no_grad():
            for i, n, mod in samora_layers(model):
                for k in PARAMS:
                    getattr(mod, k).copy_(saved[f"{i}.{n}.{k}"])
    model.eval()
    if not gguf_path.exists():
        export_gguf(model, gguf_path, Path(args.llama_src))
        log(f"wrote {gguf_path}")
    if "perplexity_pytorch" not in record:
        eval_sets = corpora.read_eval_sets(FAMILY / "testbed-eval.jsonl")
        with torch.no_grad():
            record["perplexity_pytorch"] = perplexities(model, task, eval_sets, own_task=False)
            record["perplexity_pytorch_own_task"] = perplexities(model, task, eval_sets, own_task=True)
            for mod in (mod for _, _, mod in samora_layers(model)):
                mod.uniform = True
            record["perplexity_pytorch_uniform_gate"] = perplexities(model, task, eval_sets, own_task=False)
            for mod in (mod for _, _, mod in samora_layers(model)):
                mod.uniform = False
        for k in ("perplexity_pytorch", "perplexity_pytorch_own_task", "perplexity_pytorch_uniform_gate"):
            log(f"samora {k}: {record[k]}")
        record["gguf"] = gguf_path.name
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
