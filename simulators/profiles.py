"""Device profiles (config/devices/*.yaml) read for the simulators."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ruamel.yaml import YAML

from monitor.config.devices import ProfileConfig

PROFILE_DIR = Path(__file__).resolve().parents[1] / "config" / "devices"


@cache
def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, ProfileConfig]:
    profiles: dict[str, ProfileConfig] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = YAML(typ="safe").load(path.read_text())
        for name, body in (doc or {}).get("profiles", {}).items():
            profiles[name] = ProfileConfig.model_validate(body)
    return profiles


def load_profile(name: str) -> ProfileConfig:
    profiles = load_profiles()
    if name not in profiles:
        raise KeyError(f"no device profile {name!r} in {PROFILE_DIR} "
                       f"(known: {', '.join(sorted(profiles))})")
    return profiles[name]
