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
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import corpora  # noqa: E402
import mixed  # noqa: E402
import molora_cli  # noqa: E402
from config import DOMAINS  # noqa: E402

KINDS = ("unlabelled", "labelled")
FEATURES = ("token", "token+hidden")
# what an unlabelled router learns (`train-router --objective`): the argmax of the per-token oracle (the original
# recipe), or each choice's loss itself; labelled corpora have targets, not losses, so they learn the oracle's way
OBJECTIVES = ("oracle", "expected-loss", "mixture")
# the switch bonus of the chosen routers (`train-router --switch-bonus`: how much the gate must prefer another adapter
# to change from the previous token's): the largest of these whose mean NLL/token on the selection sets is within
# BONUS_TOLERANCE (relative) of the best of them — fewer flips for what costs almost nothing; rule fixed before any
# bonus was measured
BONUSES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
BONUS_TOLERANCE = 0.005


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


# natural README windows of the train split (testbed/natural.py --train-out): at most this many per project, the
# first by sha256 of their file name (rule fixed before any router trained on them was measured). 3 at first; 6 since
# 2026-12-07, measured on the selection sets only: natural-valid 4.5172 -> 4.5072 for the expected-loss router
# (docs/records/routers-natural-calibration-2026-12-07.md)
NATURAL_PER_PROJECT = 6


def add_natural_train(natural_train: Path, unlabelled: Path) -> Dict:
    """Adds the natural train split's windows to the unlabelled corpus (none of them shares text with natural eval or
    valid: natural.py checks it); returns their description."""
    by_project: Dict[str, List[Path]] = {}
    for f in sorted(natural_train.glob("*.txt")):
        by_project.setdefault(f.name.rsplit(".", 2)[0], []).append(f)
    n = chars = 0
    for _, files in sorted(by_project.items()):
        for f in sorted(files, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())[:NATURAL_PER_PROJECT]:
            text = f.read_text(encoding="utf-8")
            (unlabelled / ("natural-" + f.name)).write_text(text, encoding="utf-8")
            n += 1
            chars += len(text)
    return {"natural_train_projects": len(by_project), "natural_train_windows": n, "natural_train_chars": chars}


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
    ap.add_argument("--unlabelled-features", default=",".join(FEATURES),
                    help="the unlabelled routers' feature sets to try (comma-separated; default: all)")
    ap.add_argument("--objectives", default=",".join(OBJECTIVES),
                    help="the unlabelled routers' objectives to try (comma-separated; default: all)")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="the kinds of router to train (comma-separated; default: all)")
    ap.add_argument("--no-natural", action="store_true",
                    help="select on the template lines' valid split only (as before the natural set)")
    ap.add_argument("--natural-train", default=None,
                    help="the natural train split (natural.py --train-out DIR): its windows join the unlabelled corpus")
    ap.add_argument("--stages", default="train,bonus",
                    help="train (train every router, choose per kind), bonus (choose the chosen routers' switch "
                         "bonus and save them with it); bonus alone reads the last train stage's routers.json")
    args = ap.parse_args(argv)
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    args.objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    args.unlabelled_features = [f.strip() for f in args.unlabelled_features.split(",") if f.strip()]
    work, family = Path(args.work), Path(args.family)
    log = lambda m: print(m, flush=True)  # noqa: E731

    root = work / "router-corpus"
    base = molora_cli.family_args(family) + ["-t", str(args.threads)]
    out_dir = work / "routers"
    out_dir.mkdir(parents=True, exist_ok=True)
    # selection sets: the template lines of the valid split, and the natural documents' valid part when it exists
    # (other documents than the natural eval set's; testbed/natural.py)
    selection = [root / "valid-mixed.jsonl"]
    natural_valid = family / "natural-valid.jsonl"
    if natural_valid.exists() and not args.no_natural:
        selection.append(natural_valid)
    if "train" in stages:
        corpus = corpora.Corpus.read(work / "corpora")
        description = build_corpora(corpus, root, args.seed, args.mixed_lines, args.domain_chars)
        if args.natural_train:
            description.update(add_natural_train(Path(args.natural_train), root / "unlabelled"))
        log(f"router corpora: {json.dumps(description)}")
        train_and_choose(args, family, root, out_dir, base, selection, description, log)
    if "bonus" in stages:
        choose_bonuses(args, family, root, out_dir, base, selection, log)
    return 0


def perplexity_sets(args, base: List[str], files: List[Path], router: Path, extra: List[str], log) -> Dict:
    return molora_cli.perplexity(args.molora, base + [a for f in files for a in ("-f", str(f))]
                                 + ["--router", str(router)] + extra, log)


def choose_bonuses(args, family: Path, root: Path, out_dir: Path, base: List[str], selection: List[Path], log) -> None:
    """The switch bonus of each chosen router (BONUSES, BONUS_TOLERANCE), then the router saved again with it."""
    report = json.loads((family / "routers.json").read_text(encoding="utf-8"))
    bonus_report = dict(report.get("switch_bonus", {}))  # kinds left out of --kinds keep theirs
    for kind, name in sorted(report["chosen"].items()):
        if kind not in args.kinds.split(","):
            continue
        entry = report["tried"][name]
        path = out_dir / f"{name}.gguf"
        rows = {}
        for b in BONUSES:
            sets = perplexity_sets(args, base, selection, path, ["--router-switch-bonus", str(b)], log)
            rows[str(b)] = {"selection_nll_per_token": sum(s["nll_per_token"] for s in sets.values()) / len(sets),
                            "sets": {k: {"nll_per_token": s["nll_per_token"],
                                         "route_switches_per_100_tokens": s.get("route_switches_per_100_tokens"),
                                         "label_accuracy": s.get("label_accuracy")} for k, s in sorted(sets.items())}}
            log(f"  {name} bonus {b}: selection NLL/token {rows[str(b)]['selection_nll_per_token']:.4f}, switches "
                + ", ".join(f"{k} {v['route_switches_per_100_tokens']}" for k, v in rows[str(b)]["sets"].items()))
        best = min(r["selection_nll_per_token"] for r in rows.values())
        chosen_b = max(b for b in BONUSES if rows[str(b)]["selection_nll_per_token"] <= best * (1 + BONUS_TOLERANCE))
        source = (["--corpus", str(root / "unlabelled")] if entry["kind"] == "unlabelled"
                  else [a for d in DOMAINS for a in ("--domain", f"{d}={root / 'labelled' / d}")])
        # the same training (same data, options and seed: the same gate, bit for bit), saved with its bonus
        molora_cli.run(args.molora, ["train-router"] + base + source
                       + ["--features", entry["features"], "--objective", entry.get("objective", "oracle"),
                          "--epochs", str(report["epochs"]), "--seed", str(report["seed"]),
                          "--switch-bonus", str(chosen_b), "--force", "-o", str(family / f"router-{kind}.gguf")], log)
        bonus_report[kind] = {"chosen": chosen_b, "tried": rows}
        log(f"  {kind}: switch bonus {chosen_b}")
    report["switch_bonus"] = bonus_report
    report["switch_bonus_rule"] = (f"the largest of {list(BONUSES)} whose mean NLL/token on the selection sets is "
                                   f"within {BONUS_TOLERANCE:.1%} of the best of them")
    (family / "routers.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def selection_scores(args, base: List[str], selection: List[Path], router: Path, log) -> Dict:
    """A router's NLL/token (and label accuracy) on each selection set, and the selection score: their mean."""
    sets = perplexity_sets(args, base, selection, router, [], log)
    entry = {}
    for set_name, s in sorted(sets.items()):
        key = set_name.replace("-", "_")
        entry[f"{key}_nll_per_token"] = s["nll_per_token"]
        entry[f"{key}_perplexity"] = s["perplexity"]
        entry[f"{key}_label_accuracy"] = s.get("label_accuracy")
        entry[f"{key}_route_switches_per_100_tokens"] = s.get("route_switches_per_100_tokens")
    # each set weighs the same
    entry["selection_nll_per_token"] = sum(s["nll_per_token"] for s in sets.values()) / len(sets)
    return entry


def train_and_choose(args, family: Path, root: Path, out_dir: Path, base: List[str], selection: List[Path],
                     description: Dict, log) -> None:
    tried: Dict[str, Dict] = {}
    chosen: Dict[str, str] = {}
    for kind in KINDS:
        if kind not in args.kinds.split(","):
            continue
        best = None
        for features in FEATURES:
            if kind == "unlabelled" and features not in args.unlabelled_features:
                continue
            for objective in (OBJECTIVES if kind == "unlabelled" else ("oracle",)):
                if kind == "unlabelled" and objective not in args.objectives:
                    continue  # --objectives picks among the unlabelled routers' objectives; labelled has one
                name = f"{kind}-{features.replace('+', '-')}" + ("" if objective == "oracle" else f"-{objective}")
                path = out_dir / f"{name}.gguf"
                source = (["--corpus", str(root / "unlabelled")] if kind == "unlabelled"
                          else [a for d in DOMAINS for a in ("--domain", f"{d}={root / 'labelled' / d}")])
                t0 = time.time()
                molora_cli.run(args.molora, ["train-router"] + base + source
                               + ["--features", features, "--objective", objective, "--epochs", str(args.epochs),
                                  "--seed", str(args.seed), "-o", str(path)], log)
                seconds = time.time() - t0
                entry = {"kind": kind, "features": features, "objective": objective,
                         "train_seconds": round(seconds, 1)}
                entry.update(selection_scores(args, base, selection, path, log))
                tried[name] = entry
                log(f"  {name}: selection NLL/token {entry['selection_nll_per_token']:.4f}")
                if best is None or entry["selection_nll_per_token"] < tried[best]["selection_nll_per_token"]:
                    best = name
        if best is None:
            raise SystemExit(f"routers.py: no {kind} router to train with --unlabelled-features "
                             f"{','.join(args.unlabelled_features)} and --objectives {','.join(args.objectives)}")
        chosen[kind] = best
        shutil.copyfile(out_dir / f"{best}.gguf", family / f"router-{kind}.gguf")
    shutil.copyfile(HERE / "vocab-router.json", family / "vocab-router.json")
    shutil.copyfile(root / "train-slice.txt", family / "router-train-slice.txt")
    # a run over some kinds only (--kinds) keeps the other kinds' routers, measured again on today's selection sets
    # (the demo compares the kinds by that score)
    last = family / "routers.json"
    if last.exists():
        before = json.loads(last.read_text(encoding="utf-8"))
        for kind, name in before.get("chosen", {}).items():
            if kind not in chosen:
                chosen[kind] = name
                entry = dict(before["tried"][name])
                entry.update(selection_scores(args, base, selection, family / f"router-{kind}.gguf", log))
                tried[name] = entry
    report = {"corpora": description, "tried": tried, "chosen": chosen,
              "selection": "lowest mean NLL/token over the selection sets: " + ", ".join(f.name for f in selection)
                           + " (valid splits only; the eval sets are not used)",
              "epochs": args.epochs, "seed": args.seed}
    (family / "routers.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log(f"chosen: {chosen}")


if __name__ == "__main__":
    sys.exit(main())
