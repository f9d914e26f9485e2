"""The artifact manifest: sha256 and size of every file, the limits enforced, config, corpus, evaluations."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Sequence


class LimitError(Exception):
    pass


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_limits(files: Sequence[Path], max_file_bytes: int, max_total_bytes: int, max_files: int) -> int:
    """Raises LimitError naming the offending file(s); returns the total size."""
    if len(files) > max_files:
        raise LimitError(f"{len(files)} files, more than the {max_files} allowed: {[Path(f).name for f in files]}")
    total = 0
    for f in files:
        n = Path(f).stat().st_size
        if n > max_file_bytes:
            raise LimitError(f"{Path(f).name} is {n} bytes, over the per-file limit of {max_file_bytes}")
        total += n
    if total > max_total_bytes:
        raise LimitError(f"artifacts total {total} bytes, over the limit of {max_total_bytes}")
    return total


def file_entry(path: Path, role: str, base_dir: Path) -> Dict:
    path = Path(path)
    return {"file": os.path.relpath(path, base_dir), "role": role, "bytes": path.stat().st_size,
            "sha256": sha256_of(path)}


def write_manifest(out_dir: Path, files: Dict[str, Path], info: Dict, max_file_bytes: int,
                   max_total_bytes: int, max_files: int, extra_files: Sequence[Path] = ()) -> Path:
    """Writes out_dir/manifest.json. `files` maps role -> path (hashed); `extra_files` (e.g. a log still being
    written) count toward the limits but are not hashed. The manifest itself counts too."""
    out_dir = Path(out_dir)
    entries: List[Dict] = [file_entry(p, role, out_dir) for role, p in sorted(files.items())]
    manifest = {"format": "molora-testbed-manifest/1", "files": entries,
                "limits": {"max_file_bytes": max_file_bytes, "max_total_bytes": max_total_bytes,
                           "max_files": max_files}}
    manifest.update(info)
    path = out_dir / "manifest.json"
    tmp = out_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    all_files = [Path(p) for p in files.values()] + [Path(p) for p in extra_files] + [tmp]
    total = check_limits(all_files, max_file_bytes, max_total_bytes, max_files)
    manifest["total_bytes_without_manifest"] = total - tmp.stat().st_size
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    check_limits(all_files, max_file_bytes, max_total_bytes, max_files)
    os.replace(tmp, path)
    return path


def verify_manifest(path: Path) -> List[str]:
    """Problems found (empty when every listed file exists with its recorded size and sha256)."""
    m = json.loads(Path(path).read_text(encoding="utf-8"))
    base = Path(path).parent
    problems = []
    for e in m["files"]:
        p = base / e["file"]
        if not p.is_file():
            problems.append(f"{e['file']}: missing")
        elif p.stat().st_size != e["bytes"]:
            problems.append(f"{e['file']}: {p.stat().st_size} bytes, manifest says {e['bytes']}")
        elif sha256_of(p) != e["sha256"]:
            problems.append(f"{e['file']}: sha256 differs")
    return problems
