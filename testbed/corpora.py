"""Corpus building, pure stdlib: code, prose and math documents with deterministic held-out splits.

- code:  Python source of the standard library and installed packages (whatever this machine has).
- prose: Python-ecosystem English: paragraphs from package metadata (README-like long descriptions), the Python
         reference text shipped with the interpreter (pydoc_data), docstrings of modules *not* used for the code
         corpus.
- math:  synthetic problems with worked steps (mathgen.py).
- general (pretraining only, no adapter, no eval set): English paragraphs of the system's own documentation
         (/usr/share/doc, info manuals, Perl's POD, CMake's help, Node packages' READMEs; see
         CorpusConfig.general_roots). The base learns mostly from it, so each adapter's domain is one it lacks.

Documents are deduplicated by content hash, then assigned to train/valid/test by a seeded hash of their
content, so a document's split never depends on what else was found.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import random
import re
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import mathgen
from config import GENERAL, POOLS, CorpusConfig, DOMAINS

SPLITS = ("train", "valid", "test")
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- splitting, dedup, chunking

def split_of(text: str, domain: str, seed: int, valid_fraction: float, test_fraction: float) -> str:
    h = hashlib.sha256(f"{seed}\x00{domain}\x00{text}".encode("utf-8")).digest()
    u = int.from_bytes(h[:8], "big") / 2.0 ** 64
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


def normalized_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def chunk_lines(text: str, max_chars: int) -> List[str]:
    """Cut text into pieces of at most max_chars at line boundaries, preferring blank lines."""
    if len(text) <= max_chars:
        return [text]
    pieces: List[str] = []
    cur: List[str] = []
    size = 0
    last_blank = -1
    for line in text.split("\n"):
        if len(line) > max_chars:
            line = line[:max_chars]
        if size + len(line) + 1 > max_chars and cur:
            if last_blank > 0:
                pieces.append("\n".join(cur[:last_blank]))
                cur = cur[last_blank + 1:]
            else:
                pieces.append("\n".join(cur))
                cur = []
            size = sum(len(c) + 1 for c in cur)
            last_blank = -1
        if not line.strip():
            last_blank = len(cur)
        cur.append(line)
        size += len(line) + 1
    if cur:
        pieces.append("\n".join(cur))
    return [p.strip("\n") for p in pieces if p.strip()]


# ---------------------------------------------------------------- sources

def source_roots() -> List[Path]:
    """The stdlib and every site-/dist-packages directory on sys.path, deduplicated, in a stable order."""
    roots: List[Path] = []
    stdlib = sysconfig.get_paths().get("stdlib")
    if stdlib:
        roots.append(Path(stdlib))
    for p in sys.path:
        if p and ("site-packages" in p or "dist-packages" in p) and os.path.isdir(p):
            roots.append(Path(p))
    seen, out = set(), []
    for r in roots:
        rr = r.resolve()
        if rr not in seen:
            seen.add(rr)
            out.append(rr)
    return out


_SKIP_DIRS = {"__pycache__", ".git", "node_modules"}


def python_files(roots: Sequence[Path]) -> Dict[str, List[Path]]:
    """Python files grouped by top-level package name ('stdlib:<module>' for the standard library)."""
    groups: Dict[str, List[Path]] = {}
    stdlib = roots[0] if roots else None
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            at_top = dirpath == str(root)
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in _SKIP_DIRS and not d.endswith((".dist-info", ".egg-info"))
                                 and not (at_top and d in ("site-packages", "dist-packages")))
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                path = Path(dirpath) / fn
                if HERE in path.parents:
                    continue
                rel = path.relative_to(root)
                top = rel.parts[0][:-3] if len(rel.parts) == 1 else rel.parts[0]
                key = ("stdlib:" if root == stdlib else "") + top
                groups.setdefault(key, []).append(path)
    return groups


def read_text(path: Path, max_bytes: int) -> Optional[str]:
    try:
        if path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n").replace("\t", "    ")


def looks_like_source(text: str) -> bool:
    lines = text.split("\n")
    if not lines or max(len(l) for l in lines) > 400:
        return False            # generated or minified
    nonascii = sum(1 for ch in text if ord(ch) > 127)
    return nonascii <= len(text) * 0.02


_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_MARKUP = re.compile(r"^\s*(\.\.|\[!\[|\||<|#|=+$|-+$|~+$|\*+$|\^+$|>>>|\$ |:[a-z]+:)")


def english_paragraph(par: str, min_words: int = 12) -> Optional[str]:
    """The paragraph unwrapped to one line if it reads as English prose, else None."""
    lines = [l.strip() for l in par.strip().split("\n")]
    if not lines or any(_MARKUP.match(l) for l in lines):
        return None
    if any(l.startswith(("-", "*", "+", "|")) for l in lines) and len(lines) > 1:
        return None     # lists and tables
    text = " ".join(lines)
    text = re.sub(r"https?://\S+", "", text)
    text = re.sub(r"`+([^`]*)`+_?", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip()
    tokens = text.split()
    if len(tokens) < min_words:
        return None
    words = [t for t in tokens if _WORD.fullmatch(t.strip(".,;:!?()\"'"))]
    if len(words) < 0.75 * len(tokens):
        return None
    if any(ch in text for ch in "{}[]=_\\") and text.count("(") + text.count("=") > 3:
        return None
    if not text[0].isupper() or text[-1] not in ".!?:)":
        return None
    nonascii = sum(1 for ch in text if ord(ch) > 127)
    if nonascii > len(text) * 0.01:
        return None
    return text


def paragraphs_of(text: str) -> List[str]:
    out = []
    in_fence = False
    keep: List[str] = []
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            in_fence = not in_fence
            keep.append("")
            continue
        keep.append("" if in_fence or line.startswith(("    ", "\t")) else line)
    for par in re.split(r"\n\s*\n", "\n".join(keep)):
        p = english_paragraph(par)
        if p:
            out.append(p)
    return out


_TRIPLE = re.compile(r'^[ \t]*[rRuU]?("""|\'\'\')(.*?)\1', re.S | re.M)


def docstring_paragraphs(source: str) -> List[str]:
    """English paragraphs of the triple-quoted strings that open a line (docstrings, mostly).

    A regex rather than ast: parsing every file costs minutes on a machine with torch installed."""
    import inspect
    out: List[str] = []
    for m in _TRIPLE.finditer(source):
        doc = inspect.cleandoc(m.group(2))
        if len(doc) >= 100:
            out.extend(p for p in paragraphs_of(doc) if len(p.split()) >= 20)
    return out


def metadata_descriptions(roots: Sequence[Path]) -> Iterator[Tuple[str, str]]:
    """(package, long description) from dist-info METADATA and egg-info PKG-INFO files."""
    for root in roots:
        try:
            entries = sorted(os.listdir(root))
        except OSError:
            continue
        for e in entries:
            if e.endswith(".dist-info"):
                meta = root / e / "METADATA"
            elif e.endswith(".egg-info"):
                meta = root / e / "PKG-INFO" if (root / e).is_dir() else root / e
            else:
                continue
            text = read_text(meta, 2_000_000) if meta.is_file() else None
            if not text:
                continue
            head, _, body = text.partition("\n\n")
            desc = [l[len("Description: "):] for l in head.split("\n") if l.startswith("Description: ")]
            summary = [l[len("Summary: "):] for l in head.split("\n") if l.startswith("Summary: ")]
            yield e.split("-")[0], "\n\n".join(summary + desc + [body])


def pydoc_topics() -> Iterator[Tuple[str, str]]:
    try:
        from pydoc_data import topics  # the Python language reference, as text
    except ImportError:
        return
    for name in sorted(topics.topics):
        yield name, topics.topics[name]


_DOC_SUFFIXES = (".txt", ".md", ".rst", ".pod", ".pm", ".text", ".info")
_SKIP_DOC = (".html", ".htm", ".png", ".svg", ".js", ".css", ".json", ".xml", ".py", ".c", ".h", ".sh", ".pdf",
             ".jpg", ".gif", ".ps", ".tex", ".yaml", ".yml")


def _is_doc_name(fn: str) -> bool:
    base = fn[:-3] if fn.endswith(".gz") else fn
    if fn == "copyright" or base.endswith(_SKIP_DOC):
        return False
    # plain names (README, NEWS, changelog, FAQ, info parts such as find.info-1) and text-like suffixes
    return base.endswith(_DOC_SUFFIXES) or "." not in base or re.search(r"\.info-\d+$", base) is not None


def read_doc(path: Path, max_bytes: int = 2_000_000) -> Optional[str]:
    """A documentation file's text (gunzipped when it ends in .gz), or None if it is not UTF-8 text."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
            if len(data) > 4 * max_bytes:
                return None
        text = data.decode("utf-8")
    except (OSError, EOFError, ValueError, gzip.BadGzipFile):
        return None
    if "\x00" in text:
        return None
    return text.replace("\r\n", "\n").replace("\t", "    ")


def doc_texts(roots: Sequence[str], limit: int) -> Iterator[Tuple[str, str]]:
    """(source, text) of documentation files under the given roots (globs expanded, each root walked in a
    stable order), at most `limit` files in all."""
    n = 0
    seen: set = set()
    for pattern in roots:
        for root in sorted(glob.glob(pattern)):
            rp = Path(root).resolve()
            if rp in seen or not rp.is_dir():
                continue
            seen.add(rp)
            for dirpath, dirnames, filenames in os.walk(rp):
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and d not in ("test", "tests"))
                for fn in sorted(filenames):
                    if not _is_doc_name(fn):
                        continue
                    text = read_doc(Path(dirpath) / fn)
                    if text:
                        yield f"{Path(dirpath).relative_to(rp.parent)}/{fn}", text
                        n += 1
                        if n >= limit:
                            return


# ---------------------------------------------------------------- the corpus

class Corpus:
    """Documents per pool and split: {pool: {split: [ {text, source} ]}} (the domains and the general pool),
    plus the mixed test set."""

    def __init__(self) -> None:
        self.docs: Dict[str, Dict[str, List[Dict]]] = {d: {s: [] for s in SPLITS} for d in POOLS}
        self.mixed: List[Dict] = []
        self.description: Dict = {}
        self._chars: Dict[str, int] = {d: 0 for d in POOLS}

    def add(self, domain: str, text: str, source: str, cfg: CorpusConfig, seen: set) -> bool:
        key = normalized_key(text)
        if key in seen:
            return False
        seen.add(key)
        split = split_of(text, domain, cfg.seed, cfg.valid_fraction, cfg.test_fraction)
        self.docs[domain][split].append({"domain": domain, "source": source, "text": text})
        self._chars[domain] += len(text)
        return True

    def chars(self, domain: str) -> int:
        return self._chars[domain]

    def write(self, out_dir: Path) -> List[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for d in POOLS:
            for s in SPLITS:
                p = out_dir / f"{d}.{s}.jsonl"
                write_jsonl(p, self.docs[d][s])
                written.append(p)
        p = out_dir / "mixed.test.jsonl"
        write_jsonl(p, self.mixed)
        written.append(p)
        p = out_dir / "description.json"
        p.write_text(json.dumps(self.description, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(p)
        return written

    @staticmethod
    def read(out_dir: Path) -> "Corpus":
        c = Corpus()
        for d in POOLS:
            for s in SPLITS:
                c.docs[d][s] = read_jsonl(out_dir / f"{d}.{s}.jsonl")
                c._chars[d] += sum(len(x["text"]) for x in c.docs[d][s])
        c.mixed = read_jsonl(out_dir / "mixed.test.jsonl")
        c.description = json.loads((out_dir / "description.json").read_text(encoding="utf-8"))
        return c


def write_jsonl(path: Path, rows: Iterable[Dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> List[Dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def read_eval_sets(path: Path) -> Dict[str, List[Dict]]:
    """The records of an eval file grouped by their "set"."""
    sets: Dict[str, List[Dict]] = {}
    for r in read_jsonl(path):
        sets.setdefault(r["set"], []).append(r)
    return sets


def build_code(corpus: Corpus, cfg: CorpusConfig, groups: Dict[str, List[Path]], seen: set) -> set:
    """Adds code documents; returns the files used (prose docstrings come from the others)."""
    rng = random.Random(cfg.seed)
    candidates: List[Tuple[str, Path]] = []
    for pkg in sorted(groups):
        files = sorted(groups[pkg])
        if len(files) > cfg.max_files_per_package:
            files = sorted(rng.sample(files, cfg.max_files_per_package))
        candidates.extend((pkg, f) for f in files)
    rng.shuffle(candidates)
    used: set = set()
    per_pkg: Dict[str, int] = {}
    budget = cfg.max_chars["code"]
    for pkg, path in candidates:
        if corpus.chars("code") >= budget:
            break
        text = read_text(path, cfg.max_source_file_bytes)
        if not text or len(text) < cfg.min_doc_chars or not looks_like_source(text):
            continue
        used.add(path)
        added = False
        for piece in chunk_lines(text.strip("\n"), cfg.max_doc_chars):
            if len(piece) >= cfg.min_doc_chars:
                added |= corpus.add("code", piece, pkg, cfg, seen)
        if added:
            per_pkg[pkg] = per_pkg.get(pkg, 0) + 1
    corpus.description.setdefault("code", {})["files_per_package"] = dict(sorted(per_pkg.items()))
    return used


def _add_paragraph_docs(corpus: Corpus, cfg: CorpusConfig, source: str, pars: List[str], seen: set,
                        pool: str = "prose") -> None:
    cur: List[str] = []
    size = 0
    for p in pars:
        key = "par:" + normalized_key(p)       # licence texts and boilerplate repeat across packages
        if key in seen:
            continue
        seen.add(key)
        if size + len(p) > cfg.max_doc_chars and cur:
            text = "\n\n".join(cur)
            if len(text) >= cfg.min_doc_chars:
                corpus.add(pool, text, source, cfg, seen)
            cur, size = [], 0
        cur.append(p[:cfg.max_doc_chars])
        size += len(p) + 2
    if cur:
        text = "\n\n".join(cur)
        if len(text) >= cfg.min_doc_chars:
            corpus.add(pool, text, source, cfg, seen)


def build_prose(corpus: Corpus, cfg: CorpusConfig, roots: Sequence[Path], groups: Dict[str, List[Path]],
                code_files: set, seen: set) -> None:
    budget = cfg.max_chars["prose"]
    counts: Dict[str, int] = {}

    def take(kind: str, source: str, pars: List[str]) -> bool:
        before = corpus.chars("prose")
        _add_paragraph_docs(corpus, cfg, source, pars, seen)
        counts[kind] = counts.get(kind, 0) + corpus.chars("prose") - before
        return corpus.chars("prose") >= budget

    for pkg, desc in metadata_descriptions(roots):
        if take("package_metadata", f"metadata:{pkg}", paragraphs_of(desc)):
            break
    for name, text in pydoc_topics():
        if corpus.chars("prose") >= budget or take("python_reference", f"pydoc:{name}", paragraphs_of(text)):
            break
    rng = random.Random(cfg.seed + 1)
    rest = [p for pkg in sorted(groups) for p in groups[pkg] if p not in code_files]
    rng.shuffle(rest)
    for path in rest:
        if corpus.chars("prose") >= budget:
            break
        text = read_text(path, cfg.max_source_file_bytes)
        if text:
            take("docstrings", f"docstring:{path.name}", docstring_paragraphs(text))
    corpus.description.setdefault("prose", {})["chars_by_source_kind"] = counts


def build_general(corpus: Corpus, cfg: CorpusConfig, general_roots: Sequence[str], seen: set) -> None:
    """English paragraphs of system documentation: the base's pretraining text, kept apart from every domain
    (prose paragraphs seen first win the dedup, so no paragraph is in both)."""
    budget = cfg.max_chars.get(GENERAL, 0)
    counts: Dict[str, int] = {}
    if budget <= 0:
        return
    for name, text in doc_texts(general_roots, cfg.general_max_files):
        if corpus.chars(GENERAL) >= budget:
            break
        before = corpus.chars(GENERAL)
        _add_paragraph_docs(corpus, cfg, f"doc:{name}", paragraphs_of(text), seen, pool=GENERAL)
        top = name.split("/")[0]
        counts[top] = counts.get(top, 0) + corpus.chars(GENERAL) - before
    corpus.description.setdefault(GENERAL, {})["chars_by_root"] = dict(sorted(counts.items()))


def build_math(corpus: Corpus, cfg: CorpusConfig, seen: set) -> None:
    kinds: Dict[str, int] = {}
    for text, probs in mathgen.documents(cfg.seed + 2, cfg.max_chars["math"]):
        if corpus.add("math", text, "synthetic", cfg, seen):
            for p in probs:
                kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    corpus.description.setdefault("math", {})["problems_by_kind"] = dict(sorted(kinds.items()))


def build(cfg: CorpusConfig, roots: Optional[Sequence[Path]] = None,
          general_roots: Optional[Sequence[str]] = None) -> Corpus:
    import mixed
    roots = list(roots) if roots is not None else source_roots()
    general_roots = list(general_roots) if general_roots is not None else list(cfg.general_roots)
    corpus = Corpus()
    seen: set = set()
    groups = python_files(roots)
    code_files = build_code(corpus, cfg, groups, seen)
    build_prose(corpus, cfg, roots, groups, code_files, seen)
    build_math(corpus, cfg, seen)
    build_general(corpus, cfg, [str(r) for r in general_roots], seen)
    corpus.mixed = mixed.build(corpus, cfg.seed + 3, cfg.mixed_count)
    desc = corpus.description
    desc["roots"] = [str(r) for r in roots]
    desc["general_roots"] = [str(r) for r in general_roots]
    desc["python"] = sys.version.split()[0]
    desc["seed"] = cfg.seed
    desc["splits"] = {d: {s: {"docs": len(corpus.docs[d][s]),
                              "chars": sum(len(x["text"]) for x in corpus.docs[d][s])} for s in SPLITS}
                      for d in POOLS}
    desc["mixed"] = {"lines": len(corpus.mixed),
                     "by_domains": _count(["+".join(m["domains"]) for m in corpus.mixed])}
    return corpus


def _count(items: List[str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))
