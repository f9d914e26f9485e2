#!/usr/bin/env python3
"""A second mixed-domain eval set, written independently of mixed.py (issue 22): other sentences, other layouts,
freshly written text only (no corpus material), never used for training or for choosing anything.

    .cache/testbed-venv/bin/python testbed/mixed2.py --family models/testbed

writes models/testbed/mixed2-eval.jsonl: records {"set": "mixed2", "text", "ids", "spans", "domains", "template"}.
mixed.py joins a corpus sentence, a corpus `def` block and mathgen's chains; here every piece is written in this file:
eight layouts (question and answer, a bullet list of priced items with a loop that sums them, a function
introduced in prose and checked by hand, a tutorial step with its output, a note with arithmetic inside its
sentences, code whose comments carry the arithmetic, a percentage worked by hand and in code, a unit conversion
table), each with its own sentences, twelve small functions and arithmetic computed here (sums, products,
differences, divisions, percentages; not mathgen's formats). Labels: the Python (fenced or not, comments included
unless a comment is arithmetic) is code, an arithmetic expression with its result is math (inside a sentence too),
every other character is prose; each newline belongs to the piece before it. Seeded (SEED); records must fit
train.seq_len tokens with BOS, or the build fails.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SEED = 20261207
COUNT = 160
SET = "mixed2"


class Doc:
    """Pieces of (label, text); text() joins them, spans() labels every code point."""

    def __init__(self) -> None:
        self.pieces: List[Tuple[str, str]] = []

    def p(self, t: str) -> "Doc":
        return self._put("prose", t)

    def c(self, t: str) -> "Doc":
        return self._put("code", t)

    def m(self, t: str) -> "Doc":
        return self._put("math", t)

    def _put(self, label: str, t: str) -> "Doc":
        if t:
            if self.pieces and self.pieces[-1][0] == label:
                self.pieces[-1] = (label, self.pieces[-1][1] + t)
            else:
                self.pieces.append((label, t))
        return self

    def record(self, template: str) -> Dict:
        while self.pieces and not self.pieces[-1][1].rstrip():
            self.pieces.pop()
        if self.pieces:
            lab, t = self.pieces[-1]
            self.pieces[-1] = (lab, t.rstrip())
        text, spans, at = "", [], 0
        for lab, t in self.pieces:
            spans.append([at, at + len(t), lab])
            text += t
            at += len(t)
        domains: List[str] = []
        for _, _, lab in spans:
            if lab not in domains:
                domains.append(lab)
        return {"set": SET, "text": text, "spans": spans, "domains": domains, "template": template}


def fmt(x: float) -> str:
    if abs(x - round(x)) < 1e-9:
        return str(int(round(x)))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def money(x: float) -> str:
    return f"{x:.2f}"


# ---------------------------------------------------------------- material written for this set

PEOPLE = ["Mira", "Tomas", "Ines", "Kofi", "Lena", "Ravi", "Odile", "Yusuf", "Hana", "Piet", "Sol", "Greta"]
ITEMS = [("notebook", 2.40), ("pencil", 0.35), ("stapler", 6.90), ("folder", 1.15), ("marker", 0.95),
         ("ruler", 1.60), ("glue stick", 1.25), ("eraser", 0.50), ("calculator", 12.75), ("binder", 3.80)]
PLACES = [("community garden", "beds", "seedlings"), ("bike shop", "racks", "wheels"),
          ("school hall", "rows", "chairs"), ("ferry", "decks", "passengers"), ("bakery", "trays", "rolls"),
          ("orchard", "rows", "trees"), ("archive", "shelves", "folders"), ("stadium", "blocks", "seats")]
OPENERS = [
    "Here is a small helper that keeps the calling code readable.",
    "The function below is short enough to check by hand.",
    "We can wrap the rule in a function and test it on one case.",
    "A few lines of Python make the idea concrete.",
    "Before trusting the code, it helps to work one example on paper.",
    "This is the version we settled on after the review.",
    "Nothing here needs a library; the standard types are enough.",
    "The same calculation, written as code, looks like this.",
]
CLOSERS = [
    "The printed value agrees with the hand calculation.",
    "Both ways give the same answer, which is reassuring.",
    "If the numbers change, only the arguments need to change.",
    "That matches what the spreadsheet showed last week.",
    "So the code and the arithmetic tell the same story.",
    "Keep this check in the test suite so it stays true.",
]
NOTE_HEADS = ["Quick note for the team:", "Reminder before Friday:", "From the planning meeting:",
              "Status update:", "Notes from the call:", "For the record:"]

FUNCS: List[Tuple[str, str, Callable[[random.Random], Tuple[str, str, str]]]] = []


def func(name: str, src: str):
    """Registers a function: its source, and a maker of (call, worked arithmetic, result) for a random case."""
    def deco(maker):
        FUNCS.append((name, src, maker))
        return maker
    return deco


@func("mean", "def mean(values):\n    return sum(values) / len(values)\n")
def _mean(rng):
    xs = [rng.randint(2, 40) for _ in range(rng.randint(3, 5))]
    s = sum(xs)
    return (f"mean({xs})", f"({' + '.join(map(str, xs))}) / {len(xs)} = {s} / {len(xs)} = {fmt(s / len(xs))}",
            fmt(s / len(xs)))


@func("to_fahrenheit", "def to_fahrenheit(celsius):\n    return celsius * 9 / 5 + 32\n")
def _f(rng):
    c = rng.choice([-10, 0, 5, 15, 20, 25, 30, 35, 40, 100])
    return f"to_fahrenheit({c})", f"{c} * 9 / 5 + 32 = {fmt(c * 9 / 5)} + 32 = {fmt(c * 9 / 5 + 32)}", fmt(c * 9 / 5 + 32)


@func("clamp", "def clamp(x, low, high):\n    if x < low:\n        return low\n    if x > high:\n        return high\n    return x\n")
def _clamp(rng):
    low, high = rng.randint(0, 10), rng.randint(20, 50)
    x = rng.randint(high + 1, high + 30)
    return f"clamp({x}, {low}, {high})", f"{x} > {high}", str(high)


@func("factorial", "def factorial(n):\n    result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result\n")
def _fact(rng):
    n = rng.randint(4, 7)
    r, steps = 1, []
    for k in range(1, n + 1):
        r *= k
    return (f"factorial({n})", " * ".join(str(k) for k in range(1, n + 1)) + f" = {r}", str(r))


@func("gcd", "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n")
def _gcd(rng):
    g = rng.randint(2, 12)
    a, b = g * rng.randint(3, 9), g * rng.randint(10, 19)
    import math
    g = math.gcd(a, b)
    return f"gcd({a}, {b})", f"{b} = {b // a} * {a} + {b % a}", str(g)


@func("discount", "def discount(price, percent):\n    return round(price * (100 - percent) / 100, 2)\n")
def _disc(rng):
    price, pct = rng.choice([40, 60, 80, 120, 250, 36]), rng.choice([10, 15, 20, 25, 30])
    out = price * (100 - pct) / 100
    return f"discount({price}, {pct})", f"{price} * {100 - pct} / 100 = {fmt(price * (100 - pct))} / 100 = {fmt(out)}", fmt(out)


@func("running_total", "def running_total(xs):\n    out, acc = [], 0\n    for x in xs:\n        acc += x\n        out.append(acc)\n    return out\n")
def _run(rng):
    xs = [rng.randint(1, 20) for _ in range(4)]
    acc, parts = 0, []
    for x in xs:
        acc += x
        parts.append(acc)
    return (f"running_total({xs})", f"{xs[0]} + {xs[1]} = {parts[1]}, {parts[1]} + {xs[2]} = {parts[2]}, "
            f"{parts[2]} + {xs[3]} = {parts[3]}", str(parts))


@func("is_leap", "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n")
def _leap(rng):
    y = rng.choice([1900, 1996, 2000, 2023, 2024, 2100])
    return f"is_leap({y})", f"{y} / 4 = {fmt(y / 4)}", str(y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))


@func("hours_between", "def hours_between(start, end):\n    minutes = (end[0] - start[0]) * 60 + end[1] - start[1]\n    return minutes / 60\n")
def _hours(rng):
    s, e = (rng.randint(6, 10), rng.choice([0, 15, 30, 45])), (rng.randint(13, 19), rng.choice([0, 15, 30, 45]))
    mins = (e[0] - s[0]) * 60 + e[1] - s[1]
    return (f"hours_between({s}, {e})", f"({e[0]} - {s[0]}) * 60 + {e[1]} - {s[1]} = {mins}, {mins} / 60 = {fmt(mins / 60)}",
            fmt(mins / 60))


@func("area_of_ring", "def area_of_ring(outer, inner):\n    return 3.14 * (outer ** 2 - inner ** 2)\n")
def _ring(rng):
    o, i = rng.randint(5, 12), rng.randint(1, 4)
    return (f"area_of_ring({o}, {i})", f"3.14 * ({o * o} - {i * i}) = 3.14 * {o * o - i * i} = {fmt(3.14 * (o * o - i * i))}",
            fmt(3.14 * (o * o - i * i)))


@func("split_bill", "def split_bill(total, people, tip=0.1):\n    return round(total * (1 + tip) / people, 2)\n")
def _bill(rng):
    t, n = rng.choice([48, 90, 120, 150, 64]), rng.randint(2, 6)
    return (f"split_bill({t}, {n})", f"{t} * 1.1 / {n} = {fmt(t * 1.1)} / {n} = {money(t * 1.1 / n)}", money(t * 1.1 / n))


@func("pages_needed", "def pages_needed(lines, per_page):\n    return -(-lines // per_page)\n")
def _pages(rng):
    per, lines = rng.choice([30, 40, 50, 60]), rng.randint(70, 400)
    q = -(-lines // per)
    return f"pages_needed({lines}, {per})", f"{lines} / {per} = {fmt(lines / per)}, rounded up to {q}", str(q)


# ---------------------------------------------------------------- layouts

def l_qa(rng) -> Dict:
    place, groups, things = rng.choice(PLACES)
    a, b = rng.randint(6, 48), rng.randint(7, 36)
    extra = rng.randint(3, 25)
    d = Doc().p(f"Q: The {place} has {a} {groups} with {b} {things} each, and {extra} more arrive later. "
                f"How many {things} are there in the end?\nA: First the {groups}, then the late arrivals.\n")
    d.m(f"{a} * {b} = {a * b}\n{a * b} + {extra} = {a * b + extra}\n")
    return d.p(f"That makes {a * b + extra} {things} altogether.").record("qa")


def l_bullets(rng) -> Dict:
    picks = rng.sample(ITEMS, 3)
    counts = [rng.randint(2, 12) for _ in picks]
    who = rng.choice(PEOPLE)
    d = Doc().p(f"{who}'s order for the office:\n")
    total = 0.0
    for (name, price), n in zip(picks, counts):
        d.p(f"- {n} x {name}: ").m(f"{n} * {money(price)} = {money(n * price)}\n")
        total += n * price
    d.p("The same total in Python:\n\n").c("```python\n")
    d.c("order = {\n" + "".join(f"    \"{name}\": ({n}, {money(price)}),\n" for (name, price), n in zip(picks, counts))
        + "}\ntotal = sum(n * price for n, price in order.values())\nprint(f\"{total:.2f}\")\n```\n\n")
    return d.p(f"Both give {money(total)}. " + rng.choice(CLOSERS)).record("bullets")


def l_function_checked(rng) -> Dict:
    name, src, maker = rng.choice(FUNCS)
    call, work, result = maker(rng)
    d = Doc().p(rng.choice(OPENERS) + "\n\n").c(src + "\n")
    d.p(f"Checking {call} by hand:\n").m(work + "\n")
    return d.p(f"and the function returns {result}. " + rng.choice(CLOSERS)).record("function-checked")


def l_tutorial(rng) -> Dict:
    name, src, maker = rng.choice(FUNCS)
    call, work, result = maker(rng)
    step = rng.randint(2, 6)
    d = Doc().p(f"### Step {step}: try it in the interpreter\n\nDefine the function, then call it once:\n\n")
    d.c(">>> " + src.rstrip("\n").replace("\n", "\n... ") + "\n...\n>>> " + call + "\n" + result + "\n\n")
    return d.p("Where does that number come from? Work it out directly: ").m(work).p(".").record("tutorial")


def l_note(rng) -> Dict:
    place, groups, things = rng.choice(PLACES)
    a, b, c = rng.randint(3, 15), rng.randint(10, 40), rng.randint(2, 9)
    people = rng.sample(PEOPLE, 2)
    d = Doc().p(f"{rng.choice(NOTE_HEADS)} the {place} needs ")
    d.m(f"{a} * {b} = {a * b}").p(f" {things} for the weekend. {people[0]} already has ")
    d.m(f"{c} * 10 = {c * 10}").p(", so we still need ").m(f"{a * b} - {c * 10} = {a * b - c * 10}")
    return d.p(f". {people[1]} will confirm the count on Thursday.").record("note")


def l_commented_code(rng) -> Dict:
    h, m, s = rng.randint(1, 9), rng.randint(1, 59), rng.randint(1, 59)
    total = h * 3600 + m * 60 + s
    d = Doc().p("A timer stores durations in seconds; the constants are spelled out so a reader can check them.\n\n")
    d.c(f"HOURS = {h}\nMINUTES = {m}\nSECONDS = {s}\n\n").c("# ").m(f"{h} * 3600 + {m} * 60 + {s} = {total}\n")
    d.c("duration = HOURS * 3600 + MINUTES * 60 + SECONDS\n")
    d.c(f"assert duration == {total}\n\n")
    return d.p(f"Printing duration shows {total}, the figure in the comment.").record("commented-code")


def l_percent(rng) -> Dict:
    whole = rng.choice([40, 50, 80, 120, 160, 200, 250])
    part = rng.randint(1, whole - 1)
    who = rng.choice(PEOPLE)
    pct = 100 * part / whole
    d = Doc().p(f"{who} answered {part} of {whole} survey questions. As a percentage:\n")
    d.m(f"{part} / {whole} * 100 = {100 * part} / {whole} = {fmt(pct)}%\n")
    d.p("A helper for the report script:\n").c("def percent(part, whole):\n    return 100 * part / whole\n\n")
    d.c(f"print(round(percent({part}, {whole}), 2))  # {fmt(round(pct, 2))}\n")
    return d.p("We round to two places in the report.").record("percent")


def l_conversion(rng) -> Dict:
    rate = rng.choice([1.6, 2.54, 0.45, 3.79, 28.35])
    unit_a, unit_b = {1.6: ("miles", "km"), 2.54: ("inches", "cm"), 0.45: ("pounds", "kg"),
                      3.79: ("gallons", "litres"), 28.35: ("ounces", "grams")}[rate]
    vals = sorted(rng.sample(range(1, 30), 3))
    d = Doc().p(f"Converting {unit_a} to {unit_b} (one is about {rate} {unit_b}):\n\n")
    for v in vals:
        d.m(f"{v} * {rate} = {fmt(v * rate)}\n")
    d.p("\nOr let the code do it for a whole list:\n\n")
    d.c(f"def convert(values, rate={rate}):\n    return [round(v * rate, 2) for v in values]\n\nprint(convert({vals}))\n")
    return d.record("conversion")


LAYOUTS = [l_qa, l_bullets, l_function_checked, l_tutorial, l_note, l_commented_code, l_percent, l_conversion]


def build(seed: int = SEED, count: int = COUNT) -> List[Dict]:
    rng = random.Random(seed)
    out: List[Dict] = []
    seen = set()
    i = 0
    while len(out) < count:
        r = LAYOUTS[i % len(LAYOUTS)](rng)
        i += 1
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
        if i > count * 20:
            raise RuntimeError("mixed2: too few distinct records")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default=str(ROOT / "models" / "testbed"))
    args = ap.parse_args(argv)
    import tok
    from config import TestbedConfig
    seq_len = TestbedConfig().train.seq_len
    sp = tok.load(Path(args.family) / "testbed-tokenizer.model")
    rows = []
    for r in build():
        ids = [tok.BOS] + list(sp.encode(r["text"]))
        if len(ids) > seq_len:
            raise SystemExit(f"mixed2: a {r['template']} record has {len(ids)} tokens > {seq_len}")
        rows.append(dict(r, ids=ids))
    p = Path(args.family) / "mixed2-eval.jsonl"
    with open(p, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    n = {}
    for r in rows:
        n[r["template"]] = n.get(r["template"], 0) + 1
    print(f"{p}: {len(rows)} records, {sum(len(r['ids']) for r in rows)} tokens; {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
