"""The processes of a session started with ``start_new_session``: list them, wait for them to go.

A server started in its own session (``dagster dev`` and its daemon, webserver, code servers and
run workers) can be checked for survivors by session id, whatever reparenting happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.2


def stop_session(
    leader: subprocess.Popen[bytes], timeout: float, sig: int = signal.SIGTERM
) -> dict[int, str]:
    """Signal the session ``leader`` started, wait up to ``timeout``, SIGKILL what is left;
    return what outlived the signal.

    A process that joins the session after the first signal (a daemon may still start a code
    server while it shuts down) gets its own, as an operator's ``kill`` of what is left would.
    """
    sid = leader.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, sig)
    deadline = time.monotonic() + timeout
    signalled: set[int] = set()
    while (members := session_members(sid)) and time.monotonic() < deadline:
        for pid in members.keys() - signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            signalled.add(pid)
        time.sleep(POLL_SECONDS)
    survivors = session_members(sid)
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=5)
    wait_for_session_exit(sid, 5)
    return survivors


def wait_for_session_exit(sid: int, timeout: float) -> dict[int, str]:
    """Wait until no process of session ``sid`` is left; return those still there at timeout."""
    deadline = time.monotonic() + timeout
    while (members := session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


def session_members(sid: int) -> dict[int, str]:
    """Processes whose session id is ``sid`` (``start_new_session`` made the server a leader)."""
    members: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state not in "ZX":  # zombies and the dead run nothing
            members[int(entry.name)] = f"[{state}] {cmdline.strip()[:200]}"
    return members


@contextlib.contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """Let children start with SIGINT at its default, even when we run in the background.

    ``dagster dev`` maps SIGTERM to whatever SIGINT does. A shell's background job (``make test
    &``) ignores SIGINT, children inherit that through exec, and SIGTERM would then be ignored
    too. A Python-level handler is reset to the default at exec; "ignore" is not.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
