import json
import unittest

import _path  # noqa: F401
import budget
from config import DOMAINS, GENERAL, TestbedConfig


class ConfigTest(unittest.TestCase):
    def test_round_trip_through_json(self):
        cfg = TestbedConfig()
        d = json.loads(json.dumps(cfg.to_dict()))
        self.assertEqual(TestbedConfig.from_dict(d), cfg)

    def test_recorded_config_has_every_seed(self):
        d = TestbedConfig().to_dict()
        self.assertIn("seed", d["corpus"])
        self.assertIn("seed", d["train"])
        self.assertIn("seed", d["lora"])

    def test_overrides(self):
        cfg = TestbedConfig().with_overrides(["train.max_seconds=120", 'train.mixture={"code": 2, "prose": 1}',
                                              "tokenizer.model_type=unigram"])
        self.assertEqual(cfg.train.max_seconds, 120)
        self.assertEqual(cfg.train.mixture, {"code": 2, "prose": 1})
        self.assertEqual(cfg.tokenizer.model_type, "unigram")
        for bad in ["train.nope=1", "nope.x=1", "train.max_seconds"]:
            with self.assertRaises(ValueError):
                TestbedConfig().with_overrides([bad])

    def test_unknown_keys_in_a_file_are_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown keys"):
            TestbedConfig.from_dict({"train": {"max_secs": 1}})
        with self.assertRaisesRegex(ValueError, "unknown config sections"):
            TestbedConfig.from_dict({"trian": {}})

    def test_section_hash_changes_only_with_its_section(self):
        a = TestbedConfig()
        b = a.with_overrides(["lora.r=8"])
        self.assertEqual(a.section_hash("train", "model"), b.section_hash("train", "model"))
        self.assertNotEqual(a.section_hash("lora"), b.section_hash("lora"))

    def test_default_model_is_small_and_consistent(self):
        m = TestbedConfig().model
        self.assertEqual(m.hidden_size % m.num_attention_heads, 0)
        self.assertEqual(m.num_attention_heads % m.num_key_value_heads, 0)
        self.assertEqual(m.hidden_size % 32, 0)           # Q8_0 blocks of 32
        self.assertEqual(m.intermediate_size % 32, 0)
        vocab = TestbedConfig().tokenizer.vocab_size
        per_layer = 4 * m.hidden_size ** 2 + 3 * m.hidden_size * m.intermediate_size
        params = m.num_hidden_layers * per_layer + vocab * m.hidden_size
        self.assertLess(params * 2, 16 * 1024 * 1024)   # f16 fits the per-file limit (else q8_0 is used)

    def test_default_family_leaves_the_domains_to_the_adapters(self):
        """Issue 16: the base learns mostly general text; each adapter gets a real rank and budget."""
        cfg = TestbedConfig()
        mix = cfg.train.mixture
        total = sum(mix.values())
        self.assertGreaterEqual(mix[GENERAL] / total, 0.8)
        for d in DOMAINS:
            self.assertLessEqual(mix.get(d, 0) / total, 0.1, d)
        self.assertGreaterEqual(cfg.lora.r, 16)
        self.assertGreaterEqual(cfg.lora.max_seconds_per_domain, 300)
        self.assertIn(GENERAL, cfg.corpus.max_chars)

    def test_default_budget_fits_100_minutes_with_slack(self):
        cfg = TestbedConfig()
        self.assertLessEqual(budget.worst_case_seconds(cfg), 0.9 * 100 * 60)
        self.assertGreaterEqual(cfg.train.max_seconds, 0.5 * budget.training_seconds(cfg))

    def test_default_artifacts_fit_the_size_limits(self):
        cfg = TestbedConfig()
        m, r = cfg.model, cfg.lora.r
        h, f = m.hidden_size, m.intermediate_size
        kv = h // m.num_attention_heads * m.num_key_value_heads
        shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                  "gate_proj": (h, f), "up_proj": (h, f), "down_proj": (f, h)}
        lora = 2 * m.num_hidden_layers * sum(r * (a + b) for k, (a, b) in shapes.items()
                                             if k in cfg.lora.target_modules)          # f16 bytes
        base = 2 * (m.num_hidden_layers * (sum(a * b for a, b in shapes.values()) + 2 * h)
                    + cfg.tokenizer.vocab_size * h + h)
        self.assertLess(base, cfg.export.max_file_bytes)
        self.assertLess(base + len(DOMAINS) * lora + 2 * 1024 * 1024, cfg.export.max_total_bytes)

    def test_planned_steps(self):
        self.assertEqual(budget.planned_steps(100_000, 100, 4096, 16, 256), 100)
        self.assertEqual(budget.planned_steps(50, 100, 4096, 16, 256), 50)
        self.assertEqual(budget.planned_steps(50, 0, 4096, 16, 256), 50)
        self.assertEqual(budget.planned_steps(50, 100, 0, 16, 256), 50)
        self.assertEqual(budget.planned_steps(50, 1, 1, 16, 256), 1)

    def test_tiny_is_tiny(self):
        t = TestbedConfig().tiny()
        self.assertLessEqual(t.train.max_steps, 50)
        self.assertLessEqual(t.model.num_hidden_layers, 2)
        self.assertEqual(t.corpus.seed, TestbedConfig().corpus.seed)


if __name__ == "__main__":
    unittest.main()
