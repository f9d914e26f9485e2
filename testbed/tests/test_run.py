import io
import json
import tempfile
import unittest
import unittest.mock
from contextlib import redirect_stdout
from pathlib import Path

import _path  # noqa: F401
import run


class RunTest(unittest.TestCase):
    def test_list_names_every_stage_in_order(self):
        buf = io.StringIO()
        with redirect_stdout(buf):
            self.assertEqual(run.main(["--list"]), 0)
        names = [l.split()[0] for l in buf.getvalue().strip().split("\n")]
        self.assertEqual(names, ["corpora", "tokenizer", "tokens", "evalsets", "throughput", "base", "lora-code", "lora-prose",
                                 "lora-math", "evaluate", "convert", "manifest"])

    def test_stage_dependencies_come_first(self):
        args = run.parse_args(["--out", "/tmp/x"])
        stages = run.build_stages(run.load_config(args), args)
        seen = set()
        for s in stages:
            self.assertTrue(set(s.deps) <= seen, s.name)
            seen.add(s.name)

    def test_print_config_with_overrides(self):
        buf = io.StringIO()
        with redirect_stdout(buf):
            run.main(["--tiny", "--set", "train.max_seconds=7", "--print-config"])
        cfg = json.loads(buf.getvalue())
        self.assertEqual(cfg["train"]["max_seconds"], 7)
        self.assertEqual(cfg["model"]["num_hidden_layers"], 2)

    def test_refuses_an_out_dir_with_other_files(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "stray.txt").write_text("x")
            with redirect_stdout(io.StringIO()), unittest.mock.patch("sys.stderr", io.StringIO()):
                self.assertEqual(run.main(["--out", d, "--work", d + "/w"]), 2)

    def test_corpora_stage_end_to_end_and_resumed(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--tiny", "--set", 'corpus.max_chars={"code": 20000, "prose": 5000, "math": 5000}',
                    "--out", d + "/out", "--work", d + "/work", "--stages", "corpora"]
            buf = io.StringIO()
            with redirect_stdout(buf):
                self.assertEqual(run.main(argv), 0)
                self.assertEqual(run.main(argv), 0)
            self.assertIn("[corpora] running", buf.getvalue())
            self.assertIn("[corpora] up to date", buf.getvalue())
            self.assertTrue((Path(d) / "work" / "corpora" / "mixed.test.jsonl").is_file())
            self.assertTrue((Path(d) / "out" / "run.log").is_file())
            self.assertEqual(sorted(p.name for p in (Path(d) / "out").iterdir()), ["run.log"])




if __name__ == "__main__":
    unittest.main()
