"""Is the host's clock synchronised? (every record's time is this clock's)

Two sources, in order:

1. ``timedatectl show -p NTPSynchronized --value`` (systemd hosts, the
   normal deployment): ``yes`` / ``no`` is the answer.
2. the kernel's NTP state (``adjtimex(2)`` read-only, through ctypes), which
   every NTP client (chronyd, ntpd, systemd-timesyncd) keeps while it
   disciplines the clock: a maximum error below 16 s without ``STA_UNSYNC``
   means synchronised, as systemd itself decides.

Without systemd, an undisciplined kernel clock cannot tell "no NTP client"
from "a clock kept by other means" (a container sharing its host's clock, a
hypervisor's time sync): the status is ``unknown``, which raises no alarm
unless ``alarms.clock.ntp: required``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from dataclasses import dataclass
from enum import StrEnum


class Sync(StrEnum):
    SYNCHRONIZED = "synchronized"
    UNSYNCHRONIZED = "unsynchronized"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NtpStatus:
    sync: Sync
    source: str | None  # "timedatectl", "adjtimex" or None
    detail: str


MAX_ERROR_US = 16_000_000  # systemd's limit for "synchronised" (kernel maxerror, µs)
STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
        ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int), ("reserved", ctypes.c_int * 11),
    ]


def from_timedatectl(binary: str | None = None, timeout: float = 5.0) -> NtpStatus | None:
    """systemd's answer, or None when timedatectl is missing or cannot answer (no systemd)."""
    binary = binary or shutil.which("timedatectl")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip().lower()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    if answer == "yes":
        return NtpStatus(Sync.SYNCHRONIZED, "timedatectl", "NTPSynchronized=yes")
    return NtpStatus(Sync.UNSYNCHRONIZED, "timedatectl", "NTPSynchronized=no")


def from_kernel() -> NtpStatus:
    """The kernel's NTP state (read-only adjtimex); unknown unless it shows a disciplined clock."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError) as err:
        return NtpStatus(Sync.UNKNOWN, None, f"adjtimex unavailable: {err}")
    if state < 0:
        return NtpStatus(Sync.UNKNOWN, None, f"adjtimex failed (errno {ctypes.get_errno()})")
    if timex.maxerror < MAX_ERROR_US and not timex.status & STA_UNSYNC:
        return NtpStatus(Sync.SYNCHRONIZED, "adjtimex",
                         f"kernel clock disciplined, max error {timex.maxerror / 1e6:g} s")
    return NtpStatus(Sync.UNKNOWN, "adjtimex",
                     "kernel clock not disciplined by NTP and no timedatectl answer")


def probe(timedatectl: str | None = None) -> NtpStatus:
    """The host's NTP status now (blocks up to a few seconds: run it in a thread)."""
    return from_timedatectl(timedatectl) or from_kernel()
