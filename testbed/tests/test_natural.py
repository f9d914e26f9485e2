"""The natural mixed set and the mixed2 template set (issue 22): the labeller's rules, and the committed records'
validity and hold-out (their line and paragraph hashes are absent from the training pools' Bloom filter)."""
import hashlib
import json
import re
import unittest
from pathlib import Path

import _path  # noqa: F401

import mixed2
import natural
from config import TestbedConfig

FAMILY = _path.TESTBED.parent / "models" / "testbed"
SEQ_LEN = TestbedConfig().train.seq_len


def labelled(text, kind):
    lines = natural.clean_lines(text, kind)
    return list(zip(natural.label_lines(lines, kind), lines))


def read(name):
    with open(FAMILY / name, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


class LabellerTest(unittest.TestCase):
    def test_markdown_fence_is_code_and_the_rest_prose(self):
        got = labelled("Install it:\n\n```python\nimport foo\n\nfoo.run()\n```\n\nThen it runs.", "md")
        self.assertEqual([l for l, _ in got], ["prose", "prose", "code", "code", "code", "code", "code", "code",
                                               "prose"])

    def test_unclosed_fence_runs_to_the_end(self):
        got = labelled("Text.\n~~~\nx = 1\ny = 2", "md")
        self.assertEqual([l for l, _ in got], ["prose", "code", "code", "code"])

    def test_markdown_indented_block_is_code_but_not_under_a_list(self):
        got = labelled("Example:\n\n    x = compute(3)\n    print(x)\n\nDone.", "md")
        self.assertEqual([l for l, _ in got], ["prose", "prose", "code", "code", "code", "prose"])
        got = labelled("- item one\n\n    more about item one\n\nDone.", "md")
        self.assertEqual({l for l, _ in got}, {"prose"})

    def test_doctest_lines_and_their_output_are_code(self):
        got = labelled("Use it:\n\n>>> add(2, 3)\n5\n\nSo it adds.", "rst")
        self.assertEqual([l for l, _ in got], ["prose", "prose", "code", "code", "code", "prose"])

    def test_rst_literal_block_and_directives(self):
        text = ("Run this::\n\n    python -m foo\n\nAnd this:\n\n.. code-block:: python\n\n    bar()\n\n"
                ".. math::\n\n    a^2 + b^2 = c^2\n\nEnd.")
        got = labelled(text, "rst")
        labels = dict((line, lab) for lab, line in got)
        self.assertEqual(labels["Run this::"], "prose")
        self.assertEqual(labels["    python -m foo"], "code")
        self.assertEqual(labels[".. code-block:: python"], "code")
        self.assertEqual(labels["    bar()"], "code")
        self.assertEqual(labels["    a^2 + b^2 = c^2"], "math")
        self.assertEqual(labels["End."], "prose")

    def test_arithmetic_lines_are_math(self):
        for s in ("37 * 12 = 444", "x = 3 * 4 + 2", "- 2 + 2 = 4", "1,000 + 2,500 = 3,500", "(3 + 4) * 5 = 35",
                  "``2 ** 10 = 1024``", "3.5 / 0.5 = 7."):
            self.assertTrue(natural.is_arithmetic(s), s)
        for s in ("2012-01-10", "0.6.2 (2012-01-10)", "0 0 * * 6-7", "a b c", "10 - 3", "v3.2.0 2022-12-28",
                  "Version 2 is out.", "see 1 + the docs"):
            self.assertFalse(natural.is_arithmetic(s), s)
        got = labelled("The sum:\n\n12 + 30 = 42\n\nThat is all.", "md")
        self.assertEqual([l for l, _ in got], ["prose", "prose", "math", "math", "prose"])

    def test_images_badges_and_html_are_removed(self):
        md = natural.clean_lines("[![build](x.svg)](y)\n<p align=center>\n![logo](l.png)\n\n\n\nText here.", "md")
        self.assertEqual(md, ["Text here."])
        rst = natural.clean_lines(".. image:: badge.svg\n   :target: x\n\nText.\n\n.. |b| image:: y.svg\n\nMore.", "rst")
        self.assertEqual(rst, ["Text.", "", "More."])

    def test_spans_cover_the_text_and_newlines_go_with_their_line(self):
        lines = ["Intro.", "x = 1", "", "End."]
        text, spans = natural.spans_of(lines, ["prose", "code", "code", "prose"])
        self.assertEqual(text, "Intro.\nx = 1\n\nEnd.")
        self.assertEqual(spans, [[0, 7, "prose"], [7, 14, "code"], [14, 18, "prose"]])
        self.assertTrue(natural.is_mixed(spans))
        self.assertFalse(natural.is_mixed([[0, 95, "prose"], [95, 100, "code"]]))

    def test_windows_fit_and_are_whole_lines(self):
        lines = [f"line {i} " + "word " * (i % 7) for i in range(60)] + [""] + ["tail"] * 5
        labels = ["prose"] * len(lines)
        count = lambda t: len(t.split())  # noqa: E731
        got = list(natural.windows(lines, labels, count, 40))
        self.assertGreater(len(got), 3)
        for wl, wlab in got:
            self.assertLessEqual(count("\n".join(wl)), 40)
            self.assertTrue(wl[0].strip() and wl[-1].strip())
        flat = [l for wl, _ in got for l in wl if l.strip()]
        self.assertEqual(flat, [l for l in lines if l.strip()])

    def test_train_split_drops_windows_sharing_a_line_paragraph_or_word_run(self):
        held = ["This paragraph of the eval document is long enough to be a key.\n\nimport numpy as np",
                "one two three four five six seven eight nine ten eleven twelve thirteen"]
        docs = [("a", ["A fresh window about something else entirely, nothing shared.",
                       "It says: this   paragraph of the eval document is long enough to be a key.\nmore",
                       "zero one two three four five six seven eight nine ten eleven twelve"]),
                ("b", ["  This paragraph of the eval DOCUMENT is long enough to be a key."]),
                ("c", ["import numpy as np\nshort lines are not keys, but this one is long enough to be"])]
        kept, dropped = natural.train_split(docs, held)
        # a: its 2nd window shares no whole line (the line has a prefix) but a 12-word run; the 3rd a 12-word run.
        # b: a line differing only in case shares no line but a 12-word run (runs are lower-cased); dropped whole
        self.assertEqual(kept, [("a", ["A fresh window about something else entirely, nothing shared."]),
                                ("c", docs[2][1])])
        self.assertEqual(dropped, 3)
        self.assertEqual(natural.overlap(held, [w for _, ws in kept for w in ws]),
                         {"lines_or_paragraphs": 0, "word_runs": 0})
        self.assertEqual(natural.overlap(held, docs[1][1]), {"lines_or_paragraphs": 0, "word_runs": 2})
        self.assertEqual(natural.overlap(held, ["x\n  import numpy as np  \n\n" + held[0].split("\n")[0]]),
                         {"lines_or_paragraphs": 1, "word_runs": 2})

    def test_bloom_filter(self):
        b = natural.Bloom(10_000, 7)
        for i in range(200):
            b.add(natural.key_hash(f"line {i}"))
        self.assertTrue(all(natural.key_hash(f"line {i}") in b for i in range(200)))
        self.assertLess(sum(natural.key_hash(f"other {i}") in b for i in range(1000)), 10)


def check_records(test, rows, set_name):
    for r in rows:
        test.assertEqual(r["set"], set_name)
        text, spans = r["text"], r["spans"]
        test.assertTrue(text)
        pos = 0
        for s, e, d in spans:
            test.assertEqual(s, pos, "spans are contiguous, in order, without overlap")
            test.assertLess(s, e)
            test.assertIn(d, ("code", "prose", "math"))
            pos = e
        test.assertEqual(pos, len(text), "spans cover the text")
        test.assertEqual(r["ids"][0], 1)
        test.assertLessEqual(len(r["ids"]), SEQ_LEN)
        test.assertEqual(set(r["domains"]), {d for _, _, d in spans})


class NaturalSetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.eval = read("natural-eval.jsonl")
        cls.valid = read("natural-valid.jsonl")
        cls.manifest = json.loads((FAMILY / "natural-manifest.json").read_text(encoding="utf-8"))

    def test_records_are_valid_mixed_eval_records(self):
        check_records(self, self.eval, "natural")
        check_records(self, self.valid, "natural-valid")
        for r in self.eval + self.valid:
            self.assertTrue(natural.is_mixed(r["spans"]))
        self.assertGreaterEqual(len(self.eval), 100)
        self.assertGreaterEqual(len(self.valid), 40)

    def test_manifest_matches_the_files(self):
        m = self.manifest
        self.assertEqual(m["rules_version"], natural.RULES_VERSION)
        self.assertEqual(m["records"]["eval"], [natural.sha256_text(r["text"]) for r in self.eval])
        self.assertEqual(m["records"]["valid"], [natural.sha256_text(r["text"]) for r in self.valid])
        for name, f in m["files"].items():
            self.assertEqual(hashlib.sha256((FAMILY / name).read_bytes()).hexdigest(), f["sha256"], name)
        self.assertEqual(m["overlap_check"]["committed_lines_or_paragraphs_found_in_pools"], 0)
        self.assertEqual(m["overlap_check"]["committed_word_runs_in_pools"]["records_sharing_a_run_with_a_pool"], 0)
        self.assertEqual(m["overlap_check"]["committed_word_runs_in_pools"]["records"],
                         len(self.eval) + len(self.valid))

    def test_eval_and_valid_come_from_different_documents(self):
        proj = lambda rows: {r["source"].split("==")[0] for r in rows}  # noqa: E731
        self.assertFalse(proj(self.eval) & proj(self.valid))
        self.assertEqual(proj(self.eval), {s["project"] for s in self.manifest["sources"]["eval"]})
        for s in self.manifest["sources"]["eval"] + self.manifest["sources"]["valid"]:
            self.assertEqual(len(s["archive_sha256"]), 64)
            self.assertEqual(natural.seeded_unit(s["project"]) < natural.VALID_FRACTION,
                             s in self.manifest["sources"]["valid"])

    def test_eval_and_valid_share_no_line_paragraph_or_word_run(self):
        def keys(rows):
            k = set()
            for r in rows:
                k |= natural.text_keys(r["text"])
            return k
        self.assertFalse(keys(self.eval) & keys(self.valid))
        runs = lambda rows: set().union(*(natural.shingles(r["text"]) for r in rows))  # noqa: E731
        self.assertFalse(runs(self.eval) & runs(self.valid))
        self.assertEqual(len({r["text"] for r in self.eval}), len(self.eval))

    def test_no_source_is_a_package_the_pools_read(self):
        pinned = {natural._canon(re.split(r"[=<>!~\[ ]", l.split("#")[0].strip())[0])
                  for l in (_path.TESTBED / "requirements.txt").read_text().split("\n") if l.split("#")[0].strip()}
        used = {s["project"] for part in ("eval", "valid") for s in self.manifest["sources"][part]}
        self.assertFalse(used & pinned)

    def test_no_line_or_paragraph_is_in_the_training_pools(self):
        bloom = natural.Bloom.read(FAMILY / "natural-pool-bloom.bin")
        self.assertEqual(bloom.m, self.manifest["overlap_check"]["bloom"]["bits"])
        found = [k for r in self.eval + self.valid for k in natural.text_keys(r["text"])
                 if natural.key_hash(k) in bloom]
        self.assertEqual(found, [])
        # and the filter does hold the pools: a line of the committed code eval records (test split of the code pool)
        code = [r["text"] for r in read("testbed-eval.jsonl") if r["set"] == "code"]
        keys = [k for t in code[:20] for k in t.split("\n") if len(natural.norm(k)) >= natural.MIN_KEY_CHARS]
        self.assertTrue(keys)
        self.assertTrue(all(natural.key_hash(k) in bloom for k in keys))


class Mixed2Test(unittest.TestCase):
    def test_committed_file_is_the_generator_output(self):
        rows = read("mixed2-eval.jsonl")
        built = mixed2.build()
        self.assertEqual([(r["text"], r["spans"], r["template"]) for r in rows],
                         [(r["text"], r["spans"], r["template"]) for r in built])
        check_records(self, rows, "mixed2")
        self.assertEqual(len({r["template"] for r in rows}), len(mixed2.LAYOUTS))

    def test_the_worked_arithmetic_is_right(self):
        checked = 0
        for r in mixed2.build():
            for s, e, d in r["spans"]:
                if d != "math":
                    continue
                for piece in re.split(r"[\n,]", r["text"][s:e]):
                    parts = [p.strip().rstrip("%") for p in piece.split("=")]
                    if len(parts) < 2 or any(not re.fullmatch(r"[\d.+\-*/() ]+", p) for p in parts):
                        continue
                    vals = [eval(p) for p in parts]  # noqa: S307 (digits and operators only)
                    for v in vals[1:]:
                        self.assertAlmostEqual(v, vals[0], delta=0.011, msg=piece)
                    checked += 1
        self.assertGreater(checked, 200)

    def test_no_line_or_paragraph_is_in_the_training_pools(self):
        bloom = natural.Bloom.read(FAMILY / "natural-pool-bloom.bin")
        self.assertEqual([k for r in read("mixed2-eval.jsonl") for k in natural.text_keys(r["text"])
                          if natural.key_hash(k) in bloom], [])

    def test_independent_of_mixed_py(self):
        src = (_path.TESTBED / "mixed2.py").read_text(encoding="utf-8")
        self.assertNotIn("import mixed\n", src)
        self.assertNotIn("mathgen", src.split('"""', 2)[2])


class HeldOutTest(unittest.TestCase):
    def test_nothing_that_trains_or_selects_reads_the_new_eval_sets(self):
        for p in _path.TESTBED.glob("*.py"):
            if p.name in ("table.py", "natural.py", "mixed2.py"):
                continue
            src = p.read_text(encoding="utf-8")
            for name in ("natural-eval", "mixed2-eval"):
                self.assertNotIn(name, src, f"{p.name} reads {name}")


if __name__ == "__main__":
    unittest.main()
