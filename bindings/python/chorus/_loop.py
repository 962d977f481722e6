"""How C++ operations meet asyncio: one Dispatcher per event loop (the C++ io thread batches
its wake-ups through loop.call_soon_threadsafe), awaiting an Operation with cancellation that
reaches C++, blocking waits that release the GIL and honour Ctrl-C, and the background loop that
runs Python providers for blocking callers."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from . import _core

if TYPE_CHECKING:
    import asyncio

OnItems = Callable[[List[Any]], None]
Starter = Callable[["_core.Dispatcher | None", Callable[[], None]], "_core.Operation"]

_dispatchers: "weakref.WeakKeyDictionary[Any, _core.Dispatcher]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def dispatcher_for(loop: "asyncio.AbstractEventLoop") -> "_core.Dispatcher":
    """The Dispatcher of `loop`, created on first use."""
    d = _dispatchers.get(loop)
    if d is None:
        with _lock:
            d = _dispatchers.get(loop)
            if d is None:
                d = _core.Dispatcher(loop)
                _dispatchers[loop] = d
    return d


# Seconds to wait for the C++ side to acknowledge a cancellation before re-raising it.
CANCEL_GRACE = 10.0


async def await_operation(start: Starter, on_items: Optional[OnItems] = None) -> "_core.Operation":
    """Starts an operation bound to the running loop and waits until it is done. Items (stream
    deltas, run events) go to `on_items` as they arrive, in batches. Cancelling the awaiting task
    cancels the C++ operation, waits (bounded) for it to stop, then re-raises."""
    import asyncio

    loop = asyncio.get_running_loop()
    state: List[Any] = [loop.create_future(), None]  # [future to resolve, operation]

    def wake() -> None:
        items, done = state[1].take()
        if items and on_items is not None:
            on_items(items)
        if done:
            fut = state[0]
            if not fut.done():
                fut.set_result(None)

    op = start(dispatcher_for(loop), wake)
    state[1] = op
    try:
        await state[0]
    except asyncio.CancelledError:
        op.cancel()
        if not op.done:
            state[0] = loop.create_future()
            await asyncio.wait([state[0]], timeout=CANCEL_GRACE)
        raise
    return op


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
