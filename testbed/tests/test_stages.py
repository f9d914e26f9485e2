import tempfile
import unittest
from pathlib import Path

import _path  # noqa: F401
from config import TestbedConfig
from stages import Stage, StageRunner


class StagesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work = Path(self.tmp.name) / "work"
        self.out = Path(self.tmp.name) / "out"
        self.calls = []

    def tearDown(self):
        self.tmp.cleanup()

    def stages(self):
        def make(name):
            def run(ctx):
                self.calls.append(name)
                p = self.work / f"{name}.txt"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(name)
                ctx.info = {"n": len(self.calls)}
                return [p]
            return run
        return [Stage("a", ["corpus"], [], make("a")),
                Stage("b", ["tokenizer"], ["a"], make("b")),
                Stage("c", ["lora"], ["b"], make("c"))]

    def run_with(self, cfg, **kw):
        self.calls = []
        StageRunner(self.work, self.out, cfg, log=lambda m: None).run(self.stages(), **kw)
        return self.calls

    def test_second_run_skips_everything(self):
        cfg = TestbedConfig()
        self.assertEqual(self.run_with(cfg), ["a", "b", "c"])
        self.assertEqual(self.run_with(cfg), [])

    def test_config_change_redoes_that_stage_and_later_ones(self):
        cfg = TestbedConfig()
        self.run_with(cfg)
        self.assertEqual(self.run_with(cfg.with_overrides(["tokenizer.vocab_size=1000"])), ["b", "c"])
        self.assertEqual(self.run_with(cfg.with_overrides(["tokenizer.vocab_size=1000", "lora.r=4"])), ["c"])
        self.assertEqual(self.run_with(cfg.with_overrides(["corpus.seed=5"])), ["a", "b", "c"])

    def test_unrelated_section_does_not_redo(self):
        cfg = TestbedConfig()
        self.run_with(cfg)
        self.assertEqual(self.run_with(cfg.with_overrides(["export.max_files=7"])), [])

    def test_missing_or_changed_output_redoes_the_stage(self):
        cfg = TestbedConfig()
        self.run_with(cfg)
        (self.work / "b.txt").unlink()
        self.assertEqual(self.run_with(cfg), ["b"])     # c's fingerprint is unchanged: b's config did not change
        (self.work / "c.txt").write_text("changed size")
        self.assertEqual(self.run_with(cfg), ["c"])

    def test_force_redoes_the_stage_and_its_dependents(self):
        cfg = TestbedConfig()
        self.run_with(cfg)
        self.assertEqual(self.run_with(cfg, force=["b"]), ["b", "c"])

    def test_only_selected_stages(self):
        cfg = TestbedConfig()
        self.assertEqual(self.run_with(cfg, only=["a"]), ["a"])
        self.assertEqual(self.run_with(cfg, only=["b"]), ["b"])
        self.assertEqual(self.run_with(cfg, only=["c"]), ["c"])

    def test_selected_stage_with_upstream_never_run_is_an_error(self):
        with self.assertRaisesRegex(RuntimeError, "has not run"):
            self.run_with(TestbedConfig(), only=["c"])

    def test_unknown_stage_name(self):
        with self.assertRaisesRegex(ValueError, "unknown stage"):
            self.run_with(TestbedConfig(), force=["zzz"])

    def test_marker_records_outputs_and_info(self):
        import json
        self.run_with(TestbedConfig())
        m = json.loads((self.work / "stages" / "b.json").read_text())
        self.assertEqual(m["outputs"], [{"path": str(self.work / "b.txt"), "bytes": 1}])
        self.assertEqual(m["info"], {"n": 2})
        self.assertIn("seconds", m)


if __name__ == "__main__":
    unittest.main()
