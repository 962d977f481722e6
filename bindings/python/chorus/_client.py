"""chorus.Client: chat calls (plain and streamed) on the C++ providers."""

from __future__ import annotations

from collections import deque
from typing import (
    TYPE_CHECKING, Any, AsyncIterator, Deque, Dict, Iterator, List, Mapping, Optional, Sequence,
    Tuple, Union,
)

from . import _core
from ._errors import ChorusError, error_from_dict
from ._loop import background_loop, cancel_and_wait, dispatcher_for, wait_operation
from ._provider import Provider, _model_ids, _provider_id, run_call

if TYPE_CHECKING:
    import asyncio

MessageLike = Union["_core.Message", Tuple[str, str], Mapping[str, str]]


class StreamDelta:
    """A piece of a streamed answer: ``text`` to append (and ``reasoning`` for reasoning models)."""

    __slots__ = ("text", "reasoning")

    def __init__(self, text: str, reasoning: str = "") -> None:
        self.text = text
        self.reasoning = reasoning

    def __repr__(self) -> str:
        return f"StreamDelta(text={self.text!r})" if not self.reasoning else (
            f"StreamDelta(text={self.text!r}, reasoning={self.reasoning!r})")


def _raise_for(op: "_core.Operation") -> "_core.ChatResponse":
    response = op.response()
    err = op.error()
    if err is not None:
        exc = error_from_dict(err)
        exc.response = response
        raise exc
    assert response is not None
    return response


class Stream:
    """A streamed chat call: an async iterator of StreamDelta (use ``async with`` to make sure the
    call is cancelled when you stop early). After the iteration, ``response`` holds the whole
    ChatResponse (usage, cost, latency). A failure raises its ChorusError after the text that
    arrived before it."""

    def __init__(self, client: "Client", provider: str, request: "_core.ChatRequest") -> None:
        self._client = client
        self._provider = provider
        self._request: Optional[_core.ChatRequest] = request
        self._op: Optional[_core.Operation] = None
        self._items: Deque[StreamDelta] = deque()
        self._done = False
        self._fut: Optional["asyncio.Future[None]"] = None
        self.response: Optional[_core.ChatResponse] = None

    def _wake(self) -> None:
        assert self._op is not None
        items, done = self._op.take()
        for text, reasoning in items:
            self._items.append(StreamDelta(text, reasoning))
        if done:
            self._done = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _start(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        self._client._bind(loop)
        request, self._request = self._request, None
        assert request is not None
        self._op = self._client._core.complete(
            self._provider, request, True, dispatcher_for(loop), self._wake)

    def __aiter__(self) -> "Stream":
        return self

    async def __anext__(self) -> StreamDelta:
        import asyncio

        if self._op is None:
            self._start()
        while True:
            if self._items:
                return self._items.popleft()
            if self._done:
                if self.response is None:
                    assert self._op is not None
                    self.response = _raise_for(self._op)
                raise StopAsyncIteration
            self._fut = asyncio.get_running_loop().create_future()
            try:
                await self._fut
            except asyncio.CancelledError:
                self.cancel()
                raise

    async def __aenter__(self) -> "Stream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancels the call if it is still running."""
        self.cancel()

    def cancel(self) -> None:
        if self._op is not None and not self._done:
            self._op.cancel()

    async def text(self) -> str:
        """Consumes the stream and returns the whole answer."""
        parts = [d.text async for d in self]
        return "".join(parts)

    def __del__(self) -> None:
        op = getattr(self, "_op", None)
        if op is not None and not getattr(self, "_done", True):
            op.cancel()


class Client:
    """Calls LLM providers through the C++ core.

    Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY,
    DEEPSEEK_API_KEY, ...) unless given in ``api_keys``; base URLs from OPENAI_BASE_URL, ... unless
    given in ``base_urls`` (provider id -> URL). ``timeout`` (seconds) and ``max_retries`` apply to
    every built-in provider. Built-ins: openai, anthropic, gemini, deepseek, openai-compatible and
    simulated (in-process, no network)."""

    def __init__(
        self,
        *,
        api_keys: Optional[Mapping[str, str]] = None,
        base_urls: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
    ) -> None:
        self._core = _core.Client(dict(api_keys or {}), dict(base_urls or {}), timeout, max_retries)
        self._py_providers: Dict[str, Provider] = {}

    # -- providers

    @property
    def providers(self) -> List[str]:
        """Ids of every registered provider, sorted."""
        return list(self._core.provider_ids())

    def models(self, provider: str) -> List[Dict[str, Any]]:
        """Known models of a provider: id, prices per million tokens, context window."""
        return list(self._core.models(provider))

    def register_provider(self, provider: Provider) -> None:
        """Adds (or replaces) a Python provider under ``provider.id``; workflows and
        ``complete``/``stream`` can then use it like a built-in."""
        if not isinstance(provider, Provider):
            raise TypeError("register_provider: expected a chorus.Provider subclass instance")
        pid = _provider_id(provider)
        name = str(getattr(provider, "name", "") or pid)
        self._core.add_provider(provider, pid, name, _model_ids(provider), run_call)
        self._py_providers[pid] = provider

    def _bind(self, loop: "asyncio.AbstractEventLoop") -> None:
        if self._py_providers:
            self._core.bind_provider_loop(dispatcher_for(loop))

    def _bind_sync(self) -> None:
        if self._py_providers:
            self._core.bind_provider_loop(dispatcher_for(background_loop()))

    # -- chat

    @staticmethod
    def _request(
        model: str,
        prompt: Optional[str],
        *,
        system: Optional[str],
        messages: Optional[Sequence[MessageLike]],
        temperature: Optional[float],
        max_tokens: Optional[int],
        stop: Optional[Sequence[str]],
        json_mode: bool,
        timeout: Optional[float],
        api_key: Optional[str],
        extra: Optional[Mapping[str, Any]],
    ) -> "_core.ChatRequest":
        msgs: List[Any] = list(messages or [])
        if prompt is not None:
            msgs.append(("user", prompt))
        if not msgs:
            raise ValueError("prompt: give a prompt or messages")
        return _core.ChatRequest(
            model, msgs, system_prompt=system or "", temperature=temperature,
            max_tokens=max_tokens, stop=list(stop or []), json_mode=json_mode, timeout=timeout,
            api_key=api_key or "", extra=dict(extra) if extra is not None else None)

    async def complete(
        self,
        provider: str,
        model: str,
        prompt: Optional[str] = None,
        *,
        system: Optional[str] = None,
        messages: Optional[Sequence[MessageLike]] = None,
        temperature: Optional[float] = None,
        max_tokens: Optional[int] = None,
        stop: Optional[Sequence[str]] = None,
        json_mode: bool = False,
        timeout: Optional[float] = None,
        api_key: Optional[str] = None,
        extra: Optional[Mapping[str, Any]] = None,
    ) -> "_core.ChatResponse":
        """One chat completion. ``prompt`` is appended as the last user message after
        ``messages``. Raises a ChorusError subclass on failure (``e.response`` has any partial
        text); cancelling the awaiting task cancels the HTTP call."""
        import asyncio

        req = self._request(model, prompt, system=system, messages=messages,
                            temperature=temperature, max_tokens=max_tokens, stop=stop,
                            json_mode=json_mode, timeout=timeout, api_key=api_key, extra=extra)
        loop = asyncio.get_running_loop()
        self._bind(loop)
        fut = loop.create_future()  # resolved from C++ when the call is done
        op = self._core.complete(provider, req, False, dispatcher_for(loop), None, fut)
        try:
            await fut
        except asyncio.CancelledError:
            await cancel_and_wait(op, loop)
            raise
        return _raise_for(op)

    def complete_sync(self, provider: str, model: str, prompt: Optional[str] = None,
                      **kwargs: Any) -> "_core.ChatResponse":
        """Blocking twin of ``complete`` (releases the GIL while waiting; Ctrl-C cancels)."""
        req = self._request(model, prompt, **_request_kwargs(kwargs))
        self._bind_sync()
        op = self._core.complete(provider, req, False, None, None)
        wait_operation(op)
        return _raise_for(op)

    def stream(
        self,
        provider: str,
        model: str,
        prompt: Optional[str] = None,
        *,
        system: Optional[str] = None,
        messages: Optional[Sequence[MessageLike]] = None,
        temperature: Optional[float] = None,
        max_tokens: Optional[int] = None,
        stop: Optional[Sequence[str]] = None,
        json_mode: bool = False,
        timeout: Optional[float] = None,
        api_key: Optional[str] = None,
        extra: Optional[Mapping[str, Any]] = None,
    ) -> Stream:
        """A streamed chat completion: ``async for delta in client.stream(...)``."""
        req = self._request(model, prompt, system=system, messages=messages,
                            temperature=temperature, max_tokens=max_tokens, stop=stop,
                            json_mode=json_mode, timeout=timeout, api_key=api_key, extra=extra)
        return Stream(self, provider, req)

    def stream_sync(self, provider: str, model: str, prompt: Optional[str] = None,
                    **kwargs: Any) -> Iterator[StreamDelta]:
        """Blocking twin of ``stream``: a generator of StreamDelta. Closing it early (or Ctrl-C)
        cancels the call."""
        req = self._request(model, prompt, **_request_kwargs(kwargs))
        self._bind_sync()
        op = self._core.complete(provider, req, True, None, None)
        try:
            while True:
                op.wait(0.1)
                items, done = op.take()
                for text, reasoning in items:
                    yield StreamDelta(text, reasoning)
                if done:
                    break
        except BaseException:
            op.cancel()
            while not op.done:
                op.wait(0.1)
            raise
        _raise_for(op)


_REQUEST_KEYS = ("system", "messages", "temperature", "max_tokens", "stop", "json_mode",
                 "timeout", "api_key", "extra")


def _request_kwargs(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    unknown = set(kwargs) - set(_REQUEST_KEYS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    out: Dict[str, Any] = {k: None for k in _REQUEST_KEYS}
    out["json_mode"] = False
    out.update(kwargs)
    return out


_default: Optional[Client] = None


def default_client() -> Client:
    """The client used by ``chorus.run`` and friends when none is given."""
    global _default
    if _default is None:
        _default = Client()
    return _default


def set_default_client(client: Client) -> None:
    global _default
    _default = client


__all__ = ["Client", "Stream", "StreamDelta", "default_client", "set_default_client",
           "ChorusError"]
