#!/usr/bin/env python3
"""The family's code and prose adapters retrained for documents that mix them (issue 22).

run.py's adapters learn each domain from its pool alone: Python source for code, Python-ecosystem prose for prose.
On natural documents (package READMEs with fenced examples, natural.py) that leaves nothing for a router to win:
the code adapter is the best there on the prose spans too, and none is much better than the base on the examples
(docs/records/routers-natural-adapters-2026-12-07.md). This stage retrains those two adapters from the committed
base, each with half of its training rows drawn from the natural TRAIN windows' lines of its own label
(natural.label_lines: fences, indented blocks and doctests are code, the rest prose), the other half from its pool as
before. Everything else is run.py's lora stage: the config's lora section and seeds, the same time budget, the state
kept by the loss on the domain's pool VALID split. The natural eval and valid documents never enter: the train
windows are the ones natural.py --train-out wrote after removing every window sharing a line, paragraph or word run
with them, and their hashes are checked against that manifest here. The math adapter is left as it is (the natural
documents have almost no arithmetic lines).

    .cache/testbed-venv/bin/python testbed/natural_adapters.py --work .cache/testbed-work --family models/testbed \\
        --llama-src .cache/llama-src          # about 25 minutes on the 2-core box

Writes testbed-lora-{code,prose}.gguf into the family and records the training in manifest.json (files, training,
perplexity_pytorch, and a "natural_adapters" section). Without the pipeline's hf-base directory in --work (a family
copied from elsewhere), the base is rebuilt from testbed-base.gguf and checked against the manifest's PyTorch
perplexities of the f16-rounded base.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from config import TestbedConfig  # noqa: E402

DOMAINS = ("code", "prose")
NATURAL_SHARE = 0.5            # of each adapter's training rows
MIN_RUN_CHARS = {"code": 20, "prose": 40}


def kind_of(lines: List[str]) -> str:
    """The window's markup, which the window files do not record: Markdown if it has a fence, else reST if it has a
    directive or a literal-block marker, else Markdown."""
    import natural
    if any(natural._FENCE.match(line) for line in lines):
        return "md"
    if any(line.rstrip().endswith("::") or line.lstrip().startswith(".. ") for line in lines):
        return "rst"
    return "md"


def natural_runs(train_dir: Path, domain: str) -> List[Dict]:
    """Each run of consecutive lines labelled `domain` in each train window, as a document ({"text"})."""
    import natural
    man = json.loads((train_dir / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for row in man["window_files"]:
        text = (train_dir / row["file"]).read_text(encoding="utf-8")
        if natural.sha256_text(text) != row["sha256"]:
            raise SystemExit(f"{train_dir / row['file']}: not the window natural.py's manifest records")
        lines = text.split("\n")
        run: List[str] = []
        for line, lab in zip(lines + [""], natural.label_lines(lines, kind_of(lines)) + ["-"]):
            if lab == domain:
                run.append(line)
                continue
            t = "\n".join(run).strip("\n") if domain == "code" else "\n".join(run).strip()
            if len(t) >= MIN_RUN_CHARS[domain]:
                out.append({"text": t})
            run = []
    return out


def hf_base(work: Path, family: Path, manifest: Dict, log) -> Path:
    """The pipeline's hf-base, or one rebuilt from the family's GGUF (llama: q/k rows permuted back)."""
    if (work / "hf-base" / "config.json").is_file():
        return work / "hf-base"
    import numpy as np
    import torch
    import train
    from gguf import GGUFReader
    cfg = TestbedConfig()
    m = cfg.model
    reader = GGUFReader(str(family / "testbed-base.gguf"))
    t = {x.name: torch.from_numpy(np.array(x.data).astype(np.float32)) for x in reader.tensors}
    vocab = t["token_embd.weight"].shape[0]

    def unpermute(w, n_head):
        return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"],
          "lm_head.weight": t.get("output.weight", t["token_embd.weight"])}
    names = {"self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
             "post_attention_layernorm": "ffn_norm"}
    for i in range(m.num_hidden_layers):
        sd[f"model.layers.{i}.self_attn.q_proj.weight"] = unpermute(t[f"blk.{i}.attn_q.weight"], m.num_attention_heads)
        sd[f"model.layers.{i}.self_attn.k_proj.weight"] = unpermute(t[f"blk.{i}.attn_k.weight"], m.num_key_value_heads)
        for hf, gg in names.items():
            sd[f"model.layers.{i}.{hf}.weight"] = t[f"blk.{i}.{gg}.weight"]
    model = train.new_model(m, vocab, 0)
    model.load_state_dict(sd, strict=True)
    records = [json.loads(line) for line in (family / "testbed-eval.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    want = manifest["perplexity_pytorch"]["base-f16-rounded"]
    for s in ("code", "prose"):
        got = train.perplexity(model.eval(), [r for r in records if r["set"] == s])["ppl"]
        if abs(got / want[s] - 1) > 1e-3:
            raise SystemExit(f"base rebuilt from the GGUF: {s} perplexity {got:.4f}, the manifest has {want[s]}")
        log(f"base rebuilt from testbed-base.gguf: {s} perplexity {got:.4f} (manifest, f16-rounded: {want[s]})")
    out = work / "hf-base-from-gguf"
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(HERE.parent / ".cache" / "testbed-work"))
    ap.add_argument("--family", default=str(HERE.parent / "models" / "testbed"))
    ap.add_argument("--llama-src", default=str(HERE.parent / ".cache" / "llama-src"))
    ap.add_argument("--domains", default=",".join(DOMAINS))
    ap.add_argument("--max-seconds", type=int, help="per adapter (default: the config's lora.max_seconds_per_domain)")
    args = ap.parse_args(argv)
    work, family, src = Path(args.work), Path(args.family), Path(args.llama_src)
    sys.path.insert(0, str(src / "gguf-py"))
    import convert
    import corpora
    from manifest import sha256_of
    import tok
    import train

    log = lambda s: print(s, flush=True)  # noqa: E731
    cfg = TestbedConfig()
    if args.max_seconds:
        cfg.lora.max_seconds_per_domain = args.max_seconds
    manifest = json.loads((family / "manifest.json").read_text(encoding="utf-8"))
    base = hf_base(work, family, manifest, log)
    sp = tok.load(family / "testbed-tokenizer.model")
    corpus = corpora.Corpus.read(work / "corpora")
    valid = {d: train.tokenize_docs(sp, corpus.docs[d]["valid"]) for d in corpus.docs}
    records = [json.loads(line) for line in (family / "testbed-eval.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    train_man = work / "natural-train" / "manifest.json"
    section = {"what": __doc__.split("\n\n")[1].replace("\n", " "), "natural_share": NATURAL_SHARE,
               "natural_train_manifest_sha256": sha256_of(train_man), "domains": {}}
    precision = manifest["training"]["lora-prose"].get("precision", "fp32")
    for d in args.domains.split(","):
        runs = natural_runs(work / "natural-train", d)
        nat = train.tokenize_docs(sp, runs)
        pool = train.tokenize_docs(sp, corpus.docs[d]["train"])
        log(f"{d}: {len(runs)} natural runs, {sum(len(r['text']) for r in runs):,} chars, {nat.size:,} tokens; "
            f"pool {pool.size:,} tokens")
        t0 = time.time()
        out_dir = work / f"lora-{d}-natural"
        stats = train.train_lora(base, pool, valid, d, cfg.lora, cfg.train, out_dir, log, precision=precision,
                                 extra=(nat, NATURAL_SHARE))
        gguf = family / f"testbed-lora-{d}.gguf"
        convert.run_cmd(convert.lora_to_gguf_cmd(src, out_dir, base, gguf, cfg.export.lora_outtype), log,
                        cfg.export.convert_max_seconds)
        import peft
        model = peft.PeftModel.from_pretrained(train.load_hf(base), str(out_dir)).eval()
        ppl = {s: train.perplexity(model, [r for r in records if r["set"] == s]) for s in ("code", "prose", "math", "mixed")}
        manifest["perplexity_pytorch"][f"lora-{d}"] = {s: round(v["ppl"], 4) for s, v in ppl.items()}
        manifest["perplexity_pytorch_detail"][f"lora-{d}"] = ppl
        manifest["training"][f"lora-{d}"] = stats
        for f in manifest["files"]:
            if f["file"] == gguf.name:
                f["sha256"], f["bytes"] = sha256_of(gguf), gguf.stat().st_size
        section["domains"][d] = {"natural_runs": len(runs), "natural_chars": sum(len(r["text"]) for r in runs),
                                 "natural_tokens": int(nat.size), "pool_tokens": int(pool.size),
                                 "seconds": round(time.time() - t0, 1)}
        manifest["natural_adapters"] = section
        (family / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        log(f"{d}: {gguf} written; PyTorch perplexities {manifest['perplexity_pytorch'][f'lora-{d}']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
