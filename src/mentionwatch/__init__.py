"""mentionwatch: a command-line mention monitor."""

from __future__ import annotations

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/mentionwatch/mentionwatch"
USER_AGENT = f"mentionwatch/{__version__} (+{PROJECT_URL})"
