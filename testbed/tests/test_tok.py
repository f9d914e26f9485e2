import unittest

import _path  # noqa: F401
import tok
from config import ExportConfig, TokenizerConfig


def encode(text):
    """A stand-in for sentencepiece: one id per byte, offset past the special ids."""
    return [3 + b for b in text.encode("utf-8")]


class TokTest(unittest.TestCase):
    def test_trainer_settings_match_llama_cpp_spm(self):
        k = tok.trainer_kwargs(TokenizerConfig(), "/tmp/x")
        self.assertEqual(k["model_type"], "bpe")
        self.assertTrue(k["byte_fallback"])
        self.assertFalse(k["remove_extra_whitespaces"])        # code indentation survives
        self.assertEqual(k["normalization_rule_name"], "identity")
        self.assertEqual((k["unk_id"], k["bos_id"], k["eos_id"], k["pad_id"]), (0, 1, 2, -1))
        self.assertEqual(k["vocab_size"], 4096)

    def test_training_sentences_balanced_and_deterministic(self):
        docs = {"code": [{"text": "def f():\n    return 1\n" * 50}] * 40,
                "math": [{"text": "1 + 1 = 2\n" * 10}] * 400}
        a = list(tok.training_sentences(docs, 20_000, 1))
        self.assertEqual(a, list(tok.training_sentences(docs, 20_000, 1)))
        code = sum(len(s) for s in a if "return" in s or "def" in s)
        math = sum(len(s) for s in a if "=" in s)
        self.assertLess(abs(code - math) / (code + math), 0.2)
        self.assertTrue(all(s.strip() and "\n" not in s for s in a))

    def test_fit_record(self):
        text = "\n".join(f"line number {i}" for i in range(100))
        t, ids = tok.fit_record(encode, text, 128)
        self.assertLessEqual(len(ids), 128)
        self.assertEqual(ids[0], tok.BOS)
        self.assertEqual(ids[1:], encode(t))
        self.assertTrue(text.startswith(t))
        self.assertEqual(tok.fit_record(encode, "x" * 500, 64), ("", []))

    def test_fit_record_cuts_a_long_paragraph_at_words(self):
        par = " ".join(f"word{i}" for i in range(200)) + "\n\nSecond paragraph."
        t, ids = tok.fit_record(encode, par, 100)
        self.assertTrue(par.startswith(t))
        self.assertEqual(ids, [tok.BOS] + encode(t))
        self.assertLessEqual(len(ids), 100)
        self.assertGreater(len(ids), 90)
        self.assertFalse(t.endswith(" "))

    def test_eval_records(self):
        docs = [{"text": f"document {i}\n" + "words and more words\n" * (i % 7 + 1)} for i in range(50)]
        recs = tok.eval_records(encode, docs, 20, 64, 3, "prose")
        self.assertEqual(len(recs), 20)
        self.assertEqual(recs, tok.eval_records(encode, docs, 20, 64, 3, "prose"))
        for r in recs:
            self.assertEqual(r["set"], "prose")
            self.assertLessEqual(len(r["ids"]), 64)
            self.assertEqual(r["ids"], [tok.BOS] + encode(r["text"]))

    def test_mixed_records_keep_spans_only_whole(self):
        short = {"text": "Write 2 * 3.\ndef f():\n    return 6", "spans": [[0, 12, "prose"], [12, 33, "code"]],
                 "domains": ["prose", "code"], "template": "t"}
        long = dict(short, text="x = 1\n" * 40)
        recs = tok.eval_records(encode, [short, long], 5, 64, 0, "mixed")
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["spans"], short["spans"])
        self.assertEqual(recs[0]["text"], short["text"])

    def test_export_defaults(self):
        e = ExportConfig()
        self.assertGreaterEqual(e.eval_records_per_domain, 64)


if __name__ == "__main__":
    unittest.main()
