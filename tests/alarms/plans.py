"""One interpreter of random operation plans for the alarm engine's property tests.

``test_fast_path`` (fast path against full path) and ``test_tables`` (points
made on demand against points always kept) drive engines with the same kinds
of steps; each keeps its own site, values and hypothesis strategies, and both
run their plans here, so that a step means the same in both. Times are
seconds after ``site.T0``. Steps:

* ``("read", (channel, i, quality), dt)``: ``dt`` s later, one reading of
  ``values[channel][i]`` (modulo its length) with that quality;
* ``("batch", [(channel, i, quality), ...], dt)``: ``dt`` s later, one batch;
* ``("second", [(i, quality) per channel of ``channels``], tick)``: one
  second later, a poll of every channel, then a tick half a second on if
  ``tick``;
* ``("quiet", n)``: ``n`` seconds of every channel at ``values[channel][0]``,
  each ticked;
* ``("tick", dt)``: ``dt`` s later, a tick; ``("back", dt)``: the host clock
  stepped back ``dt`` s, seen by a tick;
* ``("ack" | "shelve" | "unshelve" | "oos_on" | "oos_off", key)``: an
  operator action (shelving for 7 s);
* ``("maint_on" | "maint_off", target)``: open-ended maintenance;
* ``("state", state)`` or ``("state", state, until)``: the location state of
  ``fill-1`` set by hand (``auto`` ends it), for ``until`` s when given.

A refused action is recorded as ``"refused: <message>"`` in the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.events import AlarmEvent
from monitor.errors import AlarmError
from monitor.model import Quality, Reading

from .site import at

Values = Mapping[str, Sequence[Any]]


def reading(values: Values, spec: tuple[str, int, Quality], ts: int) -> Reading:
    """``values[channel][i]``; a reading that is not good says why ("x")."""
    channel, i, quality = spec
    vals = values[channel]
    return Reading(channel, vals[i % len(vals)], quality, ts,
                   detail=None if quality is Quality.GOOD else "x")


def drive(engine: AlarmEngine, plan: Sequence[tuple[Any, ...]],
          values: Values) -> list[AlarmEvent | str]:
    """Run the plan; every event and every refusal, in order."""
    channels = sorted(values)
    out: list[AlarmEvent | str] = []
    now = 0.0
    for s in plan:
        op = s[0]
        try:
            if op == "read":
                now += s[2]
                out += engine.evaluate([reading(values, s[1], at(now))])
            elif op == "batch":
                now += s[2]
                out += engine.evaluate([reading(values, r, at(now)) for r in s[1]])
            elif op == "second":  # a poll of every channel, mostly in limits; maybe a tick
                now += 1
                out += engine.evaluate([reading(values, (c, i, q), at(now))
                                        for c, (i, q) in zip(channels, s[1], strict=True)])
                if s[2]:
                    out += engine.tick(at(now + 0.5))
            elif op == "quiet":  # seconds of every channel in limits, ticked: the common case
                for _ in range(s[1]):
                    now += 1
                    out += engine.evaluate([Reading(c, values[c][0], Quality.GOOD, at(now))
                                            for c in channels])
                    out += engine.tick(at(now + 0.5))
            elif op == "tick":
                now += s[1]
                out += engine.tick(at(now))
            elif op == "back":  # the host clock steps back (seen by the tick)
                now -= s[1]
                out += engine.tick(at(now))
            elif op == "ack":
                out += engine.acknowledge(s[1], "ann", "seen", at(now))
            elif op == "shelve":
                out += engine.shelve(s[1], "ann", "r", at(now), at(now + 7))
            elif op == "unshelve":
                out += engine.unshelve(s[1], "ann", "r", at(now))
            elif op in ("oos_on", "oos_off"):
                out += engine.set_out_of_service(s[1], op == "oos_on", "eng", "r", at(now))
            elif op in ("maint_on", "maint_off"):
                out += engine.set_maintenance(s[1], op == "maint_on", user="eng", reason="r",
                                              ts_ns=at(now), until_ns=None)
            elif op == "state":
                until = at(now + s[2]) if len(s) > 2 else None
                out += engine.set_location_state("fill-1", s[1], user="qa", reason="r",
                                                 ts_ns=at(now), until_ns=until)
            else:
                raise ValueError(f"unknown step {s!r}")
        except AlarmError as err:
            out.append(f"refused: {err}")
    return out


def as_json(out: Sequence[AlarmEvent | str]) -> list[Any]:
    """The output with events as JSON (comparable across engines)."""
    return [e if isinstance(e, str) else e.to_json() for e in out]
