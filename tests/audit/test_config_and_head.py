"""Config loads are audited with hash and diff; the chain head is published and checked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitor.audit import Action, AuditTrail, ChainHead, publish_heads, record_config_loaded
from monitor.config import load_config

from .sitecfg import write_config


def test_first_load_then_restart_then_reload(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    first = load_config(path)
    entry = record_config_loaded(first)
    assert entry.action == Action.CONFIG_LOADED
    assert entry.user == "system"
    assert entry.new_value["sha256"] == first.sha256
    assert entry.new_value["diff"] is None
    assert "first configuration" in entry.new_value["note"]

    # a restart with the same file: diffed against the previous run, unchanged
    again = record_config_loaded(load_config(path))
    assert again.new_value["diff"] == ""
    assert again.old_value == {"sha256": first.sha256}

    # the engineer lowers a limit and the daemon is restarted: diff against the last run
    write_config(tmp_path, low_alert=11)
    second = load_config(path)
    restarted = record_config_loaded(second)
    assert restarted.old_value == {"sha256": first.sha256}
    diff = restarted.new_value["diff"]
    assert "-      - {channel: dp1/dp, low_alert: 12, low_action: 10}" in diff
    assert "+      - {channel: dp1/dp, low_alert: 11, low_action: 10}" in diff

    # SIGHUP reload with the previous LoadedConfig at hand
    write_config(tmp_path, low_alert=13)
    third = load_config(path)
    reloaded = record_config_loaded(third, second)
    assert reloaded.action == Action.CONFIG_RELOADED
    assert reloaded.old_value == {"sha256": second.sha256}
    assert "+      - {channel: dp1/dp, low_alert: 13" in reloaded.new_value["diff"]
    assert reloaded.object == f"config:{path}"

    with AuditTrail(tmp_path / "data") as trail:
        assert trail.verify() is None
        assert trail.config_text(first.sha256) == first.text
        assert trail.head()[0] == 4


def test_previous_text_may_be_given_as_text(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    loaded = load_config(path)
    with AuditTrail(tmp_path / "data") as trail:
        entry = record_config_loaded(loaded, "site: {id: old}\n", trail=trail, user="eng1",
                                     reason="CC-2026-014")
        assert entry.user == "eng1"
        assert entry.reason == "CC-2026-014"
        assert entry.new_value["diff"].startswith("--- previous")


async def test_publish_heads_logs_writes_and_feeds_sinks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trail = AuditTrail(tmp_path)
    trail.record("a", "x.y", "o")
    trail.head_file.path.unlink()
    seen: list[ChainHead] = []

    def broken_sink(_head: ChainHead) -> None:
        raise RuntimeError("influx down")

    caplog.set_level(logging.INFO, logger="monitor.audit.head")
    await publish_heads([trail], interval=0.0, sinks=[broken_sink, seen.append], rounds=2)
    assert [h.seq for h in seen] == [1, 1]
    assert seen[0].hash == trail.head()[1]
    assert seen[0].chain == "audit"
    head = trail.head_file.read()
    assert head is not None
    assert (head.seq, head.hash) == trail.head()
    assert any(r.getMessage() == "chain head" for r in caplog.records)
    assert any("sink failed" in r.getMessage() for r in caplog.records)


def test_head_file_never_moves_backwards(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path)
    for _ in range(3):
        trail.record("a", "x.y", "o")
    assert not trail.head_file.write(ChainHead("audit", 2, "0" * 64, 0))
    head = trail.head_file.read()
    assert head is not None
    assert head.seq == 3
