"""predictability.py's two-fold table router: a key whose gain holds across records is taken, one whose gain is only
in one half is not, and the default stays where no key earns it."""
import random
import unittest

import _path  # noqa: F401
import predictability as pr


def rows_of(records, nll_of):
    rows = []
    for ri in range(records):
        for i, token in enumerate([5, 6, 7, 8] * 10):
            rows.append({"record": ri, "target": token, "input": token, "bigram": (0, token),
                         "nll": nll_of(ri, token)})
    return rows


class TableRouterTest(unittest.TestCase):
    def test_a_gain_every_record_shares_is_learned(self):
        # choices: base, code, prose, math; token 5 is 1 nat better with math in every record, the rest tie with code
        rows = rows_of(20, lambda ri, t: [3.0, 2.0, 2.5, 1.0 if t == 5 else 2.5])
        nll, off = pr.table_router(rows, lambda r: r["input"], default=1, tau=0.3, seed=0)
        self.assertAlmostEqual(off, 0.25)
        self.assertAlmostEqual(nll, (1.0 + 2.0 * 3) / 4)

    def test_a_gain_no_other_record_shares_is_not(self):
        # math wins on token 5 by 1 nat in half of the records and loses by 1 nat in the other half, the halves
        # drawn at random: across the folds the table's choice does not pay on average
        rng = random.Random(3)
        sign = {ri: rng.choice((-1.0, 1.0)) for ri in range(40)}
        rows = rows_of(40, lambda ri, t: [3.0, 2.0, 2.5, 2.0 + sign[ri] if t == 5 else 2.5])
        nll, _ = pr.table_router(rows, lambda r: r["input"], default=1, tau=0.0, seed=1)
        self.assertGreaterEqual(nll, 2.0 - 0.15)

    def test_tau_keeps_the_default(self):
        rows = rows_of(10, lambda ri, t: [3.0, 2.0, 2.5, 1.9])
        nll, off = pr.table_router(rows, lambda r: r["input"], default=1, tau=0.5, seed=0)
        self.assertEqual(off, 0.0)
        self.assertAlmostEqual(nll, 2.0)


if __name__ == "__main__":
    unittest.main()
