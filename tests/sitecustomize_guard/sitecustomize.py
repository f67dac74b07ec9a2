"""Loaded by every Python process started with this folder on PYTHONPATH (the e2e tests' subprocesses)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import netguard

netguard.install()
