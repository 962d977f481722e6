"""How C++ operations meet asyncio: one Dispatcher per event loop (the C++ io thread batches
its wake-ups through an eventfd the loop watches; an awaited Operation resolves its asyncio Future
itself), cancellation that reaches C++, blocking waits that release the GIL and honour Ctrl-C,
and the background loop that runs Python providers for blocking callers."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from . import _core

if TYPE_CHECKING:
    import asyncio

OnItems = Callable[[List[Any]], None]

_dispatchers: "weakref.WeakKeyDictionary[Any, _core.Dispatcher]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def dispatcher_for(loop: "asyncio.AbstractEventLoop") -> "_core.Dispatcher":
    """The Dispatcher of `loop`, created on first use: the loop watches its eventfd, which the C++
    io thread writes to without taking the GIL (docs/decisions/python-bindings.md)."""
    d = _dispatchers.get(loop)
    if d is None:
        with _lock:
            d = _dispatchers.get(loop)
            if d is None:
                import asyncio

                d = _core.Dispatcher()
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is loop:
                    loop.add_reader(d.fd, d.drain)
                else:  # a loop of another thread (the providers' background loop)
                    loop.call_soon_threadsafe(loop.add_reader, d.fd, d.drain)
                weakref.finalize(loop, d.close)
                _dispatchers[loop] = d
    return d


# Seconds to wait for the C++ side to acknowledge a cancellation before re-raising it.
CANCEL_GRACE = 10.0


async def cancel_and_wait(op: "_core.Operation", loop: "asyncio.AbstractEventLoop") -> None:
    """Cancels `op` (its awaiting task was cancelled) and waits, bounded, for the C++ side to
    stop and its last delivery to run: that resolves a fresh Future (the first one was cancelled
    with the task)."""
    import asyncio

    op.cancel()
    # Not `op.done`: that turns true on the io thread before the loop has been handed the
    # operation's last events; the waiter is resolved after them (at once if that already ran).
    fut = loop.create_future()
    op.set_waiter(fut)
    await asyncio.wait([fut], timeout=CANCEL_GRACE)


def wait_operation(op: "_core.Operation", on_items: Optional[OnItems] = None) -> None:
    """Blocks until `op` is done, releasing the GIL while waiting. Ctrl-C (KeyboardInterrupt)
    cancels the C++ operation, waits for it to stop and re-raises."""
    try:
        while True:
            op.wait(0.1)
            items, done = op.take()
            if items and on_items is not None:
                on_items(items)
            if done:
                return
    except BaseException:
        op.cancel()
        while not op.done:
            op.wait(0.1)
        raise


_background: Optional["asyncio.AbstractEventLoop"] = None


def background_loop() -> "asyncio.AbstractEventLoop":
    """A daemon thread's event loop, for Python providers called by blocking (``*_sync``) APIs."""
    global _background
    if _background is None:
        with _lock:
            if _background is None:
                import asyncio

                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=main, name="chorus-providers", daemon=True).start()
                ready.wait()
                _background = loop
    return _background
