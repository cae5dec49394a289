"""Work a request hands off so that neither its answer nor its timing waits on it: one worker thread per process.

Jobs run one at a time, in the order they came, each in an app context of its own (so a database
session of its own). The queue is bounded: past it a job is refused and the caller says what that
means. A job that fails is logged by its exception's type only (messages can carry SQL parameters or
addresses). Jobs still queued when the process exits are lost, as a mail thread's would be.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)
CAPACITY = 1000  # jobs waiting in one process; each client address is throttled well below this
# A job starts this long after it was queued, so that the request which queued it has sent its answer
# before the job's own work (a signature holds the GIL) could slow that answer down.
START_DELAY_SECONDS = 0.05

_Job = tuple[Flask, Callable[[], None], float]


class BackgroundWork:
    """A FIFO of jobs and the daemon thread that runs them, started on first use in each process."""

    def __init__(self, name: str, capacity: int = CAPACITY):
        self._name, self._capacity = name, capacity
        self._lock = threading.Lock()
        self._jobs: queue.Queue[_Job] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, app: Flask, job: Callable[[], None]) -> bool:
        """Queue ``job`` to run in ``app``'s context; False when the queue is full."""
        jobs = self._running_queue()
        try:
            jobs.put_nowait((app, job, time.monotonic() + START_DELAY_SECONDS))
        except queue.Full:
            return False
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Until every queued job has run; whether that happened within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._jobs.all_tasks_done:
            while self._jobs.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._jobs.all_tasks_done.wait(remaining)
        return True

    def _running_queue(self) -> queue.Queue[_Job]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked worker: threads do not cross a fork
                self._pid, self._jobs = os.getpid(), queue.Queue(self._capacity)
                self._thread = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, args=(self._jobs,), name=self._name, daemon=True)
                self._thread.start()
            return self._jobs

    @staticmethod
    def _run(jobs: queue.Queue[_Job]) -> None:
        while True:
            app, job, start_at = jobs.get()
            time.sleep(max(0.0, start_at - time.monotonic()))
            try:
                with app.app_context():
                    job()
            except Exception as error:  # the worker must outlive any one job
                log.error("background job failed: %s", type(error).__name__)
            finally:
                jobs.task_done()


_WORK = BackgroundWork("medusa_auth.background")


def run_in_background(job: Callable[[], None]) -> bool:
    """Run ``job`` after this request, in the current app's context; False if this process's queue is full."""
    return _WORK.submit(current_app._get_current_object(), job)  # type: ignore[attr-defined]


def wait_idle(timeout: float = 10.0) -> bool:
    """Until this process's queued background jobs have all run (tests; an orderly shutdown)."""
    return _WORK.wait_idle(timeout)
