"""A cache of the validated config, so that an unchanged restart skips YAML and validation.

At 2,000 devices reading the YAML, validating it and checking its references
takes about a second; unpickling the result takes a tenth of that. The cache
is ``<data_dir>/config.cache``: a JSON header line, then the pickled list
of the distinct floats and the pickled ``(Config, channels, locations)``
(floats shared through the list, see ``_Pickler``). It is used only when every part of its key
matches: the SHA-256 of the main file and of every file its ``include:``
globs match now (a changed, added or removed include is a miss), the resolved
config path, the monitor, pydantic, pydantic-core and Python versions, and a
hash of the source of the modules whose classes are pickled or whose checks
decide validity. Anything else (missing, unreadable, foreign, stale, corrupt
or a secret that no longer resolves) is a miss: the config is loaded and
validated in full, and the cache rewritten. ``check-config`` never reads it.

Secrets: ``{env: ...}`` and ``{file: ...}`` values are pickled as their
reference (``SecretRef``) and resolved again when the cache is read, so no
secret value is written; a config holding a literal secret is not cached.

Trust: unpickling runs code named by the file, so the cache is only read when
it is a regular file owned by the daemon's user and writable by nobody else,
in the daemon's own data directory (where the audit trail and the signing key
live: whoever can write there can already forge records). It is written with
mode 0600 through a temporary file and an atomic rename.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import io
import json
import logging
import os
import pickle
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .loader import LoadedConfig, load_config, paused_gc

log = logging.getLogger(__name__)

CACHE_NAME = "config.cache"
MAGIC = b"cleanroom-monitor config cache 2\n"
#: modules whose classes are in the pickle or whose code decides what is valid
_SOURCES = ("monitor/config/*.py", "monitor/alarms/presets.py", "monitor/model.py")
_DATA_DIR = re.compile(r'^(?:data_dir|[ \t]*"data_dir")[ \t]*:[ \t]*(.*?)[ \t]*,?[ \t]*$', re.M)


class _LiteralSecret(Exception):
    """A secret written into the config itself: such a config is not cached."""


def load_config_cached(path: str | Path, *, save: bool = True) -> LoadedConfig:
    """``load_config(path)``, from the cache when it is valid for the files as they are now.

    On a miss the config is loaded in full (raising ``ConfigError`` as
    ``load_config`` does) and, with ``save``, the cache is written; pass
    ``save=False`` to write it later with ``save_cache`` (off a start's critical path).
    """
    path = Path(path)
    loaded = read_cache(path)
    if loaded is not None:
        return loaded
    loaded = load_config(path)
    if save:
        save_cache(loaded)
    return loaded


def cache_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / CACHE_NAME


def read_cache(path: Path) -> LoadedConfig | None:
    """The cached ``LoadedConfig`` for ``path``, or None when there is no valid one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # load_config reports it
    data_dir = guess_data_dir(text)
    if data_dir is None:
        return None
    file = cache_path(data_dir)
    try:
        with open(file, "rb") as stream:
            if not _trusted(os.fstat(stream.fileno())):
                log.warning("config cache ignored: not a private file of this user",
                            extra={"cache": str(file)})
                return None
            if stream.readline() != MAGIC:
                return None
            header = json.loads(stream.readline())
            if not isinstance(header, dict) or header.get("key") != _key(path):
                return None
            includes = header.get("include")
            if not isinstance(includes, list):
                return None
            sha256 = config_digest(path, text, [str(p) for p in includes])
            if header.get("sha256") != sha256 or header.get("data_dir") != data_dir:
                return None
            payload = io.BytesIO(stream.read())
        with paused_gc():  # hundreds of thousands of objects, none of them garbage
            floats = pickle.load(payload)
            unpickler = pickle.Unpickler(payload)
            unpickler.persistent_load = floats.__getitem__  # type: ignore[method-assign]
            config, channels, locations = unpickler.load()
    except FileNotFoundError:
        return None
    except Exception as err:  # corrupt, truncated, foreign, a secret that no longer resolves
        log.info("config cache ignored: %s", err, extra={"cache": str(file)})
        return None
    if config.data_dir != data_dir or list(config.include) != includes:
        return None
    return LoadedConfig(config, path, sha256, text, channels, locations, from_cache=True)


def save_cache(loaded: LoadedConfig) -> bool:
    """Write the cache for ``loaded`` atomically with mode 0600; False if it was not written."""
    config = loaded.config
    data_dir = guess_data_dir(loaded.text)
    if data_dir is None or data_dir != config.data_dir:
        return False  # the next start could not find it
    buffer = io.BytesIO()
    try:
        pickler = _Pickler(buffer)
        pickler.dump((config, loaded.channels, loaded.locations))
    except _LiteralSecret:
        log.info("config not cached: it holds a literal secret")
        return False
    header = {"key": _key(loaded.path), "sha256": loaded.sha256, "data_dir": data_dir,
              "include": list(config.include)}
    file = cache_path(data_dir)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config.cache.", dir=file.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + json.dumps(header).encode() + b"\n")
                out.write(pickle.dumps(pickler.floats, protocol=pickle.HIGHEST_PROTOCOL))
                out.write(buffer.getbuffer())
            os.replace(tmp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as err:
        log.warning("config cache not written: %s", err, extra={"cache": str(file)})
        return False
    return True


def config_digest(path: Path, text: str, includes: list[str]) -> str:
    """The loader's SHA-256: the main file's text, then each file the include globs match."""
    digest = hashlib.sha256(text.encode())
    for pattern in includes:
        for match in sorted(glob.glob(str(path.parent / pattern))):
            digest.update(Path(match).read_bytes())
    return digest.hexdigest()


def guess_data_dir(text: str) -> str | None:
    """``data_dir`` as written at the top level of the main file, without parsing it.

    The cache lives in the data directory, which only the config names. A
    plain or quoted value on a line of its own (YAML, or the JSON the
    benchmarks write) is found; anything else is a miss. The loaded config's
    ``data_dir`` must equal the guess, so a wrong guess is never used.
    """
    from .root import Config

    match = _DATA_DIR.search(text)
    if match is None:
        default = Config.model_fields["data_dir"].default
        return str(default)
    value = match.group(1)
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        if end < 0 or "\\" in value[:end] or "''" in value:
            return None
        return value[1:end]
    value = value.split(" #", 1)[0].strip()
    if not value or value[0] in "{[&*!|>%@`":
        return None
    return value


def _trusted(st: os.stat_result) -> bool:
    return (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _key(path: Path) -> dict[str, str]:
    import pydantic
    import pydantic_core

    import monitor

    return {"path": str(path.resolve()), "monitor": monitor.__version__,
            "pydantic": pydantic.VERSION, "pydantic_core": pydantic_core.__version__,
            "python": sys.version, "sources": _sources_fingerprint()}


@functools.cache
def _sources_fingerprint() -> str:
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for pattern in _SOURCES:
        for file in sorted(glob.glob(str(root / pattern))):
            digest.update(file.encode() + b"\0" + Path(file).read_bytes())
    return digest.hexdigest()


class _Pickler(pickle.Pickler):
    """Refuses a literal ``SecretStr`` (``SecretRef`` pickles as its reference).

    Floats are written as an index into ``floats``, a list of the distinct
    values pickled ahead of the config: pickle never memoizes a float, so
    20,000 limits of ``high_alert: 90.0``, one float object after a load,
    would come back as 20,000 floats (0.5 MB each such field at 2,000
    devices). The reader resolves the index with the list's ``__getitem__``
    (no Python call per float).
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.floats: list[float] = []
        self._float_index: dict[str, int] = {}  # by float.hex(): 0.0 and -0.0 stay apart

    def persistent_id(self, obj: Any) -> int | None:
        if type(obj) is not float:
            return None
        key = obj.hex()
        index = self._float_index.get(key)
        if index is None:
            index = self._float_index[key] = len(self.floats)
            self.floats.append(obj)
        return index

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is SecretStr:
            raise _LiteralSecret
        return NotImplemented
