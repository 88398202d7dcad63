"""A stuck test ends the run with a diagnosis instead of holding CI until its time limit.

When one phase of a test (setup, call or teardown) outlasts `TOLLWAY_TEST_STUCK_SECONDS`
(default 120), the stack of every asyncio task of the running event loop and of every thread
is written to stderr and the process exits: under xdist the controller reports the test as
failed with the worker's crash, and the run goes on.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

STUCK_SECONDS = float(os.environ.get("TOLLWAY_TEST_STUCK_SECONDS", "120"))


class _Phase:
    """The phase running now, and since when (read by the watching thread)."""

    what = ""
    since = 0.0
    capture: Any = None
    """pytest's capture manager: suspended so that the diagnosis reaches the real stderr."""


def _running_loops() -> list[asyncio.AbstractEventLoop]:
    gc.unfreeze()  # the enforcement runtime freezes what exists at its start, loops included
    return [
        o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()
    ]


def _awaiting(awaitable: object) -> Iterator[str]:
    """Where a coroutine and everything it awaits stand, outermost first (a task's own
    stack shows only its outermost frame)."""
    while awaitable is not None:
        frame = next(
            (
                getattr(awaitable, a)
                for a in ("cr_frame", "gi_frame", "ag_frame")
                if hasattr(awaitable, a)
            ),
            None,
        )
        if frame is None:
            yield repr(awaitable)[:200]
            return
        yield f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        awaitable = next(
            (
                getattr(awaitable, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if hasattr(awaitable, a)
            ),
            None,
        )


def _diagnose_and_exit(what: str) -> None:
    if _Phase.capture is not None:
        _Phase.capture.suspend_global_capture(in_=False)
    out = sys.stderr
    out.write(f"\n*** {what} has run for over {STUCK_SECONDS:.0f} s: asyncio tasks follow\n")
    for loop in _running_loops():
        for task in list(asyncio.all_tasks(loop)):
            out.write(f"--- {task.get_name()}\n")
            for where in _awaiting(task.get_coro()):
                out.write(f"    {where}\n")
    out.write("*** threads:\n")
    out.flush()
    faulthandler.dump_traceback(out)
    os._exit(3)


def _watch() -> None:
    while True:
        time.sleep(1)
        what = _Phase.what
        if what and time.monotonic() - _Phase.since > STUCK_SECONDS:
            _diagnose_and_exit(what)


def pytest_configure(config: pytest.Config) -> None:
    _Phase.capture = config.pluginmanager.getplugin("capturemanager")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _Phase.what = item.nodeid
    _Phase.since = time.monotonic()
    try:
        return (yield)
    finally:
        _Phase.what = ""


def _phase(name: str, item: pytest.Item) -> None:
    _Phase.what = f"{name} of {item.nodeid}"
    _Phase.since = time.monotonic()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _phase("setup", item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _phase("call", item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _phase("teardown", item)


threading.Thread(target=_watch, name="tollway-test-watchdog", daemon=True).start()
