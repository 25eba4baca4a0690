"""Mutated configuration files and the one property they must all satisfy.

``load_config`` either returns a ``LoadedConfig`` or raises ``ConfigError``
whose every problem reads ``FILE:LINE: ...``; any other exception is a crash
an engineer would meet as a traceback. Seeds are every config in the
repository (the golden cases, the example configs, a generated site);
mutations work on bytes (invalid UTF-8, truncation, splices) and on the
parsed structure (a value of the wrong type, a missing or unknown key, huge,
negative, NaN and nested values). Shared by tests/fuzz and bench.fuzz_long.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from monitor.config import load_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = re.compile(r"^.+:\d+: .+", re.DOTALL)


def _generated_site() -> str:
    from bench.configs import modbus_site

    config = modbus_site(Path("/tmp/unused-fuzz"), 3, [5020], http_port=8751)
    config["storage"]["sinks"] = [
        {"name": "influx", "type": "influxdb_v1", "url": "http://127.0.0.1:8086"},
        {"name": "vm", "type": "influxdb_v2", "url": "http://127.0.0.1:8428", "token": "t"},
    ]
    return json.dumps(config, indent=1)


def seed_texts() -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted((ROOT / "tests" / "config" / "cases").glob("*/*.yaml"))]
    seeds += [p.read_bytes() for p in sorted((ROOT / "config").glob("*.yaml"))]
    seeds.append(_generated_site().encode())
    return seeds


SEEDS = seed_texts()

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "1s", "-5m", "10x", "preset", "A", "ISO5", "modbus_tcp", "mqtt",
                     "${ENV_THAT_IS_NOT_SET}", "file:/nonexistent", "0.0.0.0", "../../etc"]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def structural_mutation(draw: st.DrawFn) -> bytes:
    """A seed parsed, changed at one to three places, written back as JSON (which is YAML)."""
    from ruamel.yaml import YAML

    seed = draw(st.sampled_from(SEEDS))
    try:
        doc = json.loads(json.dumps(YAML(typ="safe").load(seed.decode()), default=str))
    except Exception:  # a seed that is itself broken YAML: mutate its bytes instead
        return draw(byte_mutation())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(_values) if draw(st.integers(0, 9)) == 0 else doc
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add_key", "duplicate"]))
        key = path[-1]
        if action == "replace":
            parent[key] = draw(_values)
        elif action == "delete":
            del parent[key]
        elif action == "add_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(_values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[key])))
    return json.dumps(doc, indent=1, allow_nan=True).encode()


@st.composite
def byte_mutation(draw: st.DrawFn) -> bytes:
    """A seed's bytes with splices: deletions, insertions (any byte), truncation, repeats."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["delete", "insert", "truncate", "repeat", "flip"]))
        if action == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif action == "insert":
            data[at:at] = draw(st.one_of(
                st.binary(min_size=1, max_size=12),
                st.sampled_from([b": ", b"\n- ", b"{", b"]", b"\t", b"&a ", b"*a", b"\xff\xfe",
                                 b"!!python/object:os.system ", b"\x00", b"'", b'"',
                                 b"%YAML 1.1\n", b"<<: *a\n"]),
            ))
        elif action == "truncate":
            del data[at:]
        elif action == "repeat":
            end = min(len(data), at + draw(st.integers(1, 200)))
            data[end:end] = data[at:end]
        else:
            data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def check_config_bytes(data: bytes) -> str:
    """Write ``data`` as a config file and load it: 'accepted' or 'rejected', never a crash."""
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as tmp:
        path = Path(tmp) / "site.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as err:
            problems = err.problems
        else:
            return "accepted"
    unclear = [p for p in problems if not isinstance(p, str) or not PROBLEM.match(p)]
    if not problems or unclear:
        raise AssertionError(f"ConfigError without a FILE:LINE problem: {problems!r}")
    return "rejected"
