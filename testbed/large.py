#!/usr/bin/env python3
"""Specialisation against scale (issue 16, part 4): a second base with >= 3x the parameters of the committed family's
base, trained on the same training data for at least as many tokens as the small base and its three adapters saw
together — the MoLoRA paper's question: does a small base with routed adapters beat a larger base?

    .cache/testbed-venv/bin/python testbed/large.py --llama-src .cache/llama-src [--hours 2.5]

Stages, each resumable (markers under --work, default .cache/testbed-large), the training stage mid-run too (a
checkpoint every `checkpoint_seconds`; kill -9 loses at most that much; `--hours` pauses it cleanly, the same
command resumes):

  corpora    the family's corpora, rebuilt from this machine with the family's own corpus config
  tokens     tokenised with the family's committed tokenizer; the token counts must equal the manifest's (the proof
             that the training data is the same; the general pool, read from the machine's documentation folders,
             changes when packages are installed: --allow-corpus-drift accepts that and records it)
  throughput training steps of the large shape, fp32 and bf16 autocast: the faster is used
  train      the large base, a fixed number of steps, checkpointed
  evaluate   PyTorch perplexity on the family's held-out eval sets (fp32, the committed eval file)
  convert    llama.cpp's convert_hf_to_gguf.py -> testbed-base-large.gguf (f16) under --work
  record     models/testbed/large-base.json: config, parameters, tokens, loss curve, throughput, PyTorch perplexity,
             the GGUF's sha256 and size; the GGUF itself is not committed (too large); testbed/table.py measures it
             through molora when it is present and reads this record otherwise.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import convert  # noqa: E402
import corpora  # noqa: E402
from config import DOMAINS, POOLS, ModelConfig, TestbedConfig  # noqa: E402
from manifest import sha256_of  # noqa: E402
from stages import RunLog, Stage, StageContext, StageRunner  # noqa: E402

ROOT = HERE.parent
GGUF = "testbed-base-large.gguf"
RECORD = "large-base.json"


@dataclass
class LargeConfig:
    # 512 wide x 8 layers: about 3.7x the family's 256 x 8 base (the embedding is tied, as there)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8))
    min_parameter_ratio: float = 3.0        # refuse a shape smaller than this multiple of the family's base
    tokens_ratio: float = 1.0               # x (small base's tokens + the three adapters' tokens)
    lr: float = 6e-4                        # a wider model wants a lower peak rate than the base's 1e-3
    warmup_steps: int = 300
    checkpoint_seconds: float = 300.0
    seed: int = 1234

    def to_dict(self) -> Dict:
        return dataclasses.asdict(self)


class Settings:
    """The family's config (from its manifest) plus the large section: what the stage fingerprints hash."""

    def __init__(self, family: TestbedConfig, large: LargeConfig):
        self.family, self.large = family, large

    def section_hash(self, *names: str) -> str:
        d = {"family": self.family.to_dict(), "large": self.large.to_dict()}
        blob = json.dumps({n: d[n] for n in names}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def target_tokens(manifest: Dict, ratio: float) -> int:
    """What the small base and its three adapters saw together, times ratio."""
    t = manifest["training"]
    seen = t["base"]["tokens"] + sum(t[f"lora-{d}"]["tokens"] for d in DOMAINS)
    return int(math.ceil(seen * ratio))


def steps_for(tokens: int, batch_size: int, seq_len: int) -> int:
    return int(math.ceil(tokens / (batch_size * seq_len)))


def build_stages(settings: Settings, manifest: Dict, args) -> List[Stage]:
    work = Path(args.work)
    fam = Path(args.family)
    cfg, large = settings.family, settings.large
    tokenizer = fam / "testbed-tokenizer.model"

    def s_corpora(ctx: StageContext):
        return corpora.build(cfg.corpus).write(work / "corpora")

    def s_tokens(ctx: StageContext):
        import tok
        import train
        outs, counts = train.write_token_streams(tok.load(tokenizer), corpora.Corpus.read(work / "corpora"), POOLS,
                                                 work / "tokens")
        diff = {k: [counts.get(k), manifest["tokens"].get(k)] for k in sorted(set(counts) | set(manifest["tokens"]))
                if counts.get(k) != manifest["tokens"].get(k)}
        # the general pool is read from the machine's documentation folders: a package installed since the family
        # was made changes it (the code, prose and math pools come from the pinned venv and a seeded generator)
        drift_ok = args.allow_corpus_drift and all(k.startswith("general.") for k in diff)
        if diff and not drift_ok:
            raise RuntimeError("the corpus rebuilt on this machine is not the one the family was trained on "
                               f"(token counts here vs the manifest: {diff})"
                               + ("; only the general pool differs: --allow-corpus-drift trains on it anyway and "
                                  "records the difference" if all(k.startswith("general.") for k in diff) else ""))
        ctx.info = {"tokens": counts, "same_as_manifest": not diff, "differences_here_vs_manifest": diff}
        return outs

    def streams(split: str):
        import numpy as np
        return {d: np.load(work / "tokens" / f"{d}.{split}.npy") for d in POOLS}

    def train_config():
        return dataclasses.replace(cfg.train, lr=large.lr, warmup_steps=large.warmup_steps, seed=large.seed,
                                   max_seconds=0)

    def s_throughput(ctx: StageContext):
        import tok
        import train
        train.set_threads(cfg.train.threads)
        ctx.info = train.measure_throughput(large.model, tok.load(tokenizer).get_piece_size(), train_config(),
                                            ctx.log)
        p = work / "throughput.json"
        p.write_text(json.dumps(ctx.info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return [p]

    def s_train(ctx: StageContext):
        import tok
        import train
        train.set_threads(cfg.train.threads)
        t = train_config()
        vocab = tok.load(tokenizer).get_piece_size()
        small = manifest["training"]["base"]["parameters"]
        n = train.n_params(train.new_model(large.model, vocab, large.seed))
        if n < large.min_parameter_ratio * small:
            raise ValueError(f"the large shape has {n:,} parameters: under {large.min_parameter_ratio}x the family's "
                             f"base ({small:,})")
        tokens = target_tokens(manifest, large.tokens_ratio)
        steps = steps_for(tokens, t.batch_size, t.seq_len)
        throughput = json.loads((work / "throughput.json").read_text(encoding="utf-8"))
        stop_at = time.time() + args.hours * 3600 if args.hours else None
        ckpt = train.Checkpoint(work / "train.ckpt", ctx.name + ":" + settings.section_hash("family", "large"),
                                large.checkpoint_seconds, stop_at=stop_at, stop_after_steps=args.stop_after_steps)
        ctx.log(f"  large base: {n:,} parameters ({n / small:.2f}x the family's base); {steps} steps = "
                f"{steps * t.batch_size * t.seq_len:,} tokens (target {tokens:,})")
        model, stats = train.pretrain(streams("train"), streams("valid"), vocab, large.model, t, ctx.log, throughput,
                                      steps=steps, checkpoint=ckpt)
        stats.update({"parameter_ratio": round(n / small, 3), "target_tokens": tokens})
        ctx.info = stats
        outs = train.save_hf(model, tokenizer, work / "hf-large")
        ckpt.remove()
        return outs

    def s_evaluate(ctx: StageContext):
        import train
        train.set_threads(cfg.train.threads)
        model = train.load_hf(work / "hf-large")
        res = {s: train.perplexity(model, recs)
               for s, recs in sorted(corpora.read_eval_sets(fam / "testbed-eval.jsonl").items())}
        ctx.log("  large base: " + ", ".join(f"{s} {v['ppl']:.3f}" for s, v in res.items()))
        p = work / "ppl_pytorch.json"
        p.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return [p]

    def s_convert(ctx: StageContext):
        src = convert.require_llama_src(args.llama_src)
        f = work / GGUF
        convert.run_cmd(convert.hf_to_gguf_cmd(src, work / "hf-large", f, "f16", args.python), ctx.log,
                        cfg.export.convert_max_seconds * 4)
        ctx.info = {"script_sha256": convert.script_hashes(src)}
        return [f]

    def s_record(ctx: StageContext):
        import train
        r = ctx.results
        f = work / GGUF
        record = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "purpose": "issue 16 part 4: the family's small base + routed adapters against a base with >= 3x the "
                       "parameters trained on the same data for at least as many tokens",
            "config": large.to_dict(),
            "family_manifest_sha256": hashlib.sha256((fam / "manifest.json").read_bytes()).hexdigest(),
            "gguf": {"file": GGUF, "bytes": f.stat().st_size, "sha256": sha256_of(f), "outtype": "f16",
                     "committed": False, "conversion": r["convert"]["info"]},
            "tokens": r["tokens"]["info"],
            "throughput": r["throughput"]["info"],
            "training": r["train"]["info"],
            "perplexity_pytorch": json.loads((work / "ppl_pytorch.json").read_text(encoding="utf-8")),
            "environment": train.environment(),
            "stage_seconds": {k: v.get("seconds") for k, v in r.items()},
        }
        p = fam / RECORD
        p.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return [p]

    return [
        Stage("corpora", ["family"], [], s_corpora),
        Stage("tokens", [], ["corpora"], s_tokens),
        Stage("throughput", ["large"], ["tokens"], s_throughput),
        Stage("train", ["family", "large"], ["tokens", "throughput"], s_train),
        Stage("evaluate", [], ["train"], s_evaluate),
        Stage("convert", [], ["train"], s_convert),
        Stage("record", [], ["tokens", "throughput", "train", "evaluate", "convert"], s_record),
    ]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default=str(ROOT / "models" / "testbed"), help="the committed family (manifest, "
                    "tokenizer, eval sets); the record is written there")
    ap.add_argument("--work", default=str(ROOT / ".cache" / "testbed-large"))
    ap.add_argument("--llama-src", help="llama.cpp source tree with convert_hf_to_gguf.py (see convert.py)")
    ap.add_argument("--python", default=sys.executable, help="python for the converter")
    ap.add_argument("--hours", type=float, default=0, help="pause training (checkpointed) after this many hours")
    ap.add_argument("--allow-corpus-drift", action="store_true",
                    help="train even if the general pool rebuilt here differs from the family's (recorded)")
    ap.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)   # tests
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a large-config value (JSON), e.g. model.hidden_size=384 or tokens_ratio=1.2")
    ap.add_argument("--stages", help="comma-separated stages to run (earlier ones must have run)")
    ap.add_argument("--print-config", action="store_true")
    return ap.parse_args(argv)


def large_config(overrides: List[str]) -> LargeConfig:
    d = LargeConfig().to_dict()
    for item in overrides:
        key, _, raw = item.partition("=")
        parts = key.split(".")
        target = d
        for k in parts[:-1]:
            target = target.get(k) if isinstance(target.get(k), dict) else None
            if target is None:
                raise ValueError(f"unknown large-config key {key!r}")
        if parts[-1] not in target:
            raise ValueError(f"unknown large-config key {key!r}")
        try:
            target[parts[-1]] = json.loads(raw)
        except ValueError:
            target[parts[-1]] = raw
    model = ModelConfig(**d.pop("model"))
    return LargeConfig(model=model, **d)


def main(argv=None) -> int:
    args = parse_args(argv)
    fam = Path(args.family)
    manifest = json.loads((fam / "manifest.json").read_text(encoding="utf-8"))
    settings = Settings(TestbedConfig.from_dict(manifest["config"]), large_config(args.set))
    if args.print_config:
        print(json.dumps(settings.large.to_dict(), indent=2, sort_keys=True))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = RunLog(work / "run.log")
    import train  # noqa: E402 - torch: only once the arguments are known to be good
    only = [s for s in args.stages.split(",") if s] if args.stages else None
    try:
        StageRunner(work, work, settings, log).run(build_stages(settings, manifest, args), only=only)
    except train.TrainingPaused as e:
        log(f"{e}")
        return 3
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
