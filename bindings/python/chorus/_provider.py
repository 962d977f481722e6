"""Custom providers written in Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, ClassVar, List, Sequence, Union

from . import _core
from ._errors import ChorusError

if TYPE_CHECKING:
    from ._client import StreamDelta

ChatRequest = _core.ChatRequest
ChatResponse = _core.ChatResponse


class Provider:
    """Base class of LLM providers written in Python.

    Subclass it, set ``id`` (the id workflows use in ``data.provider``), optionally ``name`` and
    ``models``, and implement ``async complete(request)`` returning a ``chorus.ChatResponse`` or a
    ``str``. Override ``async stream(request)`` (an async generator of ``str`` pieces, optionally
    ending with a ``ChatResponse`` carrying usage/cost) to stream; the default streams the
    answer of ``complete`` in one piece. Register it with ``Client.register_provider``.

    Calls run as tasks on the event loop of the caller (``run``/``complete``); blocking callers
    (``run_sync``) use a background loop. Raising a ``chorus.ChorusError`` subclass reports that
    kind (e.g. ``RateLimitError(retry_after=2)`` is retried by workflow nodes); any other exception
    is reported as a ``server`` error naming the exception. Usage is estimated when not given.
    """

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    models: ClassVar[Sequence[str]] = ()

    async def complete(self, request: "_core.ChatRequest") -> Union["_core.ChatResponse", str]:
        raise NotImplementedError(f"{type(self).__name__}.complete")

    async def stream(
        self, request: "_core.ChatRequest"
    ) -> AsyncIterator[Union[str, "StreamDelta", "_core.ChatResponse"]]:
        result = await self.complete(request)
        if isinstance(result, str):
            yield result
        else:
            if result.content:
                yield result.content
            yield result


def _provider_id(provider: Provider) -> str:
    pid = getattr(provider, "id", "")
    if not isinstance(pid, str) or not pid:
        raise ValueError(f"{type(provider).__name__}.id: must be a non-empty string")
    return pid


def _model_ids(provider: Provider) -> List[str]:
    models = getattr(provider, "models", ()) or ()
    return [str(m) for m in models]


def run_call(provider: Provider, call: "_core.ProviderCall") -> None:
    """Called by C++ on the provider's loop for each call: starts the coroutine as a task."""
    import asyncio

    task = asyncio.get_running_loop().create_task(_drive(provider, call))
    call.set_cancel_callback(task.cancel)


async def _drive(provider: Provider, call: "_core.ProviderCall") -> None:
    import asyncio

    request = call.request
    try:
        if call.streaming:
            final: Any = None
            async for piece in provider.stream(request):
                if isinstance(piece, str):
                    call.delta(piece)
                elif isinstance(piece, _core.ChatResponse):
                    final = piece
                elif hasattr(piece, "text"):
                    call.delta(piece.text, getattr(piece, "reasoning", "") or "")
                else:
                    raise TypeError(f"stream() yielded {type(piece).__name__}, expected str")
            call.finish(final if final is not None else _core.ChatResponse(""))
        else:
            result = await provider.complete(request)
            if isinstance(result, str):
                result = _core.ChatResponse(result)
            elif not isinstance(result, _core.ChatResponse):
                raise TypeError(
                    f"complete() returned {type(result).__name__}, expected str or chorus.ChatResponse"
                )
            call.finish(result)
    except asyncio.CancelledError:
        call.fail("cancelled", "the Python provider call was cancelled")
    except ChorusError as e:
        call.fail(e.kind, e.message, e.status, e.retry_after, e.request_id, e.vendor_code)
    except Exception as e:  # reported to the run, never lost
        call.fail("server", f"{type(e).__name__}: {e}")
