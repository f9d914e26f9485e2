import hashlib
import json
import tempfile
import unittest
from pathlib import Path

import _path  # noqa: F401
import manifest
from config import ExportConfig


class ManifestTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def file(self, name, size):
        p = self.dir / name
        p.write_bytes(bytes(i % 251 for i in range(size)))
        return p

    def test_entries_hash_and_size(self):
        a, b = self.file("a.gguf", 1000), self.file("b.gguf", 3000)
        log = self.file("run.log", 10)
        p = manifest.write_manifest(self.dir, {"base": a, "lora": b}, {"config": {"seed": 1}}, 10_000, 20_000, 8,
                                    extra_files=[log])
        m = json.loads(p.read_text())
        self.assertEqual([e["file"] for e in m["files"]], ["a.gguf", "b.gguf"])
        self.assertEqual(m["files"][0]["sha256"], hashlib.sha256(a.read_bytes()).hexdigest())
        self.assertEqual(m["files"][1]["bytes"], 3000)
        self.assertEqual(m["config"], {"seed": 1})
        self.assertEqual(m["limits"], {"max_file_bytes": 10_000, "max_total_bytes": 20_000, "max_files": 8})
        self.assertEqual(m["total_bytes_without_manifest"], 4010)
        self.assertEqual(manifest.verify_manifest(p), [])

    def test_verify_finds_changes(self):
        a = self.file("a.gguf", 100)
        p = manifest.write_manifest(self.dir, {"base": a}, {}, 10_000, 20_000, 8)
        a.write_bytes(b"x" * 100)
        self.assertEqual(manifest.verify_manifest(p), ["a.gguf: sha256 differs"])
        a.write_bytes(b"x")
        self.assertIn("1 bytes", manifest.verify_manifest(p)[0])
        a.unlink()
        self.assertEqual(manifest.verify_manifest(p), ["a.gguf: missing"])

    def test_per_file_limit(self):
        a = self.file("big.gguf", 2001)
        with self.assertRaisesRegex(manifest.LimitError, "big.gguf is 2001 bytes"):
            manifest.write_manifest(self.dir, {"base": a}, {}, 2000, 100_000, 8)
        self.assertFalse((self.dir / "manifest.json").exists())

    def test_total_limit_counts_the_manifest_and_extras(self):
        a, b = self.file("a", 1500), self.file("b", 1500)
        with self.assertRaisesRegex(manifest.LimitError, "total"):
            manifest.write_manifest(self.dir, {"a": a, "b": b}, {}, 2000, 3100, 8)
        log = self.file("log", 1500)
        with self.assertRaisesRegex(manifest.LimitError, "total"):
            manifest.check_limits([a, b, log], 2000, 4000, 8)

    def test_file_count_limit(self):
        files = {f"f{i}": self.file(f"f{i}", 10) for i in range(8)}
        with self.assertRaisesRegex(manifest.LimitError, "more than the 8"):
            manifest.write_manifest(self.dir, files, {}, 2000, 100_000, 8)   # 8 + the manifest itself

    def test_default_limits_are_the_device_and_repo_limits(self):
        e = ExportConfig()
        self.assertEqual(e.max_file_bytes, 16 * 1024 * 1024)
        self.assertEqual(e.max_total_bytes, 30 * 1024 * 1024)
        self.assertEqual(e.max_files, 8)
        self.assertEqual(manifest.check_limits([self.file("x", 16 * 1024 * 1024)], e.max_file_bytes,
                                               e.max_total_bytes, e.max_files), 16 * 1024 * 1024)


if __name__ == "__main__":
    unittest.main()
