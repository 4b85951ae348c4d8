"""Sending off the request path: each job runs in a background task.

A route hands the outbox a job (issue a token, send its message) and answers
at once; the job runs with a database session of its own. A slow or dead
mail server therefore costs no request any time, and the change a request
made is committed before the job starts. A delivery that may pass later
(the server is down or restarting, it timed out, it answered 4xx) is tried
again twice, a few seconds apart; a permanent refusal (5xx, wrong
credentials, no STARTTLS, a TLS failure) is not. A job that still fails is logged on one
line (which job, for which user, why; never a token or a link) and dropped:
jobs live in memory, so the user asks again (a new verification, reset or
email change message) once the mail server is back. At shutdown the outbox
waits a little for the jobs still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.mail.backends import Backend, may_pass_later
from app.mail.messages import Message

log = logging.getLogger("app.mail")

Job = Callable[[], Awaitable[None]]

# Seconds that shutdown waits for running jobs before cancelling them.
SHUTDOWN_GRACE = 10
# Seconds before each new try of a delivery that may pass later: long enough
# for a mail server to restart, short enough to finish within a minute.
RETRY_DELAYS = (2.0, 10.0)


class Outbox:
    """Runs mail jobs in background tasks, and sends their messages."""

    def __init__(
        self, backend: Backend, *, retry_delays: tuple[float, ...] = RETRY_DELAYS
    ) -> None:
        self.backend = backend
        self.retry_delays = retry_delays
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, what: str, job: Job) -> None:
        """Run ``job`` in the background; ``what`` names it in the log (no secrets)."""
        task = asyncio.get_running_loop().create_task(self._run(what, job))
        # The loop keeps only a weak reference to a task: hold it until done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """How many jobs are running or waiting."""
        return len(self._tasks)

    async def send(self, message: Message) -> None:
        """Deliver ``message`` through the backend; call it from a job.

        A failure that may pass later is tried again after each of
        ``retry_delays``; the last failure, or a permanent one, is raised.
        """
        for delay in self.retry_delays:
            try:
                await self.backend.send(message)
            except Exception as error:
                if not may_pass_later(error):
                    raise
                log.warning(
                    "mail delivery failed, trying again in %g s: %s",
                    delay,
                    _reason(error),
                )
                await asyncio.sleep(delay)
            else:
                return
        await self.backend.send(message)

    async def drain(self) -> None:
        """Wait until every job submitted so far has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Wait up to ``SHUTDOWN_GRACE`` seconds for running jobs, then cancel them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            log.error("shutdown cancelled %d unsent mail job(s)", len(pending))
            await asyncio.wait(pending)

    async def _run(self, what: str, job: Job) -> None:
        try:
            await job()
        except Exception as error:
            log.error("mail job failed: %s: %s", what, _reason(error))


def _reason(error: Exception) -> str:
    """Return the error's type and first line.

    The exception's text comes from the server or the driver, never from the
    message, so it holds no token.
    """
    lines = str(error).splitlines()
    return f"{type(error).__name__} {lines[0] if lines else ''}".rstrip()
