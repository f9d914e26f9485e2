"""The converter command lines, checked against the argparse of llama.cpp's own scripts when a source tree is
on this machine (the functions are lifted out of the scripts with ast, so torch need not be installed)."""
import argparse
import ast
import os
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import _path  # noqa: F401
import convert
import run


def script_parser(script: Path):
    """parse_args() of a converter script, defined on its own (nothing else of the script runs)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "parse_args")
    module = ast.Module(body=[fn], type_ignores=[])
    ns = {"argparse": argparse, "Path": Path}
    exec(compile(module, str(script), "exec"), ns)  # noqa: S102 - the pinned llama.cpp source
    return ns["parse_args"]


def parse(script: Path, cmd):
    self_path = cmd[1]
    assert Path(self_path) == script
    with mock.patch.object(sys, "argv", cmd[1:]):
        return script_parser(script)()


SRC = convert.find_llama_src()


@unittest.skipIf(SRC is None, "no llama.cpp source tree on this machine (MOLORA_LLAMA_SRC or ~/.cache/molora)")
class AgainstTheScriptsTest(unittest.TestCase):
    def test_hf_to_gguf(self):
        for outtype in ("f16", "q8_0", "f32"):
            cmd = convert.hf_to_gguf_cmd(SRC, Path("/w/hf-base"), Path("/o/base.gguf"), outtype, "python3")
            a = parse(SRC / "convert_hf_to_gguf.py", cmd)
            self.assertEqual(a.model, "/w/hf-base")
            self.assertEqual(a.outfile, Path("/o/base.gguf"))
            self.assertEqual(a.outtype, outtype)
            self.assertFalse(a.remote)
            self.assertFalse(a.vocab_only)

    def test_lora_to_gguf(self):
        cmd = convert.lora_to_gguf_cmd(SRC, Path("/w/lora-code"), Path("/w/hf-base"), Path("/o/l.gguf"), "f16", "py")
        a = parse(SRC / "convert_lora_to_gguf.py", cmd)
        self.assertEqual(a.lora_path, Path("/w/lora-code"))
        self.assertEqual(a.base, Path("/w/hf-base"))          # a local base: no hub lookup
        self.assertIsNone(a.base_model_id)
        self.assertEqual(a.outfile, Path("/o/l.gguf"))
        self.assertEqual(a.outtype, "f16")

    def test_config_outtypes_are_accepted(self):
        from config import ExportConfig
        e = ExportConfig()
        for t in e.base_outtypes:
            parse(SRC / "convert_hf_to_gguf.py", convert.hf_to_gguf_cmd(SRC, Path("m"), Path("o"), t, "p"))
        parse(SRC / "convert_lora_to_gguf.py",
              convert.lora_to_gguf_cmd(SRC, Path("l"), Path("m"), Path("o"), e.lora_outtype, "p"))

    def test_a_bad_outtype_is_rejected_by_the_script(self):
        with self.assertRaises(SystemExit), mock.patch("sys.stderr"):
            parse(SRC / "convert_lora_to_gguf.py",
                  convert.lora_to_gguf_cmd(SRC, Path("l"), Path("m"), Path("o"), "tq1_0", "p"))

    def test_peft_files_the_lora_script_reads(self):
        text = (SRC / "convert_lora_to_gguf.py").read_text(encoding="utf-8")
        for name in ("adapter_config.json", "adapter_model.safetensors", '"lora_alpha"'):
            self.assertIn(name, text)

    def test_the_llama_class_reads_a_sentencepiece_tokenizer_model(self):
        base = (SRC / "conversion" / "base.py").read_text(encoding="utf-8")
        self.assertIn("tokenizer_path = self.dir_model / 'tokenizer.model'", base)
        self.assertIn('add_tokenizer_model("llama")', base)
        self.assertIn('"LlamaForCausalLM"', (SRC / "conversion" / "llama.py").read_text(encoding="utf-8"))


class CommandShapeTest(unittest.TestCase):
    def test_shapes(self):
        cmd = convert.hf_to_gguf_cmd(Path("/s"), Path("/m"), Path("/o.gguf"), "f16", "python3")
        self.assertEqual(cmd, ["python3", "/s/convert_hf_to_gguf.py", "/m", "--outfile", "/o.gguf", "--outtype", "f16"])
        cmd = convert.lora_to_gguf_cmd(Path("/s"), Path("/l"), Path("/m"), Path("/o.gguf"), "f16", "python3")
        self.assertEqual(cmd, ["python3", "/s/convert_lora_to_gguf.py", "/l", "--base", "/m",
                               "--outfile", "/o.gguf", "--outtype", "f16"])

    def test_find_llama_src(self):
        with tempfile.TemporaryDirectory() as d:
            src = Path(d)
            with self.assertRaises(FileNotFoundError):
                convert.find_llama_src(str(src))
            for n in convert.NEEDED:
                (src / n).mkdir() if "." not in n else (src / n).write_text("")
            self.assertEqual(convert.find_llama_src(str(src)), src)
            with mock.patch.dict(os.environ, {"MOLORA_LLAMA_SRC": str(src)}):
                self.assertEqual(convert.find_llama_src(), src)

    def test_out_dir_holds_at_most_what_the_device_returns(self):
        from config import ExportConfig
        self.assertLessEqual(len(run.out_files()), ExportConfig().max_files)
        self.assertEqual(len(set(run.out_files())), len(run.out_files()))


if __name__ == "__main__":
    unittest.main()
