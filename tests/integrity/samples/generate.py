"""Writes the sample logs in this folder with the code of the day (run from the repo root).

The files were made with the pre-``ChainedTable`` writers (commit 0ac401d):
``.venv/bin/python -m tests.integrity.samples.generate``. They are committed so
that later code must verify data written by earlier code; regenerating them
with newer code would defeat that, so do not rerun it unless the on-disk
format is meant to change (and then say so in the commit).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Level, Mode
from monitor.audit import AuditTrail
from monitor.qa.reviewlog import ReviewLog

T0 = 1_795_000_000_123_456_789  # 2026-11-18T...Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1_500_000_001
        return self.now


def event(seq: int, kind: EventKind, alarm_id: int, state: AlarmState, value: float) -> AlarmEvent:
    return AlarmEvent(seq=seq, id=f"s-{seq}", ts_ns=T0 + seq * 1_000_000_000, kind=kind,
                      alarm_id=alarm_id, point=f"fill-1/pc1/p05:high_{alarm_id}",
                      location="fill-1", channel="fill-1/pc1/p05", rule="high_action",
                      level=Level.ACTION, priority="high", state=state,
                      prev_state=AlarmState.NORMAL, mode=Mode.IN_SERVICE, value=value,
                      limit=20.0, location_state="in_operation",
                      details={"samples": [[T0, value]], "note": "Grade A — fill line"})


def main(out: Path) -> None:
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    trail = AuditTrail(work, clock=Clock())
    trail.record("system", "config.loaded", "config:/etc/cleanroom-monitor/site.yaml",
                 new={"sha256": "ab" * 32, "path": "/etc/cleanroom-monitor/site.yaml"})
    trail.record("os:qa1", "user.created", "user:jdoe", new={"roles": ["qa"], "name": "Jöhn Dœ"})
    trail.record("unauthenticated", "user.login_failed", "jdoe", reason="bad password")
    trail.record("jdoe", "limits.changed", "limits:fill-1/pc1/p05", old=3520, new=3000.5,
                 reason="URS rev. 4 — alert lowered")
    trail.record("jdoe", "alarm.acknowledged", "alarm:1", old={"state": "active_unack"},
                 new={"state": "active_ack", "nested": {"b": [1, 2.5, None], "a": True}})
    trail.close()
    review = ReviewLog(work, clock=Clock())
    review.append("1", "review_started", "qa1", {})
    review.append("1", "updated", "qa1", {"root_cause": "personnel", "impact": "minor",
                                          "detail": "gowning breach, 2 µm"})
    review.append("1", "commented", "op1", {"comment": "door held open ≥ 10 s"})
    review.append("1", "closed", "qa1", {"meaning": "approved"},
                  signature={"user": "qa1", "meaning": "approved", "seal": "cd" * 32})
    review.close()
    log = EventLog(work)
    log.append([event(1, EventKind.RAISED, 1, AlarmState.ACTIVE_UNACK, 25.5),
                event(2, EventKind.PEAK, 1, AlarmState.ACTIVE_UNACK, 31.25)])
    log.append([event(3, EventKind.CLEARED, 1, AlarmState.RTN_UNACK, 12.0)])
    log.append([event(4, EventKind.ACKNOWLEDGED, 1, AlarmState.NORMAL, 12.0),
                event(5, EventKind.RAISED, 2, AlarmState.ACTIVE_UNACK, 40.0)])
    log.close()
    for name in ("audit.db", "audit.head", "qa.db", "qa.head", "alarms.db", "alarms.head"):
        shutil.copyfile(work / name, out / name)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
