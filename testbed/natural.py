#!/usr/bin/env python3
"""The natural mixed eval set (issue 22, part 1): real documents of this machine that mix prose with code and
numbers, held out from every training pool, with spans labelled from the documents' own structure.

    .cache/testbed-venv/bin/python testbed/natural.py --work .cache/testbed-work --family models/testbed

writes models/testbed/natural-eval.jsonl (set "natural"), natural-valid.jsonl (set "natural-valid": other
documents, for choosing routers), natural-manifest.json and natural-pool-bloom.bin (a Bloom filter of the training
pools' line and paragraph hashes, so that the tests can re-check the overlap in seconds). Needs the corpora stage's
output under --work (it is rebuilt with `run.py --stages corpora --out DIR` in the testbed venv: the same interpreter and
packages as the family's run, so the same pools) and sentencepiece (the family's tokenizer, to fit records in
train.seq_len tokens).

Rules, version ``natural-3``; written down before any router was evaluated on the set, and applied to every
candidate alike (nothing below looks at a model). History, all before any router was measured on the set (the
base and adapters had been): natural-1 had rule 5 without its word runs, and two committed records shared long runs
with the pools (a BSD licence and the PyPA code-of-conduct sentence, wrapped so that no line matched); natural-2
added the runs; it still let a README republished under two names into both parts (fla-core in eval,
flash-linear-attention in valid) or twice into eval (opencv-python, opencv-python-headless); natural-3 adds rule 6's
sharing checks. Nothing else changed.

1. Sources. The package index this machine's pip is configured with (``file:///opt/pypi/simple``). A project is a
   candidate unless it is installed anywhere a training pool could have read it: every project pinned in
   testbed/requirements.txt (the venv whose site-packages were the code and prose pools' root), every distribution
   of the system python3 and of /usr/lib/python3/dist-packages. Of each candidate, the newest version's wheel as
   the index lists it (the same file ``pip download --no-deps NAME==VERSION`` fetches; its sha256 is checked
   against the index and recorded), and of it one document: the long description in ``*.dist-info/METADATA``
   (the package's README as published). Documents are taken in alphabetical order of the project's name.
2. A document is kept when its content type is Markdown (``text/markdown``) or reST (``text/x-rst``, or none
   given), it is at least 1,500 characters, at most 2 % of its code points are non-ASCII, and it has at least one
   code block by rule 3 (fenced block in Markdown; ``::`` block, code directive or doctest in reST).
3. Cleaning and labels, per line. Removed first: lines that are only HTML (start with ``<``), Markdown images and
   badges (start with ``![`` or ``[![``), reST image/figure/raw directives and substitution definitions
   (``.. image::``, ``.. figure::``, ``.. raw::``, ``.. |x| ...``) with their indented bodies; runs of blank lines
   are collapsed into one. Then every line is labelled:
   - **code**: in Markdown, a fenced block (```` ``` ```` or ``~~~``, fence lines included; an unclosed fence
     runs to the end) and an indented block (4+ spaces after a blank line, not under a list item); in reST, the
     indented block after a line ending in ``::``, and a ``code-block``/``code``/``sourcecode``/``doctest``/
     ``testcode``/``ipython`` directive with its body; in both, doctest lines (``>>>`` and ``...`` after it) and
     their output lines up to the next blank line;
   - **math**: a ``$$ ... $$`` block or a reST ``.. math::`` directive with its body; outside code, a line that is
     arithmetic (``is_arithmetic``): after stripping a list marker, backticks, emphasis and ``$``, it is an
     expression of operands (numbers, one-letter names, optionally signed) joined by binary operators
     ``+ - * / × ÷ ^ ** = ≈ < > ≤ ≥ %`` with parentheses, with at least one digit, three tokens and one operator
     other than ``-`` (dates, ranges and version numbers are not arithmetic);
   - **prose**: every other line.
   A blank line takes the label of the line before it (inside a block it is the block's); each line's newline
   belongs to that line.
4. Records. A document is cut into windows of whole consecutive lines whose text is at most train.seq_len - 1
   tokens of the family's tokenizer (so ``[BOS] + ids`` fits the seq_len the models were trained with), each
   window as long as fits, ending at its last blank line when there is one in its second half; a single line longer
   than that is dropped and ends the window. Leading and trailing blank lines are trimmed. A window is a record
   when it has at least 48 tokens and is mixed: the second most frequent label covers at least 15 % of its code
   points.
5. Held out, proven by hashes. A record is dropped when any of its lines (whitespace-normalized, at least 30
   characters) or paragraphs (blank-line separated, whitespace-normalized, at least 30 characters; also in the
   cleaned form the prose pools store: corpora.english_paragraph) is a line or paragraph of any document of any
   pool (code, prose, math, general; every split: train, valid, test), or is in the pools' Bloom filter, or when it
   shares a run of 12 consecutive words (lower-cased, split at whitespace) with any pool document. The manifest
   records how many were dropped, and that the committed records have 0 such lines, paragraphs and runs.
6. Split by document. A document goes to valid when the seeded hash ``sha256("natural-1\\0" + name)`` maps below
   1/3, else to eval. Documents are taken in order of that hash, eval's first, until eval has ``EVAL_RECORDS`` and
   valid ``VALID_RECORDS`` records. A record is dropped when it shares a line or paragraph (as in rule 5) or a
   12-word run with a record already taken for its part, and, for valid, with any document that gave eval a
   record (its whole text). Each document gives at most 2 of its remaining records (those with the smallest seeded
   hash of their text, kept in document order).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

RULES_VERSION = "natural-3"
SPLIT_SALT = "natural-1"     # the seeded hash of rule 6 (unchanged since natural-1)
INDEX = Path("/opt/pypi/simple")
EVAL_RECORDS = 160
VALID_RECORDS = 80
VALID_FRACTION = 1 / 3
PER_DOC = 2
MIN_DOC_CHARS = 1500
MAX_NONASCII = 0.02
MIN_TOKENS = 48
MIN_SECOND_SHARE = 0.15
MIN_KEY_CHARS = 30
BLOOM_BITS_PER_KEY = 16
BLOOM_HASHES = 11

# ---------------------------------------------------------------- labelling (pure, tested)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LIST = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_CODE_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(code-block|code|sourcecode|doctest|testcode|ipython|jupyter-execute)::")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+math::")
_DROP_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(image|figure|raw|\|[^|]+\|)")
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?%?"
_ARITH_TOKEN = re.compile(r"\s*(\*\*|" + _NUM + r"|[A-Za-z]|[-+*/×÷^=≈<>≤≥()%])")
_BINARY = set("+*/×÷^=≈<>≤≥%-") | {"**"}
_STRONG = _BINARY - {"-"}


def is_arithmetic(line: str) -> bool:
    """ARITH: the line, less a list marker, backticks, emphasis and $, is an expression: operands (numbers, one-letter
    names, each with an optional sign) joined by binary operators, with parentheses; at least one digit, at least
    one operator other than '-' (so dates and ranges are not arithmetic), no number with a second dot (versions)."""
    s = _LIST.sub("", line, count=1).strip().strip("`$*_").strip().rstrip(".;,:").strip()
    if not s or len(s) > 200 or not any(c.isdigit() for c in s):
        return False
    toks, pos = [], 0
    while pos < len(s):
        m = _ARITH_TOKEN.match(s, pos)
        if not m or m.end() == pos:
            return False
        toks.append(m.group(1))
        pos = m.end()
        if pos < len(s) and (s[pos].isalnum() or s[pos] in ".,") and toks[-1][-1].isalnum():
            return False            # 1.2.3, 2x, ab: not an operand followed by a break
    toks = [t for t in toks if t not in "()"]
    expect_operand, seen_op = True, False
    for t in toks:
        if expect_operand:
            if t in ("-", "+"):
                continue            # a sign
            if t in _BINARY:
                return False
            expect_operand = False
        else:
            if t not in _BINARY:
                return False        # two operands side by side
            seen_op |= t in _STRONG
            expect_operand = True
    return not expect_operand and seen_op and len(toks) >= 3


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def clean_lines(text: str, kind: str) -> List[str]:
    """Rule 3's removals: HTML-only lines, images and badges, reST image/figure/raw directives and substitution
    definitions with their bodies; runs of blank lines collapsed."""
    lines = text.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    out: List[str] = []
    in_fence: Optional[str] = None
    skip_indent: Optional[int] = None
    for line in lines:
        s = line.strip()
        if kind == "md":
            m = _FENCE.match(line)
            if m:
                if in_fence is None:
                    in_fence = m.group(1)
                elif m.group(1)[0] == in_fence[0] and len(m.group(1)) >= len(in_fence) and not m.group(2).strip():
                    in_fence = None
            elif in_fence is None and (s.startswith("<") or s.startswith("![") or s.startswith("[![")):
                continue
        else:
            if skip_indent is not None:
                if not s or _indent(line) > skip_indent:
                    continue
                skip_indent = None
            m = _DROP_DIRECTIVE.match(line)
            if m:
                skip_indent = len(m.group(1))
                continue
            if s.startswith("<") and s.endswith(">"):
                continue
        if not s and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def label_lines(lines: Sequence[str], kind: str) -> List[str]:
    """Rule 3's labels, one per line: "code", "math" or "prose"."""
    n = len(lines)
    lab: List[Optional[str]] = [None] * n
    i = 0
    prev_nonblank = ""        # the last non-blank line before the current position
    while i < n:
        line = lines[i]
        s = line.strip()
        if kind == "md":
            m = _FENCE.match(line)
            if m:
                fence = m.group(1)
                j = i + 1
                while j < n:
                    m2 = _FENCE.match(lines[j])
                    if m2 and m2.group(1)[0] == fence[0] and len(m2.group(1)) >= len(fence) and not m2.group(2).strip():
                        break
                    j += 1
                for k in range(i, min(j, n - 1) + 1):
                    lab[k] = "code"
                i = j + 1
                prev_nonblank = "```"
                continue
            if s == "$$" or (s.startswith("$$") and not s.endswith("$$")):
                j = i + 1
                while j < n and "$$" not in lines[j]:
                    j += 1
                for k in range(i, min(j, n - 1) + 1):
                    lab[k] = "math"
                i = j + 1
                continue
            if s.startswith("$$") and s.endswith("$$") and len(s) > 4:
                lab[i] = "math"
                i += 1
                continue
            if (_indent(line) >= 4 and s and i > 0 and not lines[i - 1].strip()
                    and not _LIST.match(prev_nonblank) and _indent(prev_nonblank) < 4):
                j = i
                while j < n and (not lines[j].strip() or _indent(lines[j]) >= 4):
                    j += 1
                while j > i and not lines[j - 1].strip():
                    j -= 1
                for k in range(i, j):
                    lab[k] = "code"
                prev_nonblank = lines[j - 1]
                i = j
                continue
        else:
            m = _CODE_DIRECTIVE.match(line) or _MATH_DIRECTIVE.match(line)
            literal = s.endswith("::") and not s.startswith("..")
            if m or literal:
                base = len(m.group(1)) if m else _indent(line)
                dom = "math" if (m and _MATH_DIRECTIVE.match(line)) else "code"
                j = i + 1
                while j < n and (not lines[j].strip() or _indent(lines[j]) > base):
                    j += 1
                while j > i + 1 and not lines[j - 1].strip():
                    j -= 1
                if m:
                    lab[i] = dom
                for k in range(i + 1, j):
                    lab[k] = dom
                if not m:
                    lab[i] = None          # the paragraph that introduces a literal block is prose
                if j > i + 1 or m:
                    prev_nonblank = lines[j - 1]
                    i = j
                    continue
        if s.startswith(">>>"):
            j = i
            while j < n and lines[j].strip():
                lab[j] = "code"
                j += 1
            i = j
            continue
        if s and is_arithmetic(line):
            lab[i] = "math"
        if s:
            prev_nonblank = line
        i += 1
    out: List[str] = []
    last = "prose"
    for k in range(n):
        if lab[k] is None:
            lab[k] = last if not lines[k].strip() else "prose"
        last = lab[k]
        out.append(lab[k])
    return out


def spans_of(lines: Sequence[str], labels: Sequence[str]) -> Tuple[str, List[List]]:
    """(text, spans): the lines joined by newlines; each line with its newline in its label's span; adjacent
    spans of one label merged. Spans cover the text exactly (offsets in code points)."""
    text = "\n".join(lines)
    spans: List[List] = []
    pos = 0
    for k, (line, lab) in enumerate(zip(lines, labels)):
        end = pos + len(line) + (1 if k < len(lines) - 1 else 0)
        if end > pos:
            if spans and spans[-1][2] == lab and spans[-1][1] == pos:
                spans[-1][1] = end
            else:
                spans.append([pos, end, lab])
        pos = end
    return text, spans


def shares(spans: Sequence[Sequence]) -> Dict[str, float]:
    total = sum(e - s for s, e, _ in spans) or 1
    out: Dict[str, float] = {}
    for s, e, d in spans:
        out[d] = out.get(d, 0) + (e - s) / total
    return out


def is_mixed(spans: Sequence[Sequence], min_share: float = MIN_SECOND_SHARE) -> bool:
    sh = sorted(shares(spans).values(), reverse=True)
    return len(sh) >= 2 and sh[1] >= min_share


def windows(lines: Sequence[str], labels: Sequence[str], count: Callable[[str], int], max_tokens: int
            ) -> Iterator[Tuple[List[str], List[str]]]:
    """Rule 4's windows: (lines, labels) of consecutive whole lines whose joined text is <= max_tokens tokens."""
    n = len(lines)
    i = 0
    while i < n:
        while i < n and not lines[i].strip():
            i += 1
        if i >= n:
            return
        if count(lines[i]) > max_tokens:
            i += 1                  # one line longer than a window: dropped, it ends the window
            continue
        # grow while it fits (token counts of joined text, checked exactly)
        j = i + 1
        while j < n and count(lines[j]) <= max_tokens and count("\n".join(lines[i:j + 1])) <= max_tokens:
            j += 1
        end = j
        if j < n:
            blanks = [k for k in range(i + (j - i) // 2, j) if not lines[k].strip()]
            if blanks:
                end = blanks[-1]
        a, b = i, end
        while b > a and not lines[b - 1].strip():
            b -= 1
        yield list(lines[a:b]), list(labels[a:b])
        i = end


# ---------------------------------------------------------------- hashing (pure, tested)

def norm(text: str) -> str:
    return " ".join(text.split())


def key_hash(text: str) -> bytes:
    return hashlib.sha256(norm(text).encode("utf-8")).digest()


def text_keys(text: str, min_chars: int = MIN_KEY_CHARS) -> Set[str]:
    """The normalized lines and paragraphs of a text with at least min_chars characters (rule 5), plus each
    paragraph's cleaned form as corpora.english_paragraph stores prose."""
    import corpora
    keys: Set[str] = set()
    for line in text.split("\n"):
        k = norm(line)
        if len(k) >= min_chars:
            keys.add(k)
    for par in re.split(r"\n\s*\n", text):
        k = norm(par)
        if len(k) >= min_chars:
            keys.add(k)
        e = corpora.english_paragraph(par)
        if e and len(norm(e)) >= min_chars:
            keys.add(norm(e))
    return keys


class Bloom:
    """A Bloom filter over sha256 digests of keys: bits m, hashes k; k indices from the digest's 32 bytes
    (double hashing of two 64-bit halves)."""

    def __init__(self, m: int, k: int, bits: Optional[bytearray] = None):
        self.m, self.k = m, k
        self.bits = bits if bits is not None else bytearray((m + 7) // 8)

    def _idx(self, digest: bytes) -> Iterator[int]:
        h1 = int.from_bytes(digest[:8], "big")
        h2 = int.from_bytes(digest[8:16], "big") | 1
        for i in range(self.k):
            yield (h1 + i * h2) % self.m

    def add(self, digest: bytes) -> None:
        for j in self._idx(digest):
            self.bits[j >> 3] |= 1 << (j & 7)

    def __contains__(self, digest: bytes) -> bool:
        return all(self.bits[j >> 3] >> (j & 7) & 1 for j in self._idx(digest))

    def write(self, path: Path) -> None:
        path.write_bytes(b"BLOOM1\0\0" + self.m.to_bytes(8, "big") + self.k.to_bytes(8, "big") + bytes(self.bits))

    @staticmethod
    def read(path: Path) -> "Bloom":
        data = path.read_bytes()
        if data[:8] != b"BLOOM1\0\0":
            raise ValueError(f"{path}: not a Bloom filter file")
        m, k = int.from_bytes(data[8:16], "big"), int.from_bytes(data[16:24], "big")
        return Bloom(m, k, bytearray(data[24:]))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seeded_unit(*parts: str) -> float:
    h = hashlib.sha256("\0".join((SPLIT_SALT,) + parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


# ---------------------------------------------------------------- sources

def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def excluded_projects() -> Dict[str, str]:
    """Rule 1's exclusions: {canonical name: why}."""
    out: Dict[str, str] = {}
    for line in (HERE / "requirements.txt").read_text(encoding="utf-8").split("\n"):
        line = line.split("#")[0].strip()
        if line:
            out[_canon(re.split(r"[=<>!~\[ ]", line)[0])] = "testbed venv (requirements.txt)"
    try:
        p = subprocess.run(["/usr/bin/env", "python3", "-m", "pip", "list", "--format=json"], capture_output=True,
                           text=True, env=dict(os.environ, PATH="/root/.pyenv/shims:/usr/local/bin:/usr/bin:/bin"))
        for d in json.loads(p.stdout or "[]"):
            out.setdefault(_canon(d["name"]), "system python3")
    except (OSError, ValueError):
        pass
    for root in ("/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages"):
        if os.path.isdir(root):
            for e in os.listdir(root):
                if e.endswith((".dist-info", ".egg-info")):
                    out.setdefault(_canon(e.split("-")[0]), root)
    return out


_HREF = re.compile(r'href="([^"#]+)#sha256=([0-9a-f]{64})"')


def _version_key(v: str):
    try:
        from packaging.version import Version
        return (0, Version(v))
    except Exception:
        return (1, v)


def newest_wheel(project_dir: Path) -> Optional[Tuple[str, str, Path, str]]:
    """(filename, version, path, sha256) of the newest wheel the index page lists."""
    page = (project_dir / "index.html").read_text(encoding="utf-8", errors="replace")
    best = None
    for href, sha in _HREF.findall(page):
        fn = html.unescape(href).split("/")[-1]
        if not fn.endswith(".whl"):
            continue
        version = fn.split("-")[1]
        path = (project_dir / html.unescape(href)).resolve()
        k = (_version_key(version), fn)
        if best is None or k > best[0]:
            best = (k, (fn, version, path, sha))
    return best[1] if best else None


def wheel_description(path: Path) -> Tuple[str, str, str]:
    """(METADATA member, content type, long description) of a wheel."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            return "", "", ""
        raw = z.read(names[0]).decode("utf-8", errors="replace")
    msg = Parser().parsestr(raw)
    body = msg.get_payload()
    if not isinstance(body, str) or not body.strip():
        body = msg.get("Description", "") or ""
    ctype = (msg.get("Description-Content-Type") or "").split(";")[0].strip().lower()
    return names[0], ctype, body


def doc_kind(ctype: str) -> Optional[str]:
    if ctype == "text/markdown":
        return "md"
    if ctype in ("", "text/x-rst"):
        return "rst"
    return None


def sources(index: Path, excluded: Dict[str, str], log=print) -> Iterator[Dict]:
    """Rule 1 and 2: candidate documents in alphabetical order of project name."""
    for name in sorted(os.listdir(index)):
        c = _canon(name)
        if c in excluded or not (index / name / "index.html").is_file():
            continue
        w = newest_wheel(index / name)
        if not w:
            continue
        fn, version, path, sha = w
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            log(f"  {name}: {fn} missing or its sha256 differs from the index; skipped")
            continue
        try:
            member, ctype, body = wheel_description(path)
        except (zipfile.BadZipFile, OSError, KeyError):
            continue
        kind = doc_kind(ctype)
        if not kind or len(body) < MIN_DOC_CHARS:
            continue
        if sum(1 for ch in body if ord(ch) > 127) > MAX_NONASCII * len(body):
            continue
        lines = clean_lines(body, kind)
        labels = label_lines(lines, kind)
        if "code" not in labels:
            continue
        yield {"project": c, "version": version, "archive": fn, "archive_sha256": sha, "file": member,
               "content_type": ctype or "(none: reST)", "kind": kind, "lines": lines, "labels": labels,
               "doc_sha256": sha256_text(body)}


# ---------------------------------------------------------------- the pools

def pool_keys(corpora_dir: Path) -> Tuple[Set[bytes], Dict[str, int]]:
    """sha256 of every normalized line and paragraph (>= MIN_KEY_CHARS) of every document of every pool and
    split, and of the mixed test lines."""
    import corpora
    from config import POOLS
    keys: Set[bytes] = set()
    counts: Dict[str, int] = {}
    files = [corpora_dir / f"{d}.{s}.jsonl" for d in POOLS for s in corpora.SPLITS] + [corpora_dir / "mixed.test.jsonl"]
    for f in files:
        n = 0
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                text = json.loads(line)["text"]
                n += 1
                for ln in text.split("\n"):
                    k = norm(ln)
                    if len(k) >= MIN_KEY_CHARS:
                        keys.add(key_hash(k))
                for par in re.split(r"\n\s*\n", text):
                    k = norm(par)
                    if len(k) >= MIN_KEY_CHARS:
                        keys.add(key_hash(k))
        counts[f.name] = n
    return keys, counts


SHINGLE_WORDS = 12


def shingles(text: str, n: int = SHINGLE_WORDS) -> Set[int]:
    """First 8 bytes of sha256 of every run of n consecutive words (whitespace-separated, lower-cased)."""
    w = text.lower().split()
    return {int.from_bytes(hashlib.sha256(" ".join(w[i:i + n]).encode("utf-8")).digest()[:8], "big")
            for i in range(len(w) - n + 1)}


def pool_shingle_hits(corpora_dir: Path, records: Sequence[Dict]) -> Dict:
    """Rule 5's word runs: which records share any run of SHINGLE_WORDS words with a pool document."""
    import corpora
    from config import POOLS
    want: Dict[int, Set[int]] = {}
    for i, r in enumerate(records):
        for h in shingles(r["text"]):
            want.setdefault(h, set()).add(i)
    hit: Set[int] = set()
    shared = 0
    for d in POOLS:
        for sp in corpora.SPLITS:
            for doc in corpora.read_jsonl(corpora_dir / f"{d}.{sp}.jsonl"):
                w = doc["text"].lower().split()
                for i in range(len(w) - SHINGLE_WORDS + 1):
                    h = int.from_bytes(hashlib.sha256(" ".join(w[i:i + SHINGLE_WORDS]).encode("utf-8")).digest()[:8],
                                       "big")
                    if h in want:
                        shared += 1
                        hit |= want[h]
    return {"words": SHINGLE_WORDS, "records_sharing_a_run_with_a_pool": len(hit), "runs_found": shared,
            "records": len(records), "which": sorted(hit)}


# ---------------------------------------------------------------- build

def build(args) -> int:
    import tok
    from config import TestbedConfig
    import corpora
    cfg = TestbedConfig()
    seq_len = cfg.train.seq_len
    fam = Path(args.family)
    sp = tok.load(fam / "testbed-tokenizer.model")
    encode = lambda t: sp.encode(t)  # noqa: E731
    cache: Dict[str, int] = {}

    def count(t: str) -> int:
        if t not in cache:
            cache[t] = len(encode(t))
        return cache[t]

    corp = Path(args.work) / "corpora"
    desc = json.loads((corp / "description.json").read_text(encoding="utf-8"))
    man = json.loads((fam / "manifest.json").read_text(encoding="utf-8"))
    same_pools = {d: desc["splits"].get(d) == man["corpus"]["splits"].get(d) for d in man["corpus"]["splits"]}
    print(f"pools rebuilt here equal to the family's manifest (docs and chars per split): {same_pools}")
    keys, pool_counts = pool_keys(corp)
    print(f"{len(keys):,} pool keys from {sum(pool_counts.values()):,} documents")
    m = max(8, len(keys) * BLOOM_BITS_PER_KEY)
    bloom = Bloom(m, BLOOM_HASHES)
    for k in keys:
        bloom.add(k)

    excluded = excluded_projects()
    docs = list(sources(INDEX, excluded))
    print(f"{len(docs)} documents kept by rules 1-2 ({len(excluded)} projects excluded as installed)")
    dropped_overlap = 0
    per_doc: List[Tuple[float, Dict, List[Dict]]] = []
    windows_total = 0
    candidates: List[Tuple[Dict, List[Dict]]] = []
    all_windows: Dict[str, List[str]] = {}     # every window of >= MIN_TOKENS, mixed or not (the train split's)
    for d in docs:
        recs = []
        for wl, wlab in windows(d["lines"], d["labels"], count, seq_len - 1):
            text, spans = spans_of(wl, wlab)
            ids = [tok.BOS] + list(encode(text))
            if MIN_TOKENS <= len(ids) - 1 and len(ids) <= seq_len:
                all_windows.setdefault(d["project"], []).append(text)
            if len(ids) - 1 < MIN_TOKENS or len(ids) > seq_len or not is_mixed(spans):
                continue
            windows_total += 1
            hits = [k for k in text_keys(text) if key_hash(k) in keys or key_hash(k) in bloom]
            if hits:
                dropped_overlap += 1
                continue
            recs.append({"text": text, "ids": ids, "spans": spans,
                         "domains": sorted({s[2] for s in spans}, key=lambda x: ("prose", "code", "math").index(x)),
                         "source": f"{d['project']}=={d['version']}:{d['file']}"})
        candidates.append((d, recs))
    # rule 5, second half (natural-2): no run of SHINGLE_WORDS words in common with any pool document
    flat = [r for _, recs in candidates for r in recs]
    runs = pool_shingle_hits(corp, flat)
    bad = {id(flat[i]) for i in runs["which"]}
    dropped_runs = len(bad)
    print(f"{windows_total} mixed windows; dropped for a pool line or paragraph: {dropped_overlap}, for a shared "
          f"{SHINGLE_WORDS}-word run: {dropped_runs}")
    for d, recs in candidates:
        recs = [r for r in recs if id(r) not in bad]
        if recs:
            per_doc.append((seeded_unit(d["project"]), d, recs))
    per_doc.sort(key=lambda x: x[0])
    # rule 6: eval first; a record sharing a line, paragraph or word run with a record already kept is dropped
    # (republished READMEs: opencv-python and opencv-python-headless); valid then drops every record that shares
    # one with a whole eval document, so that valid's text comes from other documents than eval's
    out = {"eval": [], "valid": []}
    used_docs = {"eval": [], "valid": []}
    dropped_shared = {"eval": 0, "valid": 0}
    for part in ("eval", "valid"):
        cap = VALID_RECORDS if part == "valid" else EVAL_RECORDS
        taken_keys: Set[str] = set()
        taken_runs: Set[int] = set()
        if part == "valid":
            for d, _ in used_docs["eval"]:
                doc_text = "\n".join(d["lines"])
                taken_keys |= text_keys(doc_text)
                taken_runs |= shingles(doc_text)
        for u, d, recs in per_doc:
            if ("valid" if u < VALID_FRACTION else "eval") != part or len(out[part]) >= cap:
                continue
            fresh = []
            for r in recs:
                k, sh_ = text_keys(r["text"]), shingles(r["text"])
                if k & taken_keys or sh_ & taken_runs:
                    dropped_shared[part] += 1
                else:
                    fresh.append((r, k, sh_))
            order = sorted(range(len(fresh)), key=lambda i: seeded_unit(d["project"], fresh[i][0]["text"]))[:PER_DOC]
            chosen = [fresh[i] for i in sorted(order)][:cap - len(out[part])]
            if not chosen:
                continue
            for r, k, sh_ in chosen:
                out[part].append(r)
                taken_keys |= k
                taken_runs |= sh_
            used_docs[part].append((d, len(chosen)))
    set_names = {"eval": "natural", "valid": "natural-valid"}
    files = {}
    for part in ("eval", "valid"):
        rows = [{"set": set_names[part], "text": r["text"], "ids": r["ids"], "spans": r["spans"],
                 "domains": r["domains"], "source": r["source"]} for r in out[part]]
        p = fam / f"natural-{part}.jsonl"
        with open(p, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        files[part] = p
    bloom_path = fam / "natural-pool-bloom.bin"
    bloom.write(bloom_path)
    # the committed records against the exact pool keys once more
    found = {"lines_or_paragraphs_in_pools": 0, "in_bloom": 0}
    for part in ("eval", "valid"):
        for r in out[part]:
            for k in text_keys(r["text"]):
                found["lines_or_paragraphs_in_pools"] += key_hash(k) in keys
                found["in_bloom"] += key_hash(k) in bloom
    short = 0
    for r in out["eval"]:
        for ln in r["text"].split("\n"):
            k = norm(ln)
            if 12 <= len(k) < MIN_KEY_CHARS and key_hash(k) in _short_keys(corp):
                short += 1
    sh = pool_shingle_hits(corp, out["eval"] + out["valid"])
    print("word-run check of the committed records:", {k: v for k, v in sh.items() if k != "which"})
    doms: Dict[str, int] = {}
    chars: Dict[str, int] = {}
    for r in out["eval"]:
        c = "+".join(r["domains"])
        doms[c] = doms.get(c, 0) + 1
        for s, e, dd in r["spans"]:
            chars[dd] = chars.get(dd, 0) + e - s
    manifest = {
        "rules_version": RULES_VERSION,
        "rules": "testbed/natural.py's docstring (rules 1-6); docs/TESTBED.md, Natural mixed set",
        "index": f"file://{INDEX}",
        "parameters": {"eval_records": EVAL_RECORDS, "valid_records": VALID_RECORDS, "valid_fraction": VALID_FRACTION,
                       "per_doc": PER_DOC, "min_doc_chars": MIN_DOC_CHARS, "max_nonascii": MAX_NONASCII,
                       "min_tokens": MIN_TOKENS, "seq_len": seq_len, "min_second_share": MIN_SECOND_SHARE,
                       "min_key_chars": MIN_KEY_CHARS},
        "excluded_projects": dict(sorted(excluded.items())),
        "candidates_kept_by_rules_1_2": len(docs),
        "mixed_windows": windows_total,
        "windows_dropped_for_overlap": dropped_overlap,
        "windows_dropped_for_a_shared_word_run": dropped_runs,
        "records_dropped_as_shared_with_an_earlier_record_or_an_eval_document": dropped_shared,
        "sources": {part: [{"project": d["project"], "version": d["version"], "archive": d["archive"],
                            "archive_sha256": d["archive_sha256"], "file": d["file"], "content_type": d["content_type"],
                            "document_sha256": d["doc_sha256"], "records": n} for d, n in used_docs[part]]
                    for part in ("eval", "valid")},
        "records": {part: [sha256_text(r["text"]) for r in out[part]] for part in ("eval", "valid")},
        "files": {p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
                  for p in list(files.values()) + [bloom_path]},
        "eval_by_domains": dict(sorted(doms.items())),
        "eval_chars_by_label": dict(sorted(chars.items())),
        "overlap_check": {
            "how": ("sha256 of each whitespace-normalized line and blank-line paragraph (>= %d chars; paragraphs also "
                    "in corpora.english_paragraph's cleaned form) of every committed record, looked up in the set of "
                    "the same hashes over every document of every training pool and split (code, prose, math, "
                    "general x train, valid, test, and the mixed test lines), rebuilt here by the corpora stage "
                    "(run.py --stages corpora in the testbed venv)" % MIN_KEY_CHARS),
            "pools_equal_to_family_manifest": same_pools,
            "pool_chars_here_vs_family": {d: {"here": sum(v["chars"] for v in desc["splits"][d].values()),
                                              "family": sum(v["chars"] for v in man["corpus"]["splits"][d].values())}
                                          for d in man["corpus"]["splits"]},
            "pool_documents": pool_counts,
            "pool_keys": len(keys),
            "committed_lines_or_paragraphs_found_in_pools": found["lines_or_paragraphs_in_pools"],
            "committed_keys_found_in_bloom": found["in_bloom"],
            "informational_short_eval_lines_12_to_29_chars_also_in_pools": short,
            "committed_word_runs_in_pools": dict(sh, how="every run of %d consecutive words (lower-cased) of the "
                                                 "committed records (eval then valid; indices in 'which') against "
                                                 "every run of every pool document" % SHINGLE_WORDS),
            "bloom": {"file": bloom_path.name, "bits": bloom.m, "hashes": bloom.k, "keys": len(keys),
                      "false_positive_rate": (1 - math.exp(-bloom.k * len(keys) / bloom.m)) ** bloom.k},
        },
        "counts": {"eval": len(out["eval"]), "valid": len(out["valid"]),
                   "eval_documents": len(used_docs["eval"]), "valid_documents": len(used_docs["valid"])},
    }
    (fam / "natural-manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(manifest["counts"]), json.dumps(manifest["overlap_check"]["bloom"]))
    print("found in pools:", found, "short lines also in pools (informational):", short)
    if getattr(args, "train_out", None):
        write_train(Path(args.train_out), docs, all_windows, used_docs, files, keys, encode)
    return 0


def write_train(out_dir: Path, docs: Sequence[Dict], all_windows: Dict[str, List[str]],
                used_docs: Dict[str, List[Tuple[Dict, int]]], files: Dict[str, Path], pool: Set[bytes],
                encode: Callable[[str], List[int]]) -> Dict:
    """The train split (for routers; not a rule of the eval set, and nothing in it changes eval or valid): every
    document kept by rules 1-2 that gave neither eval nor valid a record, cut by rule 4's windows (>= MIN_TOKENS,
    mixed or not), less every window that shares a line, paragraph or word run (rule 6's test) with any eval or
    valid document (its whole text) or record. One text file per window, and manifest.json."""
    used = {d["project"] for part in ("eval", "valid") for d, _ in used_docs[part]}
    held_docs = ["\n".join(d["lines"]) for part in ("eval", "valid") for d, _ in used_docs[part]]
    held_recs = [json.loads(l)["text"] for part in ("eval", "valid")
                 for l in files[part].read_text(encoding="utf-8").split("\n") if l.strip()]
    cand = [(d["project"], all_windows.get(d["project"], [])) for d in docs if d["project"] not in used]
    kept, dropped = train_split(cand, held_docs + held_recs)
    version = {d["project"]: d for d in docs}
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in list(out_dir.glob("*.txt")) + [out_dir / "manifest.json"]:
        if old.exists():
            old.unlink()
    rows, names = [], []
    for project, wins in kept:
        for k, text in enumerate(wins):
            name = f"{project}.{k:03d}.txt"
            (out_dir / name).write_text(text, encoding="utf-8")
            names.append(name)
            rows.append({"file": name, "sha256": sha256_text(text), "chars": len(text), "tokens": len(encode(text))})
    # the check, on the files as written and read back: eval/valid lines, paragraphs and word runs in the windows
    back = [(out_dir / n).read_text(encoding="utf-8") for n in names]
    assert [sha256_text(t) for t in back] == [r["sha256"] for r in rows]
    check = {"against_eval_valid_documents": overlap(held_docs, back),
             "against_eval_valid_records_as_committed": overlap(held_recs, back)}
    pool_hit = sum(1 for t in back if any(key_hash(k) in pool for k in text_keys(t)))
    man = {
        "what": ("natural.py --train-out: windows (rule 4's cut, >= %d tokens, mixed or not) of the documents kept by "
                 "rules 1-2 that gave neither natural-eval nor natural-valid a record, less every window sharing a "
                 "line, paragraph (>= %d chars, text_keys) or %d-word run (shingles) with any eval or valid "
                 "document or record" % (MIN_TOKENS, MIN_KEY_CHARS, SHINGLE_WORDS)),
        "rules_version": RULES_VERSION,
        "documents": len(kept), "windows": len(rows), "chars": sum(r["chars"] for r in rows),
        "tokens": sum(r["tokens"] for r in rows),
        "candidate_documents": len(cand), "candidate_windows": sum(len(w) for _, w in cand),
        "windows_dropped_as_shared_with_eval_or_valid": dropped,
        "candidate_documents_left_with_no_window": len(cand) - len(kept),
        "projects": [{"project": p, "version": version[p]["version"], "archive": version[p]["archive"],
                      "document_sha256": version[p]["doc_sha256"], "windows": len(w)} for p, w in kept],
        "window_files": rows,
        "overlap_check": dict(check, how=("text_keys (normalized lines and paragraphs >= %d chars, and paragraphs' "
                                          "english_paragraph form) and %d-word shingles of the eval and valid "
                                          "documents' whole cleaned text and of the committed records (read back "
                                          "from natural-eval/valid.jsonl), intersected with those of every train "
                                          "window read back from this directory" % (MIN_KEY_CHARS, SHINGLE_WORDS))),
        "informational_windows_with_a_pool_line_or_paragraph": pool_hit,
    }
    (out_dir / "manifest.json").write_text(json.dumps(man, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"train split: {man['documents']} documents, {man['windows']} windows, {man['chars']:,} chars, "
          f"{man['tokens']:,} tokens -> {out_dir}; dropped as shared: {dropped}; overlap check: {check}")
    return man


def overlap(held: Sequence[str], texts: Sequence[str]) -> Dict[str, int]:
    """How many distinct lines/paragraphs (text_keys) and word runs (shingles) of held occur in texts."""
    hk: Set[str] = set()
    hr: Set[int] = set()
    for t in held:
        hk |= text_keys(t)
        hr |= shingles(t)
    tk: Set[str] = set()
    tr: Set[int] = set()
    for t in texts:
        tk |= text_keys(t)
        tr |= shingles(t)
    return {"lines_or_paragraphs": len(hk & tk), "word_runs": len(hr & tr)}


def train_split(docs: Sequence[Tuple[str, Sequence[str]]], held: Sequence[str]
                ) -> Tuple[List[Tuple[str, List[str]]], int]:
    """([(project, windows kept)] for the documents with a window left, windows dropped): a window is dropped when
    it shares a line or paragraph (text_keys) or a SHINGLE_WORDS-word run with any held text."""
    keys: Set[str] = set()
    runs: Set[int] = set()
    for t in held:
        keys |= text_keys(t)
        runs |= shingles(t)
    kept: List[Tuple[str, List[str]]] = []
    dropped = 0
    for project, wins in docs:
        ok = [w for w in wins if not (text_keys(w) & keys or shingles(w) & runs)]
        dropped += len(wins) - len(ok)
        if ok:
            kept.append((project, ok))
    return kept, dropped


_SHORT: Dict[str, Set[bytes]] = {}


def _short_keys(corp: Path) -> Set[bytes]:
    """Lines of 12..29 chars of every pool (informational only: such lines, e.g. `import numpy as np`, are not
    distinctive)."""
    if str(corp) not in _SHORT:
        import corpora
        from config import POOLS
        s: Set[bytes] = set()
        for d in POOLS:
            for sp in corpora.SPLITS:
                for doc in corpora.read_jsonl(corp / f"{d}.{sp}.jsonl"):
                    for ln in doc["text"].split("\n"):
                        k = norm(ln)
                        if 12 <= len(k) < MIN_KEY_CHARS:
                            s.add(key_hash(k))
        _SHORT[str(corp)] = s
    return _SHORT[str(corp)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".cache" / "testbed-work"))
    ap.add_argument("--family", default=str(ROOT / "models" / "testbed"))
    ap.add_argument("--train-out", default=None, metavar="DIR",
                    help="also write the train split (for routers) here: one text file per window, and manifest.json "
                         "(default: not written)")
    return build(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
