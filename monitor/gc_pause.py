"""The cyclic GC held off for one start: from the config load until the built objects are frozen.

A start makes ~10^6 objects that all live as long as the runtime (~300,000 of
them the config) and no cyclic garbage. Objects made while the collector is
off wait in the youngest generation, so the first collection after it comes
back walks all of them, and the next two generations walk them again (~30 ms
each for the config at 2,000 devices). Keeping the collector off from the
load until ``monitor.service`` freezes what the start built (which collects
once first) makes those walks a single one, off the path to the first poll.

Whoever pauses owns the pause and must resume it on every path, errors
included: the CLI's ``run`` hands its pause to the ``Service``, which resumes
it with the freeze or on its way out, and the CLI resumes it again (a no-op
then) when ``run`` returns or raises.
"""

from __future__ import annotations

import gc
from types import TracebackType


class GcPause:
    """One owner's pause of the cyclic GC; ``resume`` is idempotent.

    ``pause`` turns the collector off only if it is on, and only then does this
    pause own it: a collector someone else turned off stays off.
    """

    __slots__ = ("_owned",)

    def __init__(self) -> None:
        self._owned = False

    @property
    def active(self) -> bool:
        return self._owned

    def pause(self) -> None:
        if not self._owned and gc.isenabled():
            gc.disable()
            self._owned = True

    def resume(self) -> None:
        if self._owned:
            self._owned = False
            gc.enable()

    def __enter__(self) -> GcPause:
        self.pause()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.resume()
