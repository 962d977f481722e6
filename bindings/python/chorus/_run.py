"""Running workflows: chorus.run / run_sync / run_stream and the typed results and events, whose
to_dict() / to_json() are exactly the C++ library's JSON (RunResult::to_json, RunEvent::to_json)."""

from __future__ import annotations

from collections import deque
from typing import (
    TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Tuple, Union,
)

from . import _core
from ._client import Client, default_client
from ._errors import ChorusError, WorkflowValidationError, error_from_dict
from ._loop import cancel_and_wait, dispatcher_for, wait_operation
from ._workflow import Workflow

if TYPE_CHECKING:
    import asyncio


def _usage(d: Optional[Mapping[str, Any]]) -> "_core.Usage":
    d = d or {}
    return _core.Usage(
        prompt_tokens=int(d.get("promptTokens", 0)),
        completion_tokens=int(d.get("completionTokens", 0)),
        total_tokens=int(d.get("totalTokens", 0)),
        cached_prompt_tokens=int(d.get("cachedPromptTokens", 0)),
        reasoning_tokens=int(d.get("reasoningTokens", 0)),
        estimated=bool(d.get("estimated", False)),
    )


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


class _JsonView:
    """A typed view over one object of the C++ JSON, which it keeps as is."""

    __slots__ = ("_data",)

    def __init__(self, data: Dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> Dict[str, Any]:
        """The C++ JSON of this object (a deep copy)."""
        return _copy(self._data)  # type: ignore[no-any-return]

    def to_json(self, pretty: bool = False) -> str:
        """Serialised exactly as the C++ library serialises it."""
        return str(_core.dumps(self._data, pretty))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]


class NodeResult(_JsonView):
    """The outcome of one node (all its runs summed)."""

    __slots__ = ()

    @property
    def status(self) -> str:
        """"succeeded", "failed", "skipped" or "cancelled"."""
        return str(self._data["status"])

    @property
    def output(self) -> str:
        return str(self._data.get("output", ""))

    @property
    def usage(self) -> "_core.Usage":
        return _usage(self._data.get("usage"))

    @property
    def cost(self) -> Optional[float]:
        """USD; None when a model's price is unknown."""
        c = self._data.get("cost")
        return None if c is None else float(c)

    @property
    def latency_ms(self) -> float:
        return float(self._data.get("latencyMs", 0.0))

    @property
    def attempts(self) -> int:
        return int(self._data.get("attempts", 0))

    @property
    def iterations(self) -> int:
        return int(self._data.get("iterations", 0))

    @property
    def provider(self) -> str:
        return str(self._data.get("provider", ""))

    @property
    def model(self) -> str:
        return str(self._data.get("model", ""))

    @property
    def error(self) -> Optional[ChorusError]:
        e = self._data.get("error")
        return None if e is None else error_from_dict(e)

    def __repr__(self) -> str:
        return f"NodeResult(status={self.status!r}, output={self.output[:40]!r})"


class RunResult(_JsonView):
    """The outcome of a run: always complete, whatever the status.

    A result returned by run() keeps the C++ result and converts it to Python objects on first
    use of anything but ``status``, ``output`` and ``run_id`` (a per-run cost otherwise paid
    whether or not the nodes are looked at)."""

    __slots__ = ("_op",)

    def __init__(self, data: Optional[Dict[str, Any]] = None,
                 op: Optional["_core.Operation"] = None) -> None:
        if data is not None:
            self._data = data
        self._op = op

    def __getattr__(self, name: str) -> Any:
        # Only reached while the `_data` slot is unset: convert the C++ result once.
        op = self._op if name == "_data" else None
        if op is None:
            raise AttributeError(name)
        data = op.run_result()
        self._data = data if data is not None else {"status": "failed"}
        self._op = None
        return self._data

    def __reduce__(self) -> Any:  # copy, deepcopy and pickle carry the converted JSON
        return (RunResult, (self._data,))

    def _field(self, name: str) -> str:
        op = self._op
        if op is not None:
            v = op.run_field(name)
            if v is not None:
                return str(v)
        return str(self._data.get(name, ""))

    @property
    def status(self) -> str:
        """"succeeded", "failed", "cancelled" or "budget_exceeded"."""
        return self._field("status")

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def run_id(self) -> str:
        return self._field("runId")

    @property
    def output(self) -> str:
        return self._field("output")

    @property
    def nodes(self) -> Dict[str, NodeResult]:
        return {k: NodeResult(v) for k, v in (self._data.get("nodes") or {}).items()}

    @property
    def usage(self) -> "_core.Usage":
        return _usage(self._data.get("usage"))

    @property
    def cost(self) -> Optional[float]:
        c = self._data.get("cost")
        return None if c is None else float(c)

    @property
    def wall_time_ms(self) -> float:
        return float(self._data.get("wallTimeMs", 0.0))

    @property
    def error(self) -> Optional[ChorusError]:
        e = self._data.get("error")
        return None if e is None else error_from_dict(e)

    def __repr__(self) -> str:
        return f"RunResult(status={self.status!r}, output={self.output[:40]!r}, cost={self.cost})"


class RunEvent(_JsonView):
    """One event of a run (see docs/events.md): ``type`` is run_started, node_started, token,
    node_retry, node_finished, node_failed, node_skipped or run_finished."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return str(self._data["type"])

    @property
    def run_id(self) -> str:
        return str(self._data.get("runId", ""))

    @property
    def seq(self) -> int:
        return int(self._data.get("seq", 0))

    @property
    def time_ms(self) -> float:
        return float(self._data.get("timeMs", 0.0))

    @property
    def node_id(self) -> str:
        return str(self._data.get("nodeId", ""))

    @property
    def node_type(self) -> str:
        return str(self._data.get("nodeType", ""))

    @property
    def text(self) -> str:
        """token events: the streamed text."""
        return str(self._data.get("text", ""))

    @property
    def attempt(self) -> int:
        return int(self._data.get("attempt", 0))

    @property
    def iteration(self) -> int:
        return int(self._data.get("iteration", 0))

    @property
    def item(self) -> Optional[int]:
        i = self._data.get("item")
        return None if i is None else int(i)

    @property
    def provider(self) -> str:
        return str(self._data.get("provider", ""))

    @property
    def model(self) -> str:
        return str(self._data.get("model", ""))

    @property
    def delay_ms(self) -> int:
        return int(self._data.get("delayMs", 0))

    @property
    def status(self) -> str:
        return str(self._data.get("status", ""))

    @property
    def error(self) -> Optional[ChorusError]:
        e = self._data.get("error")
        return None if e is None else error_from_dict(e)

    @property
    def result(self) -> Union[NodeResult, RunResult, None]:
        """node_finished / node_failed / node_skipped: the NodeResult; run_finished: the RunResult."""
        r = self._data.get("result")
        if r is None:
            return None
        return RunResult(r) if self.type == "run_finished" else NodeResult(r)

    def __repr__(self) -> str:
        extra = f", node_id={self.node_id!r}" if self.node_id else ""
        if self.type == "token":
            extra += f", text={self.text!r}"
        return f"RunEvent(type={self.type!r}, seq={self.seq}{extra})"


EventCallback = Callable[[RunEvent], Any]
WorkflowLike = Union[Workflow, str, Mapping[str, Any]]


def _workflow(wf: WorkflowLike) -> Workflow:
    if isinstance(wf, Workflow):
        return wf
    if isinstance(wf, str):
        return Workflow.load(wf) if not wf.lstrip().startswith("{") else Workflow.from_json(wf)
    return Workflow.from_dict(wf)


def _options(events: bool, stream_tokens: bool, max_cost_usd: Optional[float],
             max_tokens: Optional[int], max_concurrency: Optional[int],
             provider_concurrency: Optional[Mapping[str, int]],
             api_keys: Optional[Mapping[str, str]], run_id: Optional[str]) -> Dict[str, Any]:
    return {
        "events": events, "stream_tokens": stream_tokens, "max_cost_usd": max_cost_usd,
        "max_tokens": max_tokens, "max_concurrency": max_concurrency,
        "provider_concurrency": dict(provider_concurrency) if provider_concurrency else None,
        "api_keys": dict(api_keys) if api_keys else None, "run_id": run_id,
    }


def _finish(op: "_core.Operation", wf: Workflow, client: Client, raise_on_failure: bool) -> RunResult:
    result = RunResult(None, op)
    err = op.error()
    if err is not None and raise_on_failure:
        exc = error_from_dict(err)
        if isinstance(exc, WorkflowValidationError):
            exc.problems = wf.validate(client)
        exc.result = result
        raise exc
    return result


async def run(
    workflow: WorkflowLike,
    input: str = "",
    *,
    client: Optional[Client] = None,
    events: Optional[EventCallback] = None,
    stream_tokens: bool = True,
    max_cost_usd: Optional[float] = None,
    max_tokens: Optional[int] = None,
    max_concurrency: Optional[int] = None,
    provider_concurrency: Optional[Mapping[str, int]] = None,
    api_keys: Optional[Mapping[str, str]] = None,
    run_id: Optional[str] = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Runs a workflow (a Workflow, a path, JSON text or a dict) on ``input``.

    ``events`` is called on the event loop with each RunEvent, in order (token events only with
    ``stream_tokens``). Budgets (``max_cost_usd``, ``max_tokens``) stop the run before a call that
    could exceed them. When the run does not succeed, raises the ChorusError of its kind
    (NodeFailedError, BudgetExceededError, WorkflowValidationError with ``problems``, ...) with the
    complete RunResult in ``e.result``; pass ``raise_on_failure=False`` to get it returned.
    Cancelling the awaiting task (or Ctrl-C under asyncio.run) cancels the run in C++."""
    import asyncio

    wf = _workflow(workflow)
    c = client or default_client()
    loop = asyncio.get_running_loop()
    c._bind(loop)
    # One Future per run, resolved from C++ when the run is done; no closure, no options dict
    # and no event objects are kept while it is in flight unless `events` is given
    # (docs/decisions/binding-memory.md).
    fut = loop.create_future()
    failure: Optional[List[BaseException]] = None
    if events is None:
        op = c._core.run(wf._handle, input,
                         _options(False, stream_tokens, max_cost_usd, max_tokens, max_concurrency,
                                  provider_concurrency, api_keys, run_id),
                         dispatcher_for(loop), None, fut)
    else:
        op, failure = _start_with_events(
            c, wf, input, loop, fut, events,
            _options(True, stream_tokens, max_cost_usd, max_tokens, max_concurrency,
                     provider_concurrency, api_keys, run_id))
    try:
        await fut
    except asyncio.CancelledError:
        await cancel_and_wait(op, loop)
        raise
    if failure:
        raise failure[0]
    return _finish(op, wf, c, raise_on_failure)


def _start_with_events(c: Client, wf: Workflow, input: str, loop: "asyncio.AbstractEventLoop",
                       fut: "asyncio.Future[None]", events: EventCallback,
                       opts: Dict[str, Any]) -> "Tuple[_core.Operation, List[BaseException]]":
    """Starts a run whose events go to `events` on the loop; returns it with the list that
    receives what the callback raised (the run is then cancelled and run() re-raises it)."""
    failure: List[BaseException] = []
    state: List[Any] = [None]
    cb = events

    def wake() -> None:
        items, _ = state[0].take()
        if failure:
            return
        for item in items:
            try:
                cb(RunEvent(item))
            except BaseException as e:  # stop the run, re-raise after it stopped
                failure.append(e)
                state[0].cancel()
                return

    op = c._core.run(wf._handle, input, opts, dispatcher_for(loop), wake, fut)
    state[0] = op
    return op, failure


def run_sync(
    workflow: WorkflowLike,
    input: str = "",
    *,
    client: Optional[Client] = None,
    events: Optional[EventCallback] = None,
    stream_tokens: bool = True,
    max_cost_usd: Optional[float] = None,
    max_tokens: Optional[int] = None,
    max_concurrency: Optional[int] = None,
    provider_concurrency: Optional[Mapping[str, int]] = None,
    api_keys: Optional[Mapping[str, str]] = None,
    run_id: Optional[str] = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Blocking twin of ``run`` for scripts and notebooks: waits with the GIL released; events
    are delivered on the calling thread; Ctrl-C cancels the run and re-raises."""
    wf = _workflow(workflow)
    c = client or default_client()
    c._bind_sync()
    opts = _options(events is not None, stream_tokens, max_cost_usd, max_tokens, max_concurrency,
                    provider_concurrency, api_keys, run_id)
    op = c._core.run(wf._handle, input, opts, None, None)
    on_items = None
    if events is not None:
        cb = events

        def on_items(items: List[Any]) -> None:
            for item in items:
                cb(RunEvent(item))

    wait_operation(op, on_items)
    return _finish(op, wf, c, raise_on_failure)


class RunStream:
    """``async for event in chorus.run_stream(wf, input)``: the run's events as they happen. After
    the iteration ``result`` holds the RunResult; a run that did not succeed raises its ChorusError
    at the end (after its run_finished event) unless ``raise_on_failure=False``. Leaving early
    (``async with``, or ``aclose()``) cancels the run."""

    def __init__(self, wf: Workflow, input: str, client: Client, opts: Dict[str, Any],
                 raise_on_failure: bool) -> None:
        self._wf = wf
        self._input = input
        self._client = client
        self._opts = opts
        self._raise = raise_on_failure
        self._op: Optional[_core.Operation] = None
        self._items: Deque[RunEvent] = deque()
        self._done = False
        self._fut: Optional["asyncio.Future[None]"] = None
        self.result: Optional[RunResult] = None

    def _wake(self) -> None:
        assert self._op is not None
        items, done = self._op.take()
        self._items.extend(RunEvent(i) for i in items)
        if done:
            self._done = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def __aiter__(self) -> "RunStream":
        return self

    async def __anext__(self) -> RunEvent:
        import asyncio

        if self._op is None:
            loop = asyncio.get_running_loop()
            self._client._bind(loop)
            self._op = self._client._core.run(
                self._wf._handle, self._input, self._opts, dispatcher_for(loop), self._wake)
        while True:
            if self._items:
                return self._items.popleft()
            if self._done:
                if self.result is None:
                    self.result = _finish(self._op, self._wf, self._client, False)
                    if self._raise:
                        _finish(self._op, self._wf, self._client, True)
                raise StopAsyncIteration
            self._fut = asyncio.get_running_loop().create_future()
            try:
                await self._fut
            except asyncio.CancelledError:
                self.cancel()
                raise

    def cancel(self) -> None:
        if self._op is not None and not self._done:
            self._op.cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> "RunStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()

    def __del__(self) -> None:
        op = getattr(self, "_op", None)
        if op is not None and not getattr(self, "_done", True):
            op.cancel()


def run_stream(
    workflow: WorkflowLike,
    input: str = "",
    *,
    client: Optional[Client] = None,
    stream_tokens: bool = True,
    max_cost_usd: Optional[float] = None,
    max_tokens: Optional[int] = None,
    max_concurrency: Optional[int] = None,
    provider_concurrency: Optional[Mapping[str, int]] = None,
    api_keys: Optional[Mapping[str, str]] = None,
    run_id: Optional[str] = None,
    raise_on_failure: bool = True,
) -> RunStream:
    """The events of a run as an async iterator (see RunStream)."""
    wf = _workflow(workflow)
    opts = _options(True, stream_tokens, max_cost_usd, max_tokens, max_concurrency,
                    provider_concurrency, api_keys, run_id)
    return RunStream(wf, input, client or default_client(), opts, raise_on_failure)
