"""How much of the per-token oracle's gain a router could ever reach on a set (issue 22's diagnosis).

Scores one .jsonl eval set (a selection set: never an eval set while choosing anything) with the base and with each
adapter on every token (`molora perplexity --token-nll`), then reports, from those full-sequence passes:

- each adapter's mean NLL/token per span label (the records' character `spans`), i.e. which adapter the span-label
  oracle would want and whether the label's own adapter is in fact the best on it;
- the per-token oracle (the best choice per token, in hindsight);
- table routers fitted on one half of the records and scored on the other (both ways, records split by a seeded
  shuffle): a choice per key, taken only where its mean gain over the default adapter on the fitting half is larger
  than tau. Keys: the *predicted* token (hindsight: no router sees it), the *input* token (what a token router sees)
  and the input bigram. The gap between the first and the others is the part of the oracle no input-side router can
  reach.

These are estimates from full-sequence passes: a real routed run also changes the KV history of the tokens after a
switch (docs/records/routers-natural-calibration-2026-12-07.md measures that cost).

    .cache/testbed-venv/bin/python testbed/predictability.py --set models/testbed/natural-valid.jsonl
"""
import argparse
import collections
import json
import random
import sys
from pathlib import Path

import molora_cli
from config import DOMAINS

HERE = Path(__file__).resolve().parent
CHOICES = ("base",) + DOMAINS


def token_nll(molora: str, family: Path, eval_set: Path, choice: str, threads: int):
    # the base alone has no --lora at all: without --adapter, `perplexity` applies every --lora adapter at once
    model = ["-m", str(family / "testbed-base.gguf")] if choice == "base" else molora_cli.family_args(family) + [
        "--adapter", choice]
    args = model + ["-t", str(threads), "-f", str(eval_set), "--token-nll"]
    (only,) = molora_cli.perplexity(molora, args).values()
    return only["token_nll"]  # [record][token after BOS]


def span_labels(record, tokenizer):
    """The span label of each predicted token (the label at its first character), from the records' char spans."""
    ids, spans = record["ids"], record.get("spans") or []
    labels, done = [], ""
    for i in range(1, len(ids)):
        start = len(done)
        done = tokenizer.decode(ids[1:i + 1])
        labels.append(next((s[2] for s in spans if s[0] <= start < s[1]), "unlabelled"))
    return labels


def table_router(rows, key, default: int, tau: float, seed: int):
    """Mean NLL/token of a two-fold table router (fit on one half of the records, score the other)."""
    records = sorted({r["record"] for r in rows})
    random.Random(seed).shuffle(records)
    first = set(records[:len(records) // 2])
    total = switched = 0.0
    for fit_first in (True, False):
        sums = collections.defaultdict(lambda: [0.0] * len(CHOICES))
        counts = collections.Counter()
        for r in rows:
            if (r["record"] in first) == fit_first:
                k = key(r)
                counts[k] += 1
                for c in range(len(CHOICES)):
                    sums[k][c] += r["nll"][c] - r["nll"][default]
        for r in rows:
            if (r["record"] in first) != fit_first:
                k, choice = key(r), default
                if counts[k] >= 3:
                    means = [v / counts[k] for v in sums[k]]
                    best = min(range(len(CHOICES)), key=means.__getitem__)
                    if means[best] < -tau:
                        choice = best
                total += r["nll"][choice]
                switched += choice != default
    return total / len(rows), switched / len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", required=True, help="a .jsonl selection set with ids (and spans)")
    ap.add_argument("--family", default=str(HERE.parent / "models" / "testbed"))
    ap.add_argument("--molora", default=str(HERE.parent / "molora"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import sentencepiece  # the testbed venv's

    family, eval_set = Path(args.family), Path(args.set)
    tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(family / "testbed-tokenizer.model"))
    records = [json.loads(line) for line in eval_set.read_text(encoding="utf-8").splitlines() if line.strip()]
    nll = {c: token_nll(args.molora, family, eval_set, c, args.threads) for c in CHOICES}
    rows = []
    for ri, rec in enumerate(records):
        # records without ids (template lines): the testbed tokenizer's, checked against what molora scored
        ids = rec.get("ids") or [tokenizer.bos_id()] + tokenizer.encode(rec["text"])
        if len(ids) - 1 != len(nll["base"][ri]):
            raise SystemExit(f"record {ri}: {len(ids) - 1} tokens here, {len(nll['base'][ri])} scored by molora")
        labels = span_labels(dict(rec, ids=ids), tokenizer)
        for i in range(1, len(ids)):
            rows.append({"record": ri, "target": ids[i], "input": ids[i - 1],
                         "bigram": (ids[i - 2] if i >= 2 else -1, ids[i - 1]), "label": labels[i - 1],
                         "nll": [nll[c][ri][i - 1] for c in CHOICES]})
    n = len(rows)
    mean = [sum(r["nll"][c] for r in rows) / n for c in range(len(CHOICES))]
    default = min(range(1, len(CHOICES)), key=mean.__getitem__)
    print(f"{eval_set.name}: {len(records)} records, {n} predicted tokens")
    print("mean NLL/token: " + ", ".join(f"{c} {m:.4f}" for c, m in zip(CHOICES, mean))
          + f"; default (best adapter) {CHOICES[default]}")
    by_label = collections.defaultdict(list)
    for r in rows:
        by_label[r["label"]].append(r)
    for label, rs in sorted(by_label.items()):
        means = [sum(r["nll"][c] for r in rs) / len(rs) for c in range(len(CHOICES))]
        print(f"  span label {label} ({len(rs)} tokens): " + ", ".join(f"{c} {m:.4f}" for c, m in zip(CHOICES, means)))
    print(f"per-token oracle (hindsight): {sum(min(r['nll']) for r in rows) / n:.4f}")
    print("two-fold table routers (NLL/token, share of tokens off the default):")
    for tau in (0.0, 0.1, 0.3, 0.6, 1.0):
        cells = []
        for name in ("target", "input", "bigram"):
            v, s = table_router(rows, lambda r, k=name: r[k], default, tau, args.seed)
            cells.append(f"{name} {v:.4f} ({s:.0%})")
        print(f"  tau {tau}: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
