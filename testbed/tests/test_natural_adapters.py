"""natural_adapters.py's training text: each natural train window's runs of one label, from the windows natural.py's
manifest records (a window whose text changed is refused), with indentation kept for code."""
import json
import tempfile
import unittest
from pathlib import Path

import _path  # noqa: F401
import natural
import natural_adapters as na

WINDOW = "\n".join([
    "Install it and call it:",
    "",
    "```python",
    "def area(w, h):",
    "    return w * h",
    "```",
    "",
    "The function returns the area of the rectangle in square units.",
    "",
    "    indented_block = True",
])


def train_dir(root: Path, text: str, recorded: str) -> Path:
    (root / "p.000.txt").write_text(text, encoding="utf-8")
    man = {"window_files": [{"file": "p.000.txt", "sha256": natural.sha256_text(recorded)}]}
    (root / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    return root


class NaturalRunsTest(unittest.TestCase):
    def test_code_and_prose_runs_follow_the_labels(self):
        with tempfile.TemporaryDirectory() as d:
            root = train_dir(Path(d), WINDOW, WINDOW)
            code = [r["text"] for r in na.natural_runs(root, "code")]
            prose = [r["text"] for r in na.natural_runs(root, "prose")]
        # the fence with its body, and the indented block at the window's end (indentation kept)
        self.assertEqual(code, ["```python\ndef area(w, h):\n    return w * h\n```", "    indented_block = True"])
        self.assertEqual(prose, ["The function returns the area of the rectangle in square units."])
        # the first line is shorter than a prose run's minimum and left out
        self.assertLess(len("Install it and call it:"), na.MIN_RUN_CHARS["prose"])

    def test_a_window_that_is_not_the_one_recorded_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            root = train_dir(Path(d), WINDOW + "\nmore", WINDOW)
            with self.assertRaises(SystemExit):
                na.natural_runs(root, "code")

    def test_markup_is_guessed_from_the_window(self):
        self.assertEqual(na.kind_of(["```", "x", "```"]), "md")
        self.assertEqual(na.kind_of(["Example::", "", "    x = 1"]), "rst")
        self.assertEqual(na.kind_of(["plain words"]), "md")


if __name__ == "__main__":
    unittest.main()
