"""Opening everything QA works with from one site config: trail, users, signer, logs, history.

The CLI commands (``excursions``, ``report``) and the HTTP API use the same
set; ``integrity()`` lists every hash-chained record with its verify function,
so a report states the state of all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.audit import AuditTrail
from monitor.errors import StoreError
from monitor.integrity import ChainProblem
from monitor.signatures import Signer
from monitor.users.store import UserStore

from .excursions import AlarmLogSource, Excursion
from .reviewlog import ReviewLog
from .workflow import ExcursionReview

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from monitor.config import LoadedConfig
    from monitor.reports.build import ReportSources
    from monitor.storage.history import History

ALARM_LOG = "alarm event log"


class NoExcursions:
    """Stands in for the alarm event log when there is none (yet)."""

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> Sequence[Excursion]:
        return []

    def excursion(self, excursion_id: str) -> Excursion | None:
        return None


@dataclass
class QAContext:
    loaded: LoadedConfig
    trail: AuditTrail
    users: UserStore
    signer: Signer
    log: ReviewLog
    review: ExcursionReview
    history: History | None
    alarm_log: AlarmLogSource | None
    notes: list[str] = field(default_factory=list)

    def integrity(self) -> dict[str, Callable[[], ChainProblem | None]]:
        checks: dict[str, Callable[[], ChainProblem | None]] = {
            "audit trail": self.trail.verify,
            "excursion review log": self.log.verify,
        }
        if self.alarm_log is not None:
            checks[ALARM_LOG] = self.alarm_log.log.verify
        else:
            checks[ALARM_LOG] = lambda: ChainProblem(0, "no alarm event log (alarms.db) in "
                                                     "the data directory")
        return checks

    def report_sources(self) -> ReportSources:
        from monitor.reports.build import ReportSources

        return ReportSources(self.loaded, self.history, self.review, self.trail,
                             self.integrity())


@contextmanager
def open_qa(loaded: LoadedConfig, *, hasher: PasswordHasher | None = None) -> Iterator[QAContext]:
    data_dir = Path(loaded.config.data_dir)
    with ExitStack() as stack:
        trail = stack.enter_context(AuditTrail(data_dir))
        users = stack.enter_context(UserStore(data_dir, trail, loaded.config.users,
                                              hasher=hasher))
        signer = Signer(users, trail)
        log = stack.enter_context(ReviewLog(data_dir))
        notes: list[str] = []
        alarm_log: AlarmLogSource | None = None
        try:
            alarm_log = AlarmLogSource(data_dir)
            stack.callback(alarm_log.close)
        except StoreError as err:
            notes.append(str(err))
        history: History | None = None
        try:
            from monitor.storage.history import History

            history = History(data_dir)
            stack.callback(history.close)
        except StoreError as err:
            notes.append(str(err))
        source = alarm_log if alarm_log is not None else NoExcursions()
        review = ExcursionReview(source, log, signer, trail)
        yield QAContext(loaded, trail, users, signer, log, review, history, alarm_log, notes)
