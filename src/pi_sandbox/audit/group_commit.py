"""Group commit: concurrent appenders share one transaction (and, when they need one, one sync).

Appenders queue a :class:`Ticket` each; whichever thread finds no commit in flight becomes the leader,
takes the whole queue, has the store write it in one transaction (:meth:`GroupWriter.write_group`), wakes
the threads it acknowledged and makes the next queued thread the leader. Nobody is acknowledged before the
commit that holds their entries, nor before the sync when they asked for one
(:meth:`GroupWriter.make_durable`). The next group may commit while this one syncs, so an entry that needs
no sync never waits for another call's fdatasync.

A leader may wait a little for sibling threads that append alongside others (PostgreSQL's
``commit_delay`` / ``commit_siblings`` idea, :meth:`GroupCommit._sibling_wait`). The store owns what is
written and synced; this module owns only who commits when (``docs/ledger.md``, *Group commit*).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final, Protocol

from pi_sandbox.audit.chain import preimage_parts
from pi_sandbox.audit.records import LedgerEntry, PreparedEntry
from pi_sandbox.errors import AuditStoreError

#: How long a new group-commit leader may wait for siblings that are about to append. Small next to one
#: fsync'ed commit (~250 µs here).
DEFAULT_COMMIT_DELAY_S: Final = 0.0004
#: A thread that appended within this window counts as an active sibling.
_SIBLING_WINDOW_S: Final = 0.002

#: What a written group gives: the new head ``(seq, entry_hash)`` and the newest checkpoint it wrote.
Committed = tuple[int, str, tuple[int, str] | None]


class Ticket:
    """One caller's entries waiting for group commit.

    Its thread sleeps on ``wake`` (a lock acquired at creation and released once per event: done, or
    made the next group's leader), so a commit wakes only the threads it concerns instead of every
    waiter (a ``notify_all`` to eight threads costs eight GIL hand-offs per commit)."""

    __slots__ = ("prepared", "forensics", "parts", "rows", "entries", "error", "done", "sync", "lead",
                 "abandoned", "wake", "thread")

    def __init__(self, prepared: list[PreparedEntry], forensics: list[str | None] | None = None,
                 sync: bool = True) -> None:
        self.prepared = prepared
        #: The sealed forensic record (canonical JSON) of each prepared entry, or None.
        self.forensics = forensics or [None] * len(prepared)
        #: Each entry's pre-image around prev_hash/seq, built here in the caller's thread (not in the commit).
        self.parts = [preimage_parts(*p) for p in prepared]
        #: The stored rows once committed (the caller builds its LedgerEntry objects from them).
        self.rows: list[tuple[Any, ...]] = []
        self.entries: list[LedgerEntry] = []
        self.error: BaseException | None = None
        self.done = False
        #: Acknowledge only once synced (an effect follows), not merely committed.
        self.sync = sync
        #: Made the leader of the next group (its thread commits the queue).
        self.lead = False
        #: Its thread stopped waiting (interrupted): never make it a leader; it is still committed.
        self.abandoned = False
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread = threading.get_ident()


class GroupWriter(Protocol):
    """What group commit needs of the store."""

    def write_group(self, batch: list[Ticket]) -> Committed | None:
        """Write every ticket of ``batch`` in one transaction and give each its rows; on failure set each
        ticket's ``error`` and return None (raising only what is not an ``Exception``)."""
        ...

    def make_durable(self, checkpoint: tuple[int, str] | None) -> AuditStoreError | None:
        """Sync everything committed so far (``checkpoint`` is sealed once synced); the error of a failed sync."""
        ...

    def seal_later(self, checkpoint: tuple[int, str]) -> None:
        """Seal ``checkpoint`` (just committed) once a sync covers it, off the committing thread."""
        ...

    def acknowledged_unsynced(self) -> None:
        """A group was acknowledged without a sync of its own (the background flush syncs it)."""
        ...


class GroupCommit:
    """The queue of tickets, the leader hand-off and the sibling wait of one store."""

    def __init__(self, writer: GroupWriter, commit_delay_s: float = DEFAULT_COMMIT_DELAY_S) -> None:
        self._writer = writer
        self.commit_delay_s = commit_delay_s
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[Ticket] = []
        self._committing = False
        #: The ticket of a leader waiting for siblings to join its group (an arrival that completes the
        #: group commits it instead).
        self._gatherer: Ticket | None = None
        self.closed = False
        self._recent_appenders: dict[int, float] = {}
        self._queue_since = 0.0
        # Adaptive gathering: did past waits pay off (a sibling joined)? See _sibling_wait.
        self._wait_payoff = 1.0
        self._waited_at_size = 0  # queue size when the current group started waiting; 0 = not waiting
        self._declined_waits = 0
        #: Number of group-commit transactions so far (entries per commit = batching efficiency).
        self.group_commits = 0

    def submit(self, ticket: Ticket) -> None:
        """Queue ``ticket`` and return once it is done (committed, and synced if it asked; or failed: see
        ``ticket.error``). The calling thread may commit other threads' tickets meanwhile, as the leader."""
        cond = self._cond
        with cond:
            if self.closed:
                raise AuditStoreError("the audit store is closed")
            now = time.monotonic()
            # Only a thread that has been seen appending *alongside* another is a sibling worth
            # waiting for. Sequential appends from several threads (a worker's fetch served on an
            # executor thread, then its next sync call on the supervisor thread) never overlap, and
            # waiting for the idle thread would only add latency.
            ident = threading.get_ident()
            if self._queue or self._committing or now - self._recent_appenders.get(ident, -1.0) < _SIBLING_WINDOW_S:
                self._recent_appenders[ident] = now
            if not self._queue:
                self._queue_since = now
            self._queue.append(ticket)
            lead = not self._committing
            batch: list[Ticket] | None = None
            if lead:
                self._committing = True
                if self._sibling_wait() <= 0:
                    # Nobody to wait for (a lone appender: the common case): commit right away, without
                    # a second round on the lock in _lead.
                    batch = self._take_batch()
            elif self._gatherer is not None and self._sibling_wait() <= 0:
                # This arrival completes the group a leader is gathering: commit it from here. The old
                # leader then wakes once, when its entry is acknowledged, instead of once to commit and
                # this thread once for its acknowledgement.
                self._gatherer = None
                lead = True
        if batch is not None:
            ticket.lead = False
            self._commit_and_release(batch)  # acknowledges every ticket of the batch, this one included
            if ticket.done:
                return
            lead = False
        while True:
            if lead:
                ticket.lead = False  # leading now: an interrupted wait must not pass the lead on
                self._lead(ticket)
            if ticket.done:
                return
            self._await(ticket)
            lead = ticket.lead and not ticket.done

    def close(self) -> bool:
        """Refuse new tickets and commit what is still queued (normally each queued ticket's own thread
        commits it, but a thread interrupted while waiting leaves its ticket behind). False when it was
        closed already."""
        with self._cond:
            if self.closed:
                return False
            self.closed = True
        while True:
            with self._cond:
                while self._committing:
                    self._cond.wait()
                if not self._queue:
                    return True
                self._committing = True
                batch, self._queue = self._queue, []
            self._commit_and_release(batch)

    def _await(self, ticket: Ticket) -> None:
        """Sleep until ``ticket`` is done or its thread is made the next leader."""
        try:
            ticket.wake.acquire()
        except BaseException:  # interrupted: the entries are still committed (by a leader or close())
            with self._cond:
                ticket.abandoned = True
                if ticket.lead and not ticket.done:
                    successor = self._pass_lead()
                    if successor is not None:
                        successor.wake.release()
            raise

    def _pass_lead(self) -> Ticket | None:
        """(Lock held.) Make the first waiting ticket's thread the next leader, or end the commit run."""
        successor = next((t for t in self._queue if not t.abandoned), None)
        if successor is None:
            self._committing = False
            if self.closed:
                self._cond.notify_all()  # close() waits for the last commit in flight
            return None
        successor.lead = True
        return successor

    def _lead(self, ticket: Ticket) -> None:
        """Commit the queued group (this thread holds ``_committing``), after gathering siblings; returns
        early, its ticket not yet done, when an arriving sibling completed the group and took it over."""
        cond = self._cond
        with cond:
            # Also groups needing no sync: without the wait, the thread that just committed wins the GIL
            # back from the siblings it woke and commits alone again and again (measured: 1.1 entries per
            # commit with 8 threads), while the siblings starve for up to the 5 ms switch interval.
            while True:
                wait_s = self._sibling_wait()
                if wait_s <= 0:
                    break
                self._gatherer = ticket
                cond.release()
                try:  # on its own wake lock: a sibling that takes the group over acknowledges it there
                    ticket.wake.acquire(timeout=wait_s)
                except BaseException:
                    cond.acquire()
                    ticket.abandoned = True
                    if self._gatherer is ticket:  # still the leader: hand the group on
                        self._gatherer = None
                        successor = self._pass_lead()
                        if successor is not None:
                            successor.wake.release()
                    raise
                cond.acquire()
                if self._gatherer is not ticket:
                    return  # taken over (done already, or the wait below sees it done)
                self._gatherer = None
            batch = self._take_batch()
        self._commit_and_release(batch)

    def _take_batch(self) -> list[Ticket]:
        """(Lock held, ``_committing`` ours.) The queued group to commit; notes whether a wait paid off."""
        batch, self._queue = self._queue, []
        if self._waited_at_size:
            joined = 1.0 if len(batch) > self._waited_at_size else 0.0
            self._wait_payoff = 0.75 * self._wait_payoff + 0.25 * joined
            self._waited_at_size = 0
        return batch

    def _sibling_wait(self) -> float:
        """Seconds the queued group should still wait for active siblings before committing (lock held).

        Without this, two threads appending in a loop alternate: each commit carries one entry and
        throughput is capped at one fsync per entry. A thread that appended within the last few
        milliseconds, overlapping another appender, is about to append again, so the group waits
        (at most ``commit_delay_s`` from its first ticket) until every such thread has queued.
        A lone appender never waits, nor do threads that only take turns (one worker's calls served
        on different threads), and when waits stop paying off (siblings arrive independently) the
        store stops waiting apart from occasional probes.
        """
        recent = self._recent_appenders
        if self.commit_delay_s <= 0 or not recent:
            return 0.0
        now = time.monotonic()
        if len(recent) > 64:  # forget threads that stopped appending
            for ident in [i for i, t in recent.items() if now - t >= _SIBLING_WINDOW_S]:
                del recent[ident]
        active = sum(1 for t in recent.values() if now - t < _SIBLING_WINDOW_S)
        if len(self._queue) >= active:
            return 0.0
        if not self._waited_at_size:
            # Waiting only pays when siblings append in lock-step. When recent waits went unjoined
            # (independent arrivals), skip waiting and only probe now and then.
            if self._wait_payoff < 0.5:
                self._declined_waits += 1
                if self._declined_waits % 16:
                    return 0.0
            self._waited_at_size = len(self._queue)
        return self._queue_since + self.commit_delay_s - now

    def _commit_and_release(self, batch: list[Ticket]) -> None:
        """Commit ``batch`` (this thread holds ``_committing``), hand the lead to the next group, then sync
        if a ticket asked for it (or a checkpoint must be sealed) and acknowledge the rest."""
        committed: Committed | None = None
        try:
            committed = self._writer.write_group(batch)
        finally:
            with self._cond:
                if committed is not None:
                    self.group_commits += 1
                successor = self._pass_lead()
                acknowledged = [t for t in batch if committed is None or t.error is not None or not t.sync]
                self._acknowledge(acknowledged)
            # Wake the next leader first: its commit releases the GIL while the others return.
            if successor is not None:
                successor.wake.release()
            for ticket in acknowledged:
                if not ticket.abandoned:
                    ticket.wake.release()
        if committed is None:
            return
        checkpoint = committed[2]
        if len(acknowledged) == len(batch):  # every ticket was acknowledged above
            if checkpoint is not None:
                self._writer.seal_later(checkpoint)  # the flusher syncs, then seals
            else:
                self._writer.acknowledged_unsynced()
            return
        error = self._writer.make_durable(checkpoint)
        with self._cond:
            synced = [t for t in batch if not t.done]
            for ticket in synced:
                ticket.error = error
            self._acknowledge(synced)
        for ticket in synced:
            if not ticket.abandoned:
                ticket.wake.release()

    def _acknowledge(self, tickets: list[Ticket]) -> None:
        """(Lock held.) Mark ``tickets`` done. A sibling's thread stays active from here on: it has not
        appended for a while only because it waited for this commit, and it is about to append again
        (it still has to win the GIL from the thread that committed, which may take milliseconds)."""
        now = time.monotonic()
        recent = self._recent_appenders
        for ticket in tickets:
            ticket.done = True
            if ticket.thread in recent:
                recent[ticket.thread] = now
