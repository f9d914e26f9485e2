"""Synthetic math with worked steps: arithmetic, fractions, percentages, linear equations, expansions.

Pure stdlib. Every line of a problem that holds an equality chain ("a = b = c") is true when x takes the
problem's value(s) in `x_values`; tests/test_mathgen.py checks that by evaluating the text itself.
"""
from __future__ import annotations

import random
from fractions import Fraction
from typing import Dict, List, Tuple


def _fmt_frac(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def multiplication(rng: random.Random) -> Dict:
    a = rng.randint(11, 99)
    b = rng.randint(11, 99)
    tens, ones = (b // 10) * 10, b % 10
    lines = [f"Compute {a} * {b}."]
    if ones:
        lines.append(f"{a} * {b} = {a} * {tens} + {a} * {ones} = {a * tens} + {a * ones} = {a * b}")
    else:
        lines.append(f"{a} * {b} = {a} * {b // 10} * 10 = {a * (b // 10)} * 10 = {a * b}")
    lines.append(f"Answer: {a * b}")
    return {"kind": "multiplication", "text": "\n".join(lines), "x_values": [0]}


_OPS = ["+", "-", "*"]


def _expr_tree(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.25:
        return rng.randint(1, 20)
    return (rng.choice(_OPS), _expr_tree(rng, depth - 1), _expr_tree(rng, depth - 1))


def _prec(op: str) -> int:
    return 2 if op == "*" else 1


def _render(t, parent_prec: int = 0, right: bool = False) -> str:
    if isinstance(t, int):
        return str(t) if t >= 0 else f"({t})"
    op, l, r = t
    p = _prec(op)
    s = f"{_render(l, p)} {op} {_render(r, p, True)}"
    if p < parent_prec or (right and p == parent_prec and op in "-+"):
        return f"({s})"
    return s


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _reduce_once(t):
    """Evaluate the leftmost innermost operation (both operands numbers)."""
    op, l, r = t
    if isinstance(l, int) and isinstance(r, int):
        return _apply(op, l, r)
    if not isinstance(l, int):
        return (op, _reduce_once(l), r)
    return (op, l, _reduce_once(r))


def expression(rng: random.Random) -> Dict:
    t = _expr_tree(rng, 3)
    while isinstance(t, int) or isinstance(t[1], int) and isinstance(t[2], int):
        t = _expr_tree(rng, 3)
    start = _render(t)
    chain = [start]
    while not isinstance(t, int):
        t = _reduce_once(t)
        s = _render(t)
        if s != chain[-1]:
            chain.append(s)
    lines = [f"Evaluate {start}.", " = ".join(chain), f"Answer: {t}"]
    return {"kind": "expression", "text": "\n".join(lines), "x_values": [0]}


def fractions(rng: random.Random) -> Dict:
    a, b = rng.randint(1, 9), rng.randint(2, 12)
    c, d = rng.randint(1, 9), rng.randint(2, 12)
    op = rng.choice(["+", "-"])
    from math import gcd
    lcm = b * d // gcd(b, d)
    na, nc = a * (lcm // b), c * (lcm // d)
    raw = na + nc if op == "+" else na - nc
    result = Fraction(a, b) + Fraction(c, d) if op == "+" else Fraction(a, b) - Fraction(c, d)
    lines = [f"Work out {a}/{b} {op} {c}/{d}.",
             f"The common denominator is {lcm}.",
             f"{a}/{b} {op} {c}/{d} = {na}/{lcm} {op} {nc}/{lcm} = ({na} {op} {nc})/{lcm} = {raw}/{lcm}"]
    if _fmt_frac(result) != f"{raw}/{lcm}":
        lines.append(f"Simplified: {raw}/{lcm} = {_fmt_frac(result)}")
    lines.append(f"Answer: {_fmt_frac(result)}")
    return {"kind": "fractions", "text": "\n".join(lines), "x_values": [0]}


def percent(rng: random.Random) -> Dict:
    p = rng.choice([5, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 80])
    n = rng.randint(2, 60) * 20
    lines = [f"What is {p} percent of {n}?",
             f"{p} percent of {n}: {n} * {p} / 100 = {n * p} / 100 = {_fmt_frac(Fraction(n * p, 100))}",
             f"Answer: {_fmt_frac(Fraction(n * p, 100))}"]
    return {"kind": "percent", "text": "\n".join(lines), "x_values": [0]}


def linear_equation(rng: random.Random) -> Dict:
    x = rng.randint(-12, 15)
    a = rng.choice([2, 3, 4, 5, 6, 7, 8, 9])
    b = rng.randint(1, 30)
    sign = rng.choice(["+", "-"])
    c = a * x + b if sign == "+" else a * x - b
    inv = "Subtract" if sign == "+" else "Add"
    prep = "from" if sign == "+" else "to"
    rhs = c - b if sign == "+" else c + b
    lines = [f"Solve for x: {a}x {sign} {b} = {c}.",
             f"{inv} {b} {prep} both sides: {a}x = {rhs}.",
             f"Divide both sides by {a}: x = {rhs // a}.",
             f"Check: {a} * ({x}) {sign} {b} = {a * x} {sign} {b} = {c}.",
             f"Answer: x = {x}"]
    return {"kind": "linear_equation", "text": "\n".join(lines), "x_values": [x]}


def expansion(rng: random.Random) -> Dict:
    a = rng.randint(1, 9)
    b = rng.randint(1, 9)
    sa, sb = rng.choice([1, -1]), rng.choice([1, -1])
    A, B = sa * a, sb * b

    def term(v: int) -> str:
        return f"+ {v}" if v >= 0 else f"- {-v}"

    mid, const = A + B, A * B
    left = f"(x {term(A)})(x {term(B)})"
    step = f"x^2 {term(B)}x {term(A)}x {term(const)}"
    if mid == 0:
        result = f"x^2 {term(const)}"
    else:
        result = f"x^2 {term(mid)}x {term(const)}"
    lines = [f"Expand {left}.",
             f"{left} = {step} = {result}",
             f"Answer: {result}"]
    return {"kind": "expansion", "text": "\n".join(lines), "x_values": [-3, 0, 2, 7]}


GENERATORS = [multiplication, expression, fractions, percent, linear_equation, expansion]


def problem(rng: random.Random) -> Dict:
    return rng.choice(GENERATORS)(rng)


def documents(seed: int, max_chars: int, doc_chars: int = 900) -> List[Tuple[str, List[Dict]]]:
    """Problems grouped into documents of about doc_chars characters, up to max_chars in all."""
    rng = random.Random(seed)
    docs: List[Tuple[str, List[Dict]]] = []
    total = 0
    while total < max_chars:
        probs: List[Dict] = []
        size = 0
        while size < doc_chars:
            p = problem(rng)
            probs.append(p)
            size += len(p["text"]) + 2
        text = "\n\n".join(p["text"] for p in probs)
        docs.append((text, probs))
        total += len(text)
    return docs
