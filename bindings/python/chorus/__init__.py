"""Chorus: multi-agent LLM orchestration with a C++ core, asyncio-native.

    import chorus, asyncio
    client = chorus.Client()
    resp = await client.complete("openai", "gpt-4o-mini", "Hello")
    result = await chorus.run(chorus.Workflow.load("critique.json"), "input text")

See docs/python.md for the guide. Nothing heavy is imported here: asyncio and json are imported
when first needed, and the C++ io thread starts with the first call.
"""

from ._core import ChatRequest, ChatResponse, Message, Problem, Usage, __version__
from ._errors import (
    AuthError, BadRequestError, BudgetExceededError, CancelledError, ChorusError,
    ConnectError, ConnectionClosedError, ContentFilterError, ContextLengthError,
    InvalidArgumentError, NodeFailedError, NotFoundError, OverloadedError, ProtocolError,
    QuotaExceededError, RateLimitError, ServerError, TimeoutError, TLSError,
    UnknownModelError, UnknownProviderError, WorkflowValidationError, error_from_dict,
)
from ._client import Client, Stream, StreamDelta, default_client, set_default_client
from ._provider import Provider
from ._workflow import Workflow
from ._run import NodeResult, RunEvent, RunResult, RunStream, run, run_stream, run_sync

__all__ = [
    "__version__",
    # chat
    "Client", "Stream", "StreamDelta", "ChatRequest", "ChatResponse", "Message", "Usage",
    "Provider", "default_client", "set_default_client",
    # workflows
    "Workflow", "Problem", "run", "run_sync", "run_stream", "RunResult", "NodeResult",
    "RunEvent", "RunStream",
    # errors
    "ChorusError", "RateLimitError", "AuthError", "QuotaExceededError", "OverloadedError",
    "ContextLengthError", "ContentFilterError", "BadRequestError", "ServerError",
    "ProtocolError", "TimeoutError", "CancelledError", "ConnectError", "TLSError",
    "ConnectionClosedError", "InvalidArgumentError", "WorkflowValidationError",
    "UnknownProviderError", "UnknownModelError", "BudgetExceededError", "NodeFailedError",
    "NotFoundError", "error_from_dict",
]
