"""Stage bookkeeping: each stage leaves a marker with its fingerprint and outputs; a rerun skips a stage whose
marker matches (same fingerprint, outputs still there with the recorded sizes) and redoes it otherwise.

A stage's fingerprint hashes the config sections it reads and the fingerprints of the stages it depends on,
so changing an upstream stage's config redoes everything downstream of it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence


class RunLog:
    """A run's log: each line stamped with the seconds since the start, printed and appended to a file."""

    def __init__(self, path: Path):
        self.t0 = time.time()
        self.file = open(path, "a", encoding="utf-8")

    def __call__(self, msg: str) -> None:
        line = f"{time.time() - self.t0:7.1f}s {msg}"
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def close(self) -> None:
        self("total %.1f s" % (time.time() - self.t0))
        self.file.close()


@dataclass
class Stage:
    name: str
    sections: Sequence[str]            # config sections this stage reads
    deps: Sequence[str]                # stages whose outputs it reads
    run: Callable[["StageContext"], List[Path]]   # returns the files it produced


@dataclass
class StageContext:
    name: str
    work: Path
    out: Path
    log: Callable[[str], None]
    results: Dict[str, Dict] = field(default_factory=dict)   # markers of earlier stages, by name
    info: Dict = field(default_factory=dict)                 # what the stage wants recorded in its marker


class StageRunner:
    def __init__(self, work: Path, out: Path, config, log: Callable[[str], None] = print) -> None:
        self.work = Path(work)
        self.out = Path(out)
        self.config = config
        self.log = log
        self.markers = self.work / "stages"
        self.fingerprints: Dict[str, str] = {}

    def fingerprint(self, stage: Stage) -> str:
        parts = {"config": self.config.section_hash(*stage.sections) if stage.sections else "",
                 "deps": {d: self.fingerprints[d] for d in stage.deps}}
        blob = json.dumps({"stage": stage.name, **parts}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def marker_path(self, name: str) -> Path:
        return self.markers / f"{name}.json"

    def load_marker(self, name: str) -> Optional[Dict]:
        p = self.marker_path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def is_done(self, stage: Stage, fp: str) -> bool:
        m = self.load_marker(stage.name)
        if not m or m.get("fingerprint") != fp:
            return False
        for f in m.get("outputs", []):
            p = Path(f["path"])
            if not p.is_file() or p.stat().st_size != f["bytes"]:
                return False
        return True

    def run(self, stages: Sequence[Stage], only: Optional[Sequence[str]] = None,
            force: Sequence[str] = ()) -> Dict[str, Dict]:
        names = [s.name for s in stages]
        for n in list(only or []) + list(force):
            if n not in names:
                raise ValueError(f"unknown stage {n!r}; stages are {', '.join(names)}")
        results: Dict[str, Dict] = {}
        forced = set(force)
        last = max(names.index(n) for n in only) if only else len(stages) - 1
        for stage in stages[:last + 1]:
            fp = self.fingerprint(stage)
            self.fingerprints[stage.name] = fp
            redo_upstream = any(d in forced for d in stage.deps)
            if redo_upstream:
                forced.add(stage.name)
            if stage.name not in forced and self.is_done(stage, fp):
                results[stage.name] = self.load_marker(stage.name)
                self.log(f"[{stage.name}] up to date ({fp}), skipped")
                continue
            if only is not None and stage.name not in only:
                missing = self.load_marker(stage.name)
                if missing is None:
                    raise RuntimeError(f"stage {stage.name!r} is needed by a selected stage but has not run; "
                                       f"include it in --stages")
                self.log(f"[{stage.name}] not selected; using its existing outputs")
                results[stage.name] = missing
                continue
            self.log(f"[{stage.name}] running ({fp})")
            t0 = time.time()
            ctx = StageContext(stage.name, self.work, self.out, self.log, results)
            outputs = stage.run(ctx)
            marker = {"stage": stage.name, "fingerprint": fp, "seconds": round(time.time() - t0, 2),
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "outputs": [{"path": str(p), "bytes": Path(p).stat().st_size} for p in outputs],
                      "info": getattr(ctx, "info", {})}
            self.markers.mkdir(parents=True, exist_ok=True)
            tmp = self.marker_path(stage.name).with_suffix(".tmp")
            tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.marker_path(stage.name))
            results[stage.name] = marker
            self.log(f"[{stage.name}] done in {marker['seconds']} s")
        return results
