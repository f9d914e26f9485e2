"""Puts testbed/ on sys.path so the tests import its modules the way run.py does."""
import sys
from pathlib import Path

TESTBED = Path(__file__).resolve().parent.parent
if str(TESTBED) not in sys.path:
    sys.path.insert(0, str(TESTBED))
