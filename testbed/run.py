#!/usr/bin/env python3
"""molora testbed: corpora -> tokenizer -> base model -> code/prose/math LoRAs -> GGUF via llama.cpp's converters.

One entry point for one device session:

    python3 testbed/run.py --out "$OUT/testbed" --llama-src .cache/llama-src

Stages are resumable (markers under --work); --tiny runs the same path at toy sizes in seconds.
See testbed/README.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import convert  # noqa: E402
import corpora  # noqa: E402
import manifest  # noqa: E402
from config import DOMAINS, POOLS, TestbedConfig  # noqa: E402
from stages import RunLog, Stage, StageContext, StageRunner  # noqa: E402

# names of the files in --out: at most 8 come back from the device
BASE_GGUF = "testbed-base.gguf"
LORA_GGUF = "testbed-lora-{}.gguf"
EVAL_FILE = "testbed-eval.jsonl"
TOKENIZER_FILE = "testbed-tokenizer.model"
LOG_FILE = "run.log"
MANIFEST_FILE = "manifest.json"


def out_files() -> List[str]:
    return [BASE_GGUF] + [LORA_GGUF.format(d) for d in DOMAINS] + [EVAL_FILE, TOKENIZER_FILE, MANIFEST_FILE, LOG_FILE]


def build_stages(cfg: TestbedConfig, args) -> List[Stage]:
    work = Path(args.work)

    def s_corpora(ctx: StageContext):
        c = corpora.build(cfg.corpus)
        ctx.info = c.description["splits"]
        return c.write(work / "corpora")

    def s_tokenizer(ctx: StageContext):
        import tok
        c = corpora.Corpus.read(work / "corpora")
        p = tok.train_tokenizer({d: c.docs[d]["train"] for d in POOLS}, cfg.tokenizer, work / "tokenizer",
                                cfg.corpus.seed)
        return [p, p.with_suffix(".vocab")]

    def s_tokens(ctx: StageContext):
        import tok
        import train
        outs, info = train.write_token_streams(tok.load(work / "tokenizer" / "tokenizer.model"),
                                               corpora.Corpus.read(work / "corpora"), POOLS, work / "tokens")
        ctx.info = {"tokens": info}
        return outs

    def s_evalsets(ctx: StageContext):
        import tok
        sp = tok.load(work / "tokenizer" / "tokenizer.model")
        c = corpora.Corpus.read(work / "corpora")
        p = work / EVAL_FILE
        ctx.info = {"records": tok.write_eval_sets(sp.encode, c, cfg.export, cfg.train.seq_len, cfg.corpus.seed, p)}
        return [p]

    def streams(split: str):
        import numpy as np
        return {d: np.load(work / "tokens" / f"{d}.{split}.npy") for d in POOLS}

    def s_throughput(ctx: StageContext):
        import tok
        import train
        train.set_threads(cfg.train.threads)
        sp = tok.load(work / "tokenizer" / "tokenizer.model")
        ctx.info = train.measure_throughput(cfg.model, sp.get_piece_size(), cfg.train, ctx.log)
        p = work / "throughput.json"
        p.write_text(json.dumps(ctx.info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return [p]

    def measured() -> Dict:
        return json.loads((work / "throughput.json").read_text(encoding="utf-8"))

    def s_base(ctx: StageContext):
        import tok
        import train
        train.set_threads(cfg.train.threads)
        sp = tok.load(work / "tokenizer" / "tokenizer.model")
        model, stats = train.pretrain(streams("train"), streams("valid"), sp.get_piece_size(), cfg.model, cfg.train,
                                      ctx.log, measured())
        ctx.info = stats
        return train.save_hf(model, work / "tokenizer" / "tokenizer.model", work / "hf-base")

    def s_lora(domain: str):
        def run(ctx: StageContext):
            import train
            train.set_threads(cfg.train.threads)
            ctx.info = train.train_lora(work / "hf-base", streams("train")[domain], streams("valid"), domain,
                                        cfg.lora, cfg.train, work / f"lora-{domain}", ctx.log,
                                        measured()["precision"])
            return [work / f"lora-{domain}" / "adapter_config.json",
                    work / f"lora-{domain}" / "adapter_model.safetensors"]
        return run

    def s_evaluate(ctx: StageContext):
        import train
        train.set_threads(cfg.train.threads)
        res = train.evaluate_all(work / "hf-base", {d: work / f"lora-{d}" for d in DOMAINS},
                                 corpora.read_eval_sets(work / EVAL_FILE), ctx.log)
        p = work / "ppl_pytorch.json"
        p.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return [p]

    def s_convert(ctx: StageContext):
        src = convert.require_llama_src(args.llama_src)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        e = cfg.export
        loras = []
        for d in DOMAINS:
            f = out / LORA_GGUF.format(d)
            convert.run_cmd(convert.lora_to_gguf_cmd(src, work / f"lora-{d}", work / "hf-base", f, e.lora_outtype,
                                                     args.python), ctx.log, e.convert_max_seconds)
            loras.append(f)
        others = sum(p.stat().st_size for p in loras) + (work / EVAL_FILE).stat().st_size \
            + (work / "tokenizer" / "tokenizer.model").stat().st_size + 256 * 1024   # manifest + log allowance
        chosen = None
        for outtype in e.base_outtypes:
            f = out / BASE_GGUF
            convert.run_cmd(convert.hf_to_gguf_cmd(src, work / "hf-base", f, outtype, args.python), ctx.log,
                            e.convert_max_seconds)
            size = f.stat().st_size
            if size <= e.max_file_bytes and size + others <= e.max_total_bytes:
                chosen = outtype
                break
            ctx.log(f"  base as {outtype} is {size} bytes: over the limits, trying the next type")
        if chosen is None:
            raise manifest.LimitError(f"the base model fits the limits in none of {e.base_outtypes}")
        ctx.info = {"base_outtype": chosen, "lora_outtype": e.lora_outtype, "llama_src": str(src),
                    "script_sha256": convert.script_hashes(src)}
        return [out / BASE_GGUF] + loras

    def s_manifest(ctx: StageContext):
        out = Path(args.out)
        shutil.copyfile(work / EVAL_FILE, out / EVAL_FILE)
        shutil.copyfile(work / "tokenizer" / "tokenizer.model", out / TOKENIZER_FILE)
        r = ctx.results
        ppl = json.loads((work / "ppl_pytorch.json").read_text(encoding="utf-8"))
        info = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": cfg.to_dict(),
            "corpus": json.loads((work / "corpora" / "description.json").read_text(encoding="utf-8")),
            "tokens": r["tokens"]["info"].get("tokens"),
            "eval_sets": {"file": EVAL_FILE, "records": r["evalsets"]["info"]["records"],
                          "protocol": "ids = [BOS] + tokens (<= seq_len); predict ids[1:]; "
                                      "ppl = exp(sum NLL / tokens predicted) over a set's records"},
            "throughput": r["throughput"]["info"],
            "training": {"base": r["base"]["info"], **{f"lora-{d}": r[f"lora-{d}"]["info"] for d in DOMAINS}},
            "conversion": r["convert"]["info"],
            "perplexity_pytorch": {m: {s: round(v["ppl"], 4) for s, v in sets.items()} for m, sets in ppl.items()},
            "perplexity_pytorch_detail": ppl,
            "environment": _environment(),
            "stage_seconds": {k: v.get("seconds") for k, v in r.items()},
        }
        files = {"base": out / BASE_GGUF, "tokenizer": out / TOKENIZER_FILE, "eval": out / EVAL_FILE}
        files.update({f"lora-{d}": out / LORA_GGUF.format(d) for d in DOMAINS})
        e = cfg.export
        log_file = out / LOG_FILE
        p = manifest.write_manifest(out, files, info, e.max_file_bytes, e.max_total_bytes, e.max_files,
                                    extra_files=[log_file] if log_file.exists() else [])
        return [p]

    stages = [
        Stage("corpora", ["corpus"], [], s_corpora),
        Stage("tokenizer", ["tokenizer"], ["corpora"], s_tokenizer),
        Stage("tokens", [], ["tokenizer"], s_tokens),
        Stage("evalsets", ["export", "train"], ["tokenizer"], s_evalsets),
        Stage("throughput", ["model", "train", "tokenizer"], ["tokenizer"], s_throughput),
        Stage("base", ["model", "train"], ["tokens", "throughput"], s_base),
    ]
    stages += [Stage(f"lora-{d}", ["lora"], ["base"], s_lora(d)) for d in DOMAINS]
    stages += [
        Stage("evaluate", [], ["base", "evalsets"] + [f"lora-{d}" for d in DOMAINS], s_evaluate),
        Stage("convert", ["export"], ["base"] + [f"lora-{d}" for d in DOMAINS], s_convert),
        Stage("manifest", [], ["corpora", "tokens", "evalsets", "throughput", "base"]
              + [f"lora-{d}" for d in DOMAINS] + ["evaluate", "convert"], s_manifest),
    ]
    return stages


def _environment() -> Dict:
    try:
        import train
        return train.environment()
    except ImportError:
        return {"python": sys.version.split()[0]}


def load_config(args) -> TestbedConfig:
    cfg = TestbedConfig()
    if args.config:
        cfg = TestbedConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")))
    if args.tiny:
        cfg = cfg.tiny()
    return cfg.with_overrides(args.set or [])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="artifacts: GGUFs, eval set, tokenizer, manifest, log (at most 8 files)")
    ap.add_argument("--work", default=str(HERE.parent / ".cache" / "testbed-work"),
                    help="intermediate files and stage markers (default: the repo's ignored .cache/testbed-work)")
    ap.add_argument("--llama-src", help="llama.cpp source tree with convert_hf_to_gguf.py (see convert.py)")
    ap.add_argument("--python", default=sys.executable, help="python for the converters")
    ap.add_argument("--config", help="JSON config file (sections as in config.py)")
    ap.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one config value")
    ap.add_argument("--tiny", action="store_true", help="toy sizes: a smoke run of every stage in seconds")
    ap.add_argument("--stages", help="comma-separated stages to run (earlier ones must have run)")
    ap.add_argument("--force", default="", help="comma-separated stages to redo (and everything after them)")
    ap.add_argument("--list", action="store_true", help="list the stages and exit")
    ap.add_argument("--print-config", action="store_true", help="print the effective config and exit")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        return 0
    stages = build_stages(cfg, args)
    if args.list:
        for s in stages:
            print(f"{s.name:10s} config: {','.join(s.sections) or '-':14s} after: {','.join(s.deps) or '-'}")
        return 0
    if not args.out:
        print("run.py: --out is required", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    stray = [p.name for p in out.iterdir() if p.name not in out_files()]
    if stray:
        print(f"run.py: {out} holds files that are not testbed artifacts: {stray}", file=sys.stderr)
        return 2
    log = RunLog(out / LOG_FILE)

    (Path(args.work) / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    runner = StageRunner(Path(args.work), out, cfg, log)
    only = [s for s in args.stages.split(",") if s] if args.stages else None
    force = [s for s in args.force.split(",") if s]
    try:
        runner.run(stages, only=only, force=force)
    except Exception as e:  # noqa: BLE001 - reported in the log, then re-raised
        log(f"FAILED: {type(e).__name__}: {e}")
        raise
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
