"""A checkpointed training loop paused mid-run and resumed ends bit-identical to an uninterrupted one (issue 16,
part 4: the large base trains over more than one sitting). Needs torch: run under the testbed's venv
(.cache/testbed-venv/bin/python -m unittest discover testbed/tests); skipped by the system python3."""
import tempfile
import unittest
from pathlib import Path

import _path  # noqa: F401

try:
    import numpy as np
    import torch
    import train
    from config import ModelConfig, TrainConfig
except ImportError:   # the system python3 of ./run-tests has no torch
    torch = None


@unittest.skipIf(torch is None, "torch is not installed (use the testbed venv)")
class CheckpointResumeTest(unittest.TestCase):
    STEPS = 12

    def setUp(self):
        train.set_threads(1)
        rng = np.random.default_rng(7)
        self.streams = {d: rng.integers(3, 64, size=4000).astype(np.uint16) for d in ("general", "code")}
        self.valid = {d: rng.integers(3, 64, size=400).astype(np.uint16) for d in ("general", "code")}
        self.model = ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 num_key_value_heads=2, max_position_embeddings=64)
        self.train = TrainConfig(seq_len=16, batch_size=4, warmup_steps=3, eval_every=0, max_seconds=0,
                                 precision="fp32", mixture={"general": 0.7, "code": 0.3})
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def run_loop(self, checkpoint=None):
        return train.pretrain(self.streams, self.valid, 64, self.model, self.train, lambda m: None,
                              steps=self.STEPS, checkpoint=checkpoint)

    def test_paused_and_resumed_equals_uninterrupted(self):
        straight, stats = self.run_loop()
        path = Path(self.tmp.name) / "run.ckpt"
        with self.assertRaises(train.TrainingPaused) as paused:
            self.run_loop(train.Checkpoint(path, "k", stop_after_steps=5))
        self.assertEqual(paused.exception.step, 5)
        self.assertTrue(path.is_file())
        resumed, rstats = self.run_loop(train.Checkpoint(path, "k"))
        self.assertEqual(rstats["steps"], self.STEPS)
        self.assertEqual(rstats["final_loss"], stats["final_loss"])
        a, b = straight.state_dict(), resumed.state_dict()
        self.assertEqual(a.keys(), b.keys())
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), f"{k} differs after resuming")
        # the check has teeth: one step fewer is not the same model
        self.STEPS = 11
        shorter, _ = self.run_loop()
        self.assertFalse(all(torch.equal(a[k], shorter.state_dict()[k]) for k in a))

    def test_a_checkpoint_of_another_run_is_refused(self):
        path = Path(self.tmp.name) / "run.ckpt"
        with self.assertRaises(train.TrainingPaused):
            self.run_loop(train.Checkpoint(path, "one", stop_after_steps=2))
        with self.assertRaisesRegex(RuntimeError, "another run"):
            self.run_loop(train.Checkpoint(path, "two"))

    def test_a_checkpointed_loop_has_no_time_budget(self):
        with self.assertRaisesRegex(ValueError, "fixed number of steps"):
            train.train_loop(None, [], None, lr=1e-3, warmup=1, min_lr_ratio=0.1, weight_decay=0.0, grad_clip=1.0,
                             batch_size=1, max_steps=1, max_seconds=10, log=print,
                             checkpoint=train.Checkpoint(Path(self.tmp.name) / "x", "k"))


if __name__ == "__main__":
    unittest.main()
