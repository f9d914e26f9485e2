import random
import re
import unittest
from fractions import Fraction

import _path  # noqa: F401
import mathgen

_TOKEN = re.compile(r"\s*(\d+|x|\^|[-+*/()])")


def to_python(expr: str) -> str:
    """An independent reading of the generator's notation: implicit products, ^ for powers, exact numbers."""
    out, pos, prev = [], 0, None
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"unexpected text at {expr[pos:]!r} in {expr!r}")
        tok = m.group(1)
        pos = m.end()
        if prev is not None and (prev.isdigit() or prev in ("x", ")")) and (tok == "x" or tok == "("):
            out.append("*")
        out.append(f"F({tok})" if tok.isdigit() else "X" if tok == "x" else "**" if tok == "^" else tok)
        prev = tok
    return "".join(out)


def evaluate(expr: str, x) -> Fraction:
    return eval(to_python(expr), {"__builtins__": {}}, {"F": Fraction, "X": Fraction(x)})  # noqa: S307


def chains(text: str):
    """Every equality chain in the text: the part after the last ':' of a line holding ' = '."""
    for line in text.split("\n"):
        if " = " not in line:
            continue
        body = line.rsplit(":", 1)[-1].strip().rstrip(".")
        yield line, body.split(" = ")


class MathGenTest(unittest.TestCase):
    def test_every_worked_step_is_true(self):
        rng = random.Random(7)
        for gen in mathgen.GENERATORS:
            for _ in range(400):
                p = gen(rng)
                found = 0
                for line, sides in chains(p["text"]):
                    found += 1
                    for x in p["x_values"]:
                        values = [evaluate(s, x) for s in sides]
                        self.assertEqual(len(set(values)), 1, f"{gen.__name__}: {line!r} at x={x}: {values}\n{p['text']}")
                self.assertGreaterEqual(found, 1, p["text"])

    def test_answers_match_the_question(self):
        rng = random.Random(11)
        for _ in range(300):
            p = mathgen.multiplication(rng)
            a, b = map(int, re.match(r"Compute (\d+) \* (\d+)\.", p["text"]).groups())
            self.assertTrue(p["text"].endswith(f"Answer: {a * b}"))
            p = mathgen.linear_equation(rng)
            a, sign, b, c = re.match(r"Solve for x: (\d+)x ([+-]) (\d+) = (-?\d+)\.", p["text"]).groups()
            x = p["x_values"][0]
            self.assertEqual(int(a) * x + (int(b) if sign == "+" else -int(b)), int(c))
            self.assertTrue(p["text"].endswith(f"Answer: x = {x}"))

    def test_the_evaluator_rejects_false_steps(self):
        self.assertNotEqual(evaluate("37 * 12", 0), evaluate("440", 0))
        self.assertEqual(evaluate("(x + 3)(x - 2)", 5), evaluate("x^2 + 1x - 6", 5))
        self.assertEqual(evaluate("3x", 4), 12)

    def test_documents_are_deterministic_by_seed(self):
        a = mathgen.documents(5, 20_000)
        b = mathgen.documents(5, 20_000)
        c = mathgen.documents(6, 20_000)
        self.assertEqual([t for t, _ in a], [t for t, _ in b])
        self.assertNotEqual([t for t, _ in a], [t for t, _ in c])
        self.assertGreaterEqual(sum(len(t) for t, _ in a), 20_000)
        kinds = {p["kind"] for _, ps in a for p in ps}
        self.assertEqual(kinds, {g.__name__ for g in mathgen.GENERATORS})


if __name__ == "__main__":
    unittest.main()
