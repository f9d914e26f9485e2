#!/usr/bin/env python3
"""Routers for the testbed family, trained by molora itself (`molora train-router`) on the TRAIN splits only.

    python3 testbed/routers.py --work .cache/testbed-work --family models/testbed

1. Router corpora from the pipeline's corpora (never the test split): mixed lines built from the train split (as the
   eval set's mixed lines are built from the test split) plus train documents of each domain, unlabelled; and the
   train documents of each domain, labelled by domain.
2. `molora train-router` for each kind (unlabelled --corpus, labelled --domain) and each feature set (token,
   token+hidden); the feature set kept per kind is the one with the lower NLL on mixed lines built from the VALID
   split (the eval set is never looked at).
3. The chosen routers go to the family as router-unlabelled.gguf and router-labelled.gguf, the hand-written vocabulary
   router (testbed/vocab-router.json) as vocab-router.json, and what was tried and measured to routers.json.

Needs only the system python3 (no torch) and ./molora.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import corpora  # noqa: E402
import mixed  # noqa: E402
from config import DOMAINS  # noqa: E402

KINDS = ("unlabelled", "labelled")
FEATURES = ("token", "token+hidden")


def write_docs(directory: Path, texts: List[str]) -> None:
    """One file per text, so that each starts with BOS as the eval records do."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for i, t in enumerate(texts):
        (directory / f"{i:05d}.txt").write_text(t, encoding="utf-8")


def domain_texts(corpus, domain: str, split: str, max_chars: int) -> List[str]:
    out, total = [], 0
    for d in corpus.docs[domain][split]:
        if total >= max_chars:
            break
        out.append(d["text"])
        total += len(d["text"])
    return out


def build_corpora(corpus, root: Path, seed: int, mixed_lines: int, domain_chars: int) -> Dict:
    """The routers' training text (train split) and the selection set (valid split); returns their description."""
    train_mixed = mixed.build(corpus, seed + 11, mixed_lines, split="train")
    domains = {d: domain_texts(corpus, d, "train", domain_chars) for d in DOMAINS}
    # unlabelled: mixed lines and pure documents together, no labels (the trainer's targets come from per-token loss)
    write_docs(root / "unlabelled", [m["text"] for m in train_mixed] + [t for d in DOMAINS for t in domains[d]])
    for d in DOMAINS:
        write_docs(root / "labelled" / d, domains[d])
    # a small slice of that training text ships with the family: the suite trains a router on it
    (root / "train-slice.txt").write_text("\n".join(m["text"] for m in train_mixed[:240]) + "\n", encoding="utf-8")
    valid = mixed.build(corpus, seed + 13, max(40, mixed_lines // 4), split="valid")
    corpora.write_jsonl(root / "valid-mixed.jsonl", [dict(m, set="valid-mixed") for m in valid])
    return {"train_mixed_lines": len(train_mixed), "train_domain_docs": {d: len(v) for d, v in domains.items()},
            "train_domain_chars": {d: sum(map(len, v)) for d, v in domains.items()},
            "valid_mixed_lines": len(valid), "seed": seed}


def run(cmd: List[str], log) -> str:
    log("$ " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[1]} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    log(f"  ({time.time() - t0:.0f} s)")
    return p.stdout


def family_args(family: Path) -> List[str]:
    args = ["-m", str(family / "testbed-base.gguf")]
    for d in DOMAINS:
        args += ["--lora", f"{d}={family / f'testbed-lora-{d}.gguf'}"]
    return args


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=".cache/testbed-work", help="the pipeline's work directory (its corpora)")
    ap.add_argument("--family", default="models/testbed", help="the family's directory (GGUFs in, routers out)")
    ap.add_argument("--molora", default=str(HERE.parent / "molora"))
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--mixed-lines", type=int, default=800)
    ap.add_argument("--domain-chars", type=int, default=150_000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    work, family = Path(args.work), Path(args.family)
    log = lambda m: print(m, flush=True)  # noqa: E731

    corpus = corpora.Corpus.read(work / "corpora")
    root = work / "router-corpus"
    description = build_corpora(corpus, root, args.seed, args.mixed_lines, args.domain_chars)
    log(f"router corpora: {json.dumps(description)}")
    base = family_args(family) + ["-t", str(args.threads)]
    out_dir = work / "routers"
    out_dir.mkdir(parents=True, exist_ok=True)
    tried: Dict[str, Dict] = {}
    chosen: Dict[str, str] = {}
    for kind in KINDS:
        best = None
        for features in FEATURES:
            name = f"{kind}-{features.replace('+', '-')}"
            path = out_dir / f"{name}.gguf"
            source = (["--corpus", str(root / "unlabelled")] if kind == "unlabelled"
                      else [a for d in DOMAINS for a in ("--domain", f"{d}={root / 'labelled' / d}")])
            t0 = time.time()
            run([args.molora, "train-router"] + base + source + ["--features", features, "--epochs", str(args.epochs),
                                                                  "--seed", str(args.seed), "-o", str(path)], log)
            seconds = time.time() - t0
            res = json.loads(run([args.molora, "perplexity"] + base + ["-f", str(root / "valid-mixed.jsonl"),
                                                                       "--router", str(path), "--json"], log))
            s = res["sets"]["valid-mixed"]
            tried[name] = {"kind": kind, "features": features, "train_seconds": round(seconds, 1),
                           "valid_mixed_nll_per_token": s["nll_per_token"], "valid_mixed_perplexity": s["perplexity"],
                           "valid_mixed_label_accuracy": s.get("label_accuracy")}
            log(f"  {name}: valid mixed NLL/token {s['nll_per_token']:.4f}, on label {s.get('label_accuracy')}")
            if best is None or s["nll_per_token"] < tried[best]["valid_mixed_nll_per_token"]:
                best = name
        chosen[kind] = best
        shutil.copyfile(out_dir / f"{best}.gguf", family / f"router-{kind}.gguf")
    shutil.copyfile(HERE / "vocab-router.json", family / "vocab-router.json")
    shutil.copyfile(root / "train-slice.txt", family / "router-train-slice.txt")
    report = {"corpora": description, "tried": tried, "chosen": chosen,
              "selection": "lowest NLL/token on mixed lines built from the valid split (the eval set is not used)",
              "epochs": args.epochs, "seed": args.seed}
    (family / "routers.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log(f"chosen: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
