"""llama.cpp's own converters, run from the pinned source tree: command lines and the source-tree lookup.

convert_hf_to_gguf.py MODEL_DIR --outfile F --outtype T
    MODEL_DIR holds config.json (LlamaForCausalLM), model.safetensors and tokenizer.model; the llama class
    reads tokenizer.model with sentencepiece (tokenizer model "llama", SPM) and bos/eos ids from config.json.
convert_lora_to_gguf.py LORA_DIR --base MODEL_DIR --outfile F --outtype T
    LORA_DIR holds PEFT's adapter_config.json (lora_alpha is read from it) and adapter_model.safetensors;
    --base avoids any Hugging Face hub lookup (no network on the device).
"""
from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

SCRIPTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")
NEEDED = SCRIPTS + ("conversion", "gguf-py")


def find_llama_src(explicit: Optional[str] = None) -> Optional[Path]:
    """--llama-src, else $MOLORA_LLAMA_SRC, else the repo's .cache/llama-src (see stage-llama-src.sh),
    else ~/.cache/molora/llama.cpp-v*/src."""
    if explicit:
        if not is_llama_src(Path(explicit)):
            raise FileNotFoundError(f"{explicit} is not a llama.cpp source tree (needs {', '.join(NEEDED)})")
        return Path(explicit)
    candidates: List[str] = []
    if os.environ.get("MOLORA_LLAMA_SRC"):
        candidates.append(os.environ["MOLORA_LLAMA_SRC"])
    candidates.append(str(Path(__file__).resolve().parent.parent / ".cache" / "llama-src"))
    candidates.extend(sorted(glob.glob(os.path.expanduser("~/.cache/molora/llama.cpp-v*/src"))))
    for c in candidates:
        if c and is_llama_src(Path(c)):
            return Path(c)
    return None


def require_llama_src(explicit: Optional[str] = None) -> Path:
    """find_llama_src, or an error that says what to do."""
    src = find_llama_src(explicit)
    if src is None:
        raise RuntimeError("no llama.cpp source tree: pass --llama-src (see testbed/stage-llama-src.sh)")
    return src


def is_llama_src(path: Path) -> bool:
    return all((path / n).exists() for n in NEEDED)


def script_hashes(src: Path) -> Dict[str, str]:
    return {n: hashlib.sha256((src / n).read_bytes()).hexdigest() for n in SCRIPTS}


def hf_to_gguf_cmd(src: Path, model_dir: Path, outfile: Path, outtype: str, python: str = sys.executable) -> List[str]:
    return [python, str(Path(src) / "convert_hf_to_gguf.py"), str(model_dir),
            "--outfile", str(outfile), "--outtype", outtype]


def lora_to_gguf_cmd(src: Path, lora_dir: Path, base_dir: Path, outfile: Path, outtype: str,
                     python: str = sys.executable) -> List[str]:
    return [python, str(Path(src) / "convert_lora_to_gguf.py"), str(lora_dir),
            "--base", str(base_dir), "--outfile", str(outfile), "--outtype", outtype]


def run_cmd(cmd: Sequence[str], log, timeout: int) -> None:
    log("$ " + " ".join(cmd))
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)          # use the pinned tree's gguf-py, not an installed one
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, env=env)
    lines = p.stdout.strip().split("\n")
    if p.returncode != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"{Path(cmd[1]).name} failed with exit code {p.returncode}:\n{tail}")
    for line in lines:
        if "successfully exported" in line or "WARNING" in line or "ERROR" in line:
            log("  " + line.strip())
