import gzip
import json
import random
import tempfile
import textwrap
import unittest
from pathlib import Path

import _path  # noqa: F401
import corpora
import mixed
from config import DOMAINS, GENERAL, POOLS, CorpusConfig

PROSE = ("The garden behind the old house was planted many years ago by a family who loved roses. "
         "Every spring the flowers return, and the neighbours walk past slowly to enjoy their colour.")


def make_tree(root: Path, packages: int = 6, files: int = 8) -> None:
    """A fake site-packages: Python modules with docstrings, and dist-info METADATA with a description."""
    sp = root / "site-packages"
    for p in range(packages):
        pkg = sp / f"pkg{p}"
        pkg.mkdir(parents=True)
        for f in range(files):
            body = "\n\n".join(textwrap.dedent(f'''\
                def function_{p}_{f}_{k}(value, scale={k}):
                    """Return the value scaled by a factor, rounding towards zero for every number given here.

                    {PROSE} Variant {p} {f} {k} of this sentence keeps each paragraph distinct from the others.
                    """
                    result = value * scale + {k}
                    if result > 100:
                        return result // 2
                    return result
                ''') for k in range(6))
            (pkg / f"mod{f}.py").write_text(body, encoding="utf-8")
        meta = sp / f"pkg{p}-1.0.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: pkg{p}\nSummary: A package.\n\n"
            f"Package {p} does useful things for people who need them, and it explains them well. {PROSE}\n\n"
            "    indented code is dropped = True\n", encoding="utf-8")
    doc = root / "share-doc" / "tool"
    doc.mkdir(parents=True)
    (doc / "README").write_text(f"Tool documentation starts here and explains the tool at length. {PROSE}\n",
                                encoding="utf-8")
    for k in range(30):
        (doc / f"NEWS-{k}.gz").write_bytes(gzip.compress(
            f"Release {k} of the tool brings many changes that users asked for over the years, and this "
            f"paragraph number {k} describes them in plain words for everyone.\n\n{PROSE} Note {k}.\n".encode()))
    (doc / "logo.png").write_bytes(b"\x89PNG not text")
    (doc / "copyright").write_text(f"Copyright notices are not general text at all. {PROSE}\n", encoding="utf-8")


def small_cfg(**kw) -> CorpusConfig:
    cfg = CorpusConfig(max_chars={"code": 20_000, "prose": 6_000, "math": 40_000, "general": 8_000},
                       max_doc_chars=1500,
                       min_doc_chars=100, valid_fraction=0.15, test_fraction=0.15, mixed_count=40,
                       max_files_per_package=5)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


class CorpusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        make_tree(cls.root)
        cls.roots = [cls.root / "stdlib-none", cls.root / "site-packages"]
        cls.roots[0].mkdir()
        cls.general = [str(cls.root / "share-*")]
        cls.corpus = corpora.build(small_cfg(), cls.roots, general_roots=cls.general)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def all_docs(self, c):
        return [(d, s, x) for d in POOLS for s in corpora.SPLITS for x in c.docs[d][s]]

    def test_deterministic_for_a_seed(self):
        again = corpora.build(small_cfg(), self.roots, general_roots=self.general)
        self.assertEqual(self.corpus.docs, again.docs)
        self.assertEqual(self.corpus.mixed, again.mixed)
        other = corpora.build(small_cfg(seed=99), self.roots, general_roots=self.general)
        self.assertNotEqual(self.corpus.docs, other.docs)

    def test_every_domain_and_split_has_documents(self):
        for d in POOLS:
            for s in corpora.SPLITS:
                self.assertTrue(self.corpus.docs[d][s], f"{d}/{s} is empty")

    def test_splits_are_disjoint_and_deduplicated(self):
        keys = {}
        for d, s, x in self.all_docs(self.corpus):
            k = corpora.normalized_key(x["text"])
            self.assertNotIn(k, keys, f"document in both {keys.get(k)} and {(d, s)}")
            keys[k] = (d, s)

    def test_domain_labels(self):
        for d, s, x in self.all_docs(self.corpus):
            self.assertEqual(x["domain"], d)
            if d == "code":
                self.assertIn("def ", x["text"])
                self.assertTrue(x["source"].startswith("pkg"))
            elif d == "prose":
                self.assertNotIn("def ", x["text"])
                self.assertNotIn("= True", x["text"])
                self.assertFalse(x["source"].startswith("doc:"))     # system docs are general text
            elif d == GENERAL:
                self.assertTrue(x["source"].startswith("doc:share-doc/tool/"), x["source"])
                self.assertNotIn("Copyright notices", x["text"])
            else:
                self.assertEqual(x["source"], "synthetic")
                self.assertIn("Answer:", x["text"])

    def test_size_caps_and_document_length(self):
        cfg = small_cfg()
        for d in POOLS:
            total = sum(len(x["text"]) for s in corpora.SPLITS for x in self.corpus.docs[d][s])
            slack = cfg.max_source_file_bytes if d == "code" else cfg.max_doc_chars * 2
            self.assertLessEqual(total, cfg.max_chars[d] + slack)
            for s in corpora.SPLITS:
                for x in self.corpus.docs[d][s]:
                    if d != "math":
                        self.assertLessEqual(len(x["text"]), cfg.max_doc_chars)

    def test_split_of_is_stable_and_proportional(self):
        rng = random.Random(3)
        texts = [str(rng.random()) for _ in range(20_000)]
        splits = [corpora.split_of(t, "code", 1, 0.1, 0.05) for t in texts]
        self.assertEqual(splits, [corpora.split_of(t, "code", 1, 0.1, 0.05) for t in texts])
        self.assertAlmostEqual(splits.count("test") / len(texts), 0.05, delta=0.01)
        self.assertAlmostEqual(splits.count("valid") / len(texts), 0.10, delta=0.01)

    def test_chunk_lines(self):
        text = "\n".join(f"line {i} " + "x" * (i % 50) for i in range(400))
        pieces = corpora.chunk_lines(text, 500)
        self.assertTrue(all(len(p) <= 500 for p in pieces))
        self.assertEqual([l for p in pieces for l in p.split("\n") if l], [l for l in text.split("\n") if l])

    def test_english_paragraph_filter(self):
        self.assertIsNotNone(corpora.english_paragraph(PROSE))
        self.assertIsNone(corpora.english_paragraph("x = foo(bar[1], {baz: 2}) + qux(3) == (a) and (b) or (c)"))
        self.assertIsNone(corpora.english_paragraph(".. image:: https://example.org/badge.svg"))
        self.assertIsNone(corpora.english_paragraph("Too short."))

    def test_write_and_read_back(self):
        with tempfile.TemporaryDirectory() as d:
            files = self.corpus.write(Path(d))
            self.assertEqual(len(files), len(POOLS) * 3 + 2)
            back = corpora.Corpus.read(Path(d))
            self.assertEqual(back.docs, self.corpus.docs)
            self.assertEqual(back.mixed, self.corpus.mixed)
            self.assertEqual(back.chars("code"), self.corpus.chars("code"))
            json.loads((Path(d) / "description.json").read_text())

    def test_mixed_lines_combine_domains(self):
        self.assertEqual(len(self.corpus.mixed), small_cfg().mixed_count)
        test_code = "\n".join(x["text"] for x in self.corpus.docs["code"]["test"])
        test_prose = "\n".join(x["text"] for x in self.corpus.docs["prose"]["test"])
        for m in self.corpus.mixed:
            self.assertGreaterEqual(len(set(m["domains"])), 2, m)
            pos = 0
            for start, end, dom in m["spans"]:
                self.assertEqual(start, pos)
                self.assertLess(start, end)
                self.assertIn(dom, DOMAINS)
                pos = end
            self.assertEqual(pos, len(m["text"]))
            self.assertEqual([d for d in m["domains"]], list(dict.fromkeys(s[2] for s in m["spans"])))
            seg = {d: "".join(m["text"][a:b] for a, b, dd in m["spans"] if dd == d) for d in m["domains"]}
            if "math" in seg:
                self.assertRegex(seg["math"], r"\d")
            if "code" in seg:
                self.assertRegex(seg["code"], r"def \w+\(")
            if m["template"] in ("prose+code", "prose+code+math"):
                code_first_line = seg["code"].strip().split("\n")[0]
                self.assertIn(code_first_line.strip(), test_code)       # held-out code only
                sentence = m["text"][m["spans"][0][0]:m["spans"][0][1]].strip()
                self.assertIn(sentence, test_prose)                       # held-out prose only

    def test_every_template_appears(self):
        self.assertEqual({m["template"] for m in self.corpus.mixed},
                         {t.__name__[2:].replace("_", "+") for t in mixed.TEMPLATES})

    def test_general_pool_reads_gzip_and_skips_non_text(self):
        sources = [x["source"] for s in corpora.SPLITS for x in self.corpus.docs[GENERAL][s]]
        self.assertTrue(any(s.endswith(".gz") for s in sources))
        self.assertFalse(any(s.endswith(("logo.png", "copyright")) for s in sources))
        self.assertIn(GENERAL, self.corpus.description["splits"])
        self.assertTrue(self.corpus.description[GENERAL]["chars_by_root"])

    def test_no_paragraph_in_two_pools(self):
        seen = {}
        for d, s, x in self.all_docs(self.corpus):
            if d == "math":
                continue
            for par in x["text"].split("\n\n"):
                self.assertIn(seen.setdefault(corpora.normalized_key(par), d), (d,), par[:60])

    def test_no_general_pool_without_a_budget(self):
        cfg = small_cfg(max_chars={"code": 20_000, "prose": 6_000, "math": 40_000})
        c = corpora.build(cfg, self.roots, general_roots=self.general)
        self.assertFalse(any(c.docs[GENERAL][s] for s in corpora.SPLITS))

    def test_doc_names(self):
        for name in ("README", "NEWS.gz", "changelog.gz", "guide.txt", "perlfunc.pod", "find.info-1.gz",
                     "README.md", "intro.rst"):
            self.assertTrue(corpora._is_doc_name(name), name)
        for name in ("copyright", "logo.png", "index.html", "setup.py", "data.json.gz", "run.sh",
                     "changelog.Debian.gz"):   # Debian changelogs: bullet lists, not prose
            self.assertFalse(corpora._is_doc_name(name), name)

    def test_real_machine_sources(self):
        """The builder on this interpreter's own stdlib and packages, at toy sizes."""
        cfg = small_cfg(max_chars={"code": 30_000, "prose": 10_000, "math": 5_000}, max_files_per_package=3)
        c = corpora.build(cfg)
        self.assertGreater(c.chars("code"), 10_000)
        self.assertGreater(c.chars("prose"), 1_000)
        self.assertTrue(c.mixed)


if __name__ == "__main__":
    unittest.main()
