"""The routers' corpora come from the train split (training) and the valid split (choosing), never the test split."""
import json
import tempfile
import unittest
from pathlib import Path

import _path  # noqa: F401

import corpora
import routers
from config import DOMAINS


def doc(domain, text):
    return {"domain": domain, "source": "t", "text": text}


def fake_corpus():
    c = corpora.Corpus()
    code = "def {name}(x):\n    return x + {n}\n"
    for split, tag in (("train", "TRAINTAG"), ("valid", "VALIDTAG"), ("test", "TESTTAG")):
        for i in range(6):
            c.docs["code"][split].append(doc("code", f"# {tag}\n" + code.format(name=f"f{tag.lower()}{i}", n=i)))
            c.docs["prose"][split].append(doc("prose", f"The {tag} module reads the file and returns its lines as a "
                                                       f"list of strings, one for each line number {i}."))
            c.docs["math"][split].append(doc("math", f"{tag} 12 + {i} = {12 + i}"))
    return c


class RouterCorporaTest(unittest.TestCase):
    def test_training_text_is_train_split_and_selection_text_is_valid_split(self):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            desc = routers.build_corpora(fake_corpus(), root, seed=1, mixed_lines=40, domain_chars=10_000)
            train = "".join(p.read_text() for p in (root / "unlabelled").iterdir())
            train += "".join(p.read_text() for dom in DOMAINS for p in (root / "labelled" / dom).iterdir())
            train += (root / "train-slice.txt").read_text()
            self.assertIn("TRAINTAG", train)
            self.assertNotIn("TESTTAG", train)
            self.assertNotIn("VALIDTAG", train)
            valid = [json.loads(l) for l in (root / "valid-mixed.jsonl").read_text().splitlines()]
            self.assertTrue(valid)
            self.assertTrue(all(r["set"] == "valid-mixed" and r["spans"] for r in valid))
            self.assertNotIn("TESTTAG", json.dumps(valid))
            self.assertNotIn("TRAINTAG", json.dumps(valid))
            self.assertEqual(desc["train_domain_docs"], {d: 6 for d in DOMAINS})
            for dom in DOMAINS:
                self.assertEqual(6, len(list((root / "labelled" / dom).iterdir())))


if __name__ == "__main__":
    unittest.main()
