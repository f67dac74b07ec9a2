"""What mentionwatch remembers between runs, behind one interface; `sqlite` is the embedded engine."""

from __future__ import annotations

from mentionwatch.store.sqlite import Store, default_state_path

__all__ = ["Store", "default_state_path"]
