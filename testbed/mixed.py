"""The mixed-domain held-out set: lines that combine code, prose and math, with per-character domain spans.

Built only from held-out (test split) code and prose plus freshly generated math, so nothing in it was
trained on. Each line: {"text", "domains" (in order of first appearance), "spans": [[start, end, domain]],
"template"}; the spans cover the whole text, so a per-token router can be scored against them.
"""
from __future__ import annotations

import random
import re
import textwrap
from typing import Dict, List, Optional, Tuple

import mathgen

NAMES = ["total", "result", "compute", "answer", "value", "product", "solve", "count_items", "area", "score"]
THINGS = [("shelf", "boxes", "books"), ("train", "cars", "seats"), ("garden", "rows", "plants"),
          ("library", "floors", "rooms"), ("school", "classes", "pupils"), ("warehouse", "racks", "crates")]


def code_snippets(code_docs: List[Dict], max_lines: int = 10, max_chars: int = 320) -> List[str]:
    """Self-contained def blocks (dedented) found in the given code documents."""
    out: List[str] = []
    for d in code_docs:
        lines = d["text"].split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)def \w+\(.*\):\s*$", line)
            if not m:
                continue
            indent = len(m.group(1))
            block = [line]
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                block.append(nxt)
            while block and not block[-1].strip():
                block.pop()
            if 2 <= len(block) <= max_lines:
                snippet = textwrap.dedent("\n".join(block))
                if len(snippet) <= max_chars:
                    out.append(snippet)
    return out


def prose_sentences(prose_docs: List[Dict], min_words: int = 8, max_chars: int = 200) -> List[str]:
    out: List[str] = []
    for d in prose_docs:
        for par in d["text"].split("\n\n"):
            for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z])", par):
                if len(sent.split()) >= min_words and len(sent) <= max_chars and sent[-1] in ".!?":
                    out.append(sent)
    return out


class _Builder:
    def __init__(self) -> None:
        self.parts: List[Tuple[str, str]] = []

    def add(self, domain: str, text: str) -> "_Builder":
        if self.parts and self.parts[-1][0] == domain:
            self.parts[-1] = (domain, self.parts[-1][1] + text)
        else:
            self.parts.append((domain, text))
        return self

    def line(self, template: str) -> Dict:
        text, spans, pos, domains = "", [], 0, []
        if self.parts:
            d, t = self.parts[-1]
            self.parts[-1] = (d, t.rstrip("\n"))
        for domain, t in self.parts:
            spans.append([pos, pos + len(t), domain])
            pos += len(t)
            text += t
            if domain not in domains:
                domains.append(domain)
        return {"text": text, "spans": spans, "domains": domains, "template": template}


def _mult_chain(rng: random.Random) -> Tuple[str, str, int]:
    """('37 * 12', '37 * 12 = 37 * 10 + 37 * 2 = 370 + 74 = 444', 444)"""
    p = mathgen.multiplication(rng)
    chain = p["text"].split("\n")[1]
    expr = chain.split(" = ")[0]
    return expr, chain, int(chain.split(" = ")[-1])


def t_code_math(rng: random.Random, **_) -> Dict:
    expr, chain, value = _mult_chain(rng)
    name = rng.choice(NAMES)
    return (_Builder().add("prose", "Write a Python function that returns ").add("math", expr)
            .add("prose", ".\n").add("code", f"def {name}():\n    # ").add("math", chain)
            .add("code", f"\n    return {value}\n").line("code+math"))


def t_prose_math(rng: random.Random, **_) -> Dict:
    place, groups, items = rng.choice(THINGS)
    p = mathgen.multiplication(rng)
    chain = p["text"].split("\n")[1]
    a, b = chain.split(" = ")[0].split(" * ")
    return (_Builder().add("prose", f"A {place} has {a} {groups} with {b} {items} in each, so the number of {items} is ")
            .add("math", chain).add("prose", ".").line("prose+math"))


def t_prose_code(rng: random.Random, sentences: List[str], snippets: List[str], **_) -> Optional[Dict]:
    if not sentences or not snippets:
        return None
    return (_Builder().add("prose", rng.choice(sentences) + "\n").add("code", rng.choice(snippets) + "\n")
            .line("prose+code"))


def t_math_code(rng: random.Random, **_) -> Dict:
    p = mathgen.linear_equation(rng)
    first = p["text"].split("\n")[0]                      # Solve for x: ax + b = c.
    m = re.match(r"Solve for x: (\d+)x ([+-]) (\d+) = (-?\d+)\.", first)
    a, sign, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    body = f"(c - b) // a" if sign == "+" else f"(c + b) // a"
    steps = "\n".join(p["text"].split("\n")[:3])
    return (_Builder().add("math", steps + "\n")
            .add("code", f"def solve(a, b, c):\n    return {body}\n\nassert solve({a}, {b}, {c}) == {p['x_values'][0]}\n")
            .line("math+code"))


def t_prose_code_math(rng: random.Random, sentences: List[str], snippets: List[str], **_) -> Optional[Dict]:
    if not sentences or not snippets:
        return None
    p = mathgen.problem(rng)
    return (_Builder().add("prose", rng.choice(sentences) + "\n").add("code", rng.choice(snippets) + "\n")
            .add("math", p["text"] + "\n").line("prose+code+math"))


TEMPLATES = [t_code_math, t_prose_math, t_prose_code, t_math_code, t_prose_code_math]


def build(corpus, seed: int, count: int, split: str = "test") -> List[Dict]:
    """Mixed lines from one split's code and prose (the held-out test split for the eval set; the train split for
    the routers' training text, the valid split to choose between routers)."""
    rng = random.Random(seed)
    snippets = sorted(set(code_snippets(corpus.docs["code"][split])))
    sentences = sorted(set(prose_sentences(corpus.docs["prose"][split])))
    out: List[Dict] = []
    i = 0
    tries = 0
    while len(out) < count and tries < count * 10:
        tries += 1
        t = TEMPLATES[i % len(TEMPLATES)]
        line = t(rng, sentences=sentences, snippets=snippets)
        i += 1
        if line is not None:
            out.append(line)
    return out
