"""Where the config is: light enough to ask before anything else is loaded (see `prefetch`)."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "MENTIONWATCH_CONFIG"


def user_config() -> Path:
    """config.yaml in the user config dir (`~/.config/mentionwatch/` on Linux)."""
    from platformdirs import user_config_path

    return user_config_path("mentionwatch") / "config.yaml"


def config_location(explicit: Path | None) -> Path | None:
    """--config, else $MENTIONWATCH_CONFIG, else ./mentionwatch.yaml, else config.yaml in the user config dir; None
    when none of the last two exists."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path("mentionwatch.yaml")
    if local.exists():
        return local
    user = user_config()
    return user if user.exists() else None
