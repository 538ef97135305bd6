"""Stopping the long-running commands: SIGTERM and SIGHUP as Ctrl-C, for the parent that stops its children."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stop_signal: list[str] = []  # the name of the stop signal received inside `stop_on_signals`, if any


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (`timeout`, systemd, a container stop) and SIGHUP (a closed terminal) stop like Ctrl-C: the first
    of them raises KeyboardInterrupt, so the parent's cleanup stops every child; later ones are ignored while it
    does.

    The handler runs wherever the main thread is; inside a finaliser (a weak reference's callback, `__del__`)
    Python prints its exception and goes on, so the signal is also remembered: `raise_if_stopping` in each
    waiting loop raises it again."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        _stop_signal.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(_stop_signal[0])

    _stop_signal.clear()
    previous = {each: signal.signal(each, stop) for each in STOP_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
        _stop_signal.clear()


def raise_if_stopping() -> None:
    """Raise KeyboardInterrupt when a stop signal came (see `stop_on_signals`); for loops that wait."""
    if _stop_signal:
        raise KeyboardInterrupt(_stop_signal[0])
