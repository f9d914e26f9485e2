#!/usr/bin/env python3
"""Makes the PEFT fixtures of molora's PEFT-directory tests (issue 27), one folder per architecture:

    <arch>/hf/            a tiny random-weight Hugging Face model (transformers); only config.json is kept
    <arch>/base.gguf      that model converted by llama.cpp's convert_hf_to_gguf.py (--outtype f16)
    <arch>/peft/          a PEFT LoRA on every projection the architecture has, lora_B random (not PEFT's zeros),
                          saved by peft (adapter_config.json + adapter_model.safetensors)
    <arch>/oracle.gguf    that adapter converted by llama.cpp's convert_lora_to_gguf.py --base <arch>/hf (its default
                          --outtype, f32): what molora's Java conversion must equal

Architectures: llama (GQA: the q/k RoPE permutation differs for q and k; lm_head adapted too, untied), qwen2
(q/k/v biases), qwen3 (q/k norms), gemma3, phi3 (fused qkv_proj and gate_up_proj). The adapters are saved in F32,
F16 or BF16 so the reader sees each safetensors type. Weights come from fixed seeds; the outputs are committed.

Run from anywhere, with the test packages of the brief (torch CPU, transformers, peft, safetensors, numpy,
sentencepiece) and the pinned llama.cpp source tree (convert_*.py, conversion/, gguf-py/):

    python3 -m venv /tmp/peft-venv && /tmp/peft-venv/bin/pip install torch transformers peft safetensors numpy sentencepiece
    /tmp/peft-venv/bin/python adapters/src/test/resources/peft/make_fixtures.py \
        --llama-src ~/.cache/molora/llama.cpp-v0.5.0-cpu-8ce19197cce0/src

The model's weights and tokenizer are deleted after conversion: the tests need the GGUF base, and
convert_lora_to_gguf.py reads only config.json of --base.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOCAB = 384  # 256 byte-fallback pieces (molora, as llama.cpp, needs <0x00>..<0xFF> in an SPM vocabulary) + 128
SEED = 27

ARCHS = {
    # name: (transformers config class, model class, config kwargs, target modules, adapter dtype)
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(num_key_value_heads=2, tie_word_embeddings=False),
              ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"], "float32"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(num_key_value_heads=2, tie_word_embeddings=True),
              ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "float16"),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(num_key_value_heads=2, head_dim=8, tie_word_embeddings=True),
              ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "bfloat16"),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM",
               dict(num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, sliding_window=64,
                    tie_word_embeddings=True),
               ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "float32"),
    "phi3": ("Phi3Config", "Phi3ForCausalLM",
             dict(num_key_value_heads=4, tie_word_embeddings=False, original_max_position_embeddings=128,
                  pad_token_id=0),
             ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], "float16"),
}


def find_llama_src(explicit: str | None) -> Path:
    for c in [explicit, os.environ.get("MOLORA_LLAMA_SRC")] + sorted(
            glob.glob(os.path.expanduser("~/.cache/molora/llama.cpp-v*/src"))):
        if c and (Path(c) / "convert_lora_to_gguf.py").is_file():
            return Path(c)
    sys.exit("no llama.cpp source tree: pass --llama-src")


def tokenizer(work: Path) -> Path:
    """A 384-piece sentencepiece model (byte fallback; ASCII text) trained on molora's own docs (deterministic: one thread, fixed seed)."""
    import sentencepiece as spm
    text = work / "text.txt"
    root = HERE.parents[4]
    with open(text, "w", encoding="utf-8") as f:
        for p in sorted([root / "README.md"] + list((root / "docs").glob("*.md"))):
            f.write(p.read_text(encoding="utf-8").encode("ascii", "ignore").decode())  # other text: bytes
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(work / "tok"), vocab_size=VOCAB,
                                   model_type="bpe", character_coverage=1.0, byte_fallback=True, num_threads=1, seed_sentencepiece_size=1000,
                                   bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2,
                                   normalization_rule_name="identity")  # no 240 KB NFKC table in the model
    return work / "tok.model"


def run(cmd: list[str]) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("NO_LOCAL_GGUF", None)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}")


def make(arch: str, src: Path, tok_model: Path) -> None:
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    cfg_cls, model_cls, extra, targets, dtype = ARCHS[arch]
    out = HERE / arch
    shutil.rmtree(out, ignore_errors=True)
    hf = out / "hf"
    peft_dir = out / "peft"
    hf.mkdir(parents=True)
    torch.manual_seed(SEED)
    config = getattr(transformers, cfg_cls)(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=128, bos_token_id=1, eos_token_id=2, **extra)
    model = getattr(transformers, model_cls)(config).eval()
    model.save_pretrained(hf, safe_serialization=True)
    shutil.copy(tok_model, hf / "tokenizer.model")
    run([sys.executable, str(src / "convert_hf_to_gguf.py"), str(hf), "--outfile", str(out / "base.gguf"),
         "--outtype", "f16"])

    torch.manual_seed(SEED + 1)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets,
                                            init_lora_weights=False))  # False: lora_B random, not zero
    lora.to(getattr(torch, dtype))
    # save_embedding_layers=False: peft would add the whole lm_head (base_layer.weight, which both converters skip)
    lora.save_pretrained(peft_dir, save_embedding_layers=False)
    (peft_dir / "README.md").unlink(missing_ok=True)  # peft's model card template: not read by either converter
    run([sys.executable, str(src / "convert_lora_to_gguf.py"), str(peft_dir), "--base", str(hf),
         "--outfile", str(out / "oracle.gguf")])
    (hf / "model.safetensors").unlink()
    (hf / "tokenizer.model").unlink()  # in base.gguf; convert_lora_to_gguf.py reads only config.json of --base
    (hf / "generation_config.json").unlink(missing_ok=True)


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # peft keeps target_modules as a set: without a fixed hash seed their order in adapter_config.json (and so
        # the files) changes from run to run
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama-src")
    ap.add_argument("--arch", action="append", choices=sorted(ARCHS), help="only these (default: all)")
    args = ap.parse_args()
    src = find_llama_src(args.llama_src)
    work = Path("/tmp/molora-peft-fixtures")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tok_model = tokenizer(work)
    for arch in args.arch or sorted(ARCHS):
        make(arch, src, tok_model)
        print(arch, sum(f.stat().st_size for f in (HERE / arch).rglob("*") if f.is_file()), "bytes")


if __name__ == "__main__":
    main()
