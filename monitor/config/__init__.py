"""Site configuration: YAML in, frozen validated models out."""

from .loader import ChannelInfo, LoadedConfig, load_config
from .root import Config

__all__ = ["ChannelInfo", "Config", "LoadedConfig", "load_config"]
