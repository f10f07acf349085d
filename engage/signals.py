"""Ctrl-C and SIGTERM as a request to stop at the next safe point, not an exception at an arbitrary one.

Python raises KeyboardInterrupt wherever the main thread is when the signal's handler runs. Inside a
finaliser or a weakref callback (SQLAlchemy's identity map has them) that exception is printed as
"ignored" and lost, and the work goes on to the end as if nobody had asked. A handler that only
records the request cannot be lost; the long-running loop checks it between frames.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


@contextlib.contextmanager
def stop_requested_by_signals(request_stop: Callable[[str], None]) -> Iterator[None]:
    """Call ``request_stop(name)`` on the first SIGINT or SIGTERM; a second one raises KeyboardInterrupt.

    The second signal is the way out of a loop that is stuck (a stalled stream, say) and never checks.
    Must be entered from the main thread, where Python runs signal handlers.
    """
    requested = False

    def handler(signum: int, frame: object) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        request_stop(SIGNAL_NAMES.get(signum, f"signal {signum}"))

    previous = {sig: signal.signal(sig, handler) for sig in SIGNAL_NAMES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
