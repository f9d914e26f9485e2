"""The one way the testbed's scripts run molora: `./molora COMMAND ...` as a subprocess, its stdout returned, its
failure raised with the end of its stderr (routers.py, table.py, ttlora.py, predictability.py)."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from config import DOMAINS


def run(exe: str, cmd: List[str], log: Optional[Callable[[str], None]] = None) -> str:
    """stdout of `exe cmd...`; RuntimeError naming the command, its exit code and the end of its stderr."""
    if log:
        log("$ " + " ".join([exe] + cmd))
    t0 = time.time()
    p = subprocess.run([exe] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"molora {' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    if log:
        log(f"  ({time.time() - t0:.0f} s)")
    return p.stdout


def perplexity(exe: str, args: List[str], log: Optional[Callable[[str], None]] = None) -> Dict:
    """`molora perplexity ARGS --json`: its per-set results."""
    return json.loads(run(exe, ["perplexity"] + args + ["--json"], log))["sets"]


def family_args(family: Path, adapter_file: str = "testbed-lora-{}.gguf") -> List[str]:
    """-m the family's base, --lora DOMAIN=FILE for each domain (adapter_file: the file name with {} for the domain)."""
    args = ["-m", str(family / "testbed-base.gguf")]
    for d in DOMAINS:
        args += ["--lora", f"{d}={family / adapter_file.format(d)}"]
    return args
