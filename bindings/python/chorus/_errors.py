"""The exception hierarchy: one class per ``chorus::errc`` kind, all under ChorusError."""

from __future__ import annotations

import builtins
from typing import Any, Dict, List, Mapping, Optional, Type


class ChorusError(Exception):
    """A Chorus operation failed.

    ``kind`` is the stable snake_case name of the C++ ``chorus::errc`` ("rate_limited", "auth",
    ...). ``status`` is the HTTP status (0 when there was none), ``retry_after`` the server's hint
    in seconds (None when it gave none). ``response`` holds the partial ChatResponse of a failed
    call (text streamed before the failure), ``result`` the RunResult of a failed run.
    """

    kind: str = "error"

    def __init__(
        self,
        message: str = "",
        *,
        kind: Optional[str] = None,
        status: int = 0,
        provider: str = "",
        request_id: str = "",
        retry_after: Optional[float] = None,
        vendor_code: str = "",
        node_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.status = status
        self.provider = provider
        self.request_id = request_id
        self.retry_after = retry_after
        self.vendor_code = vendor_code
        self.node_id = node_id
        self.response: Any = None
        self.result: Any = None

    def __str__(self) -> str:
        text = f"{self.kind}: {self.message}"
        extra = []
        if self.provider:
            extra.append(f"provider {self.provider}")
        if self.status:
            extra.append(f"status {self.status}")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        if self.node_id:
            extra.append(f"node {self.node_id}")
        return f"{text} ({', '.join(extra)})" if extra else text

    def to_dict(self) -> Dict[str, Any]:
        """The error as the C++ library writes it in results and events."""
        out: Dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.provider:
            out["provider"] = self.provider
        if self.status:
            out["status"] = self.status
        if self.request_id:
            out["requestId"] = self.request_id
        if self.vendor_code:
            out["vendorCode"] = self.vendor_code
        if self.retry_after is not None:
            out["retryAfterMs"] = int(round(self.retry_after * 1000))
        if self.node_id:
            out["nodeId"] = self.node_id
        return out


class RateLimitError(ChorusError):
    """429 and friends; retryable, honour ``retry_after``."""

    kind = "rate_limited"


class AuthError(ChorusError):
    """Bad, missing or unauthorised API key."""

    kind = "auth"


class QuotaExceededError(ChorusError):
    """Billing quota or balance exhausted (not retryable)."""

    kind = "quota_exceeded"


class OverloadedError(ChorusError):
    """The vendor is overloaded (503, Anthropic 529)."""

    kind = "overloaded"


class ContextLengthError(ChorusError):
    """The prompt does not fit the model's context window."""

    kind = "context_length"


class ContentFilterError(ChorusError):
    """The vendor blocked the prompt or the answer."""

    kind = "content_filter"


class BadRequestError(ChorusError):
    """Any other 4xx: the request was wrong."""

    kind = "bad_request"


class ServerError(ChorusError):
    """The vendor failed (500/502/504), or a Python provider raised."""

    kind = "server"


class ProtocolError(ChorusError):
    """The peer sent something that cannot be parsed."""

    kind = "protocol"


class TimeoutError(ChorusError, builtins.TimeoutError):
    """A connect, first-byte, idle or total deadline passed."""

    kind = "timeout"


class CancelledError(ChorusError):
    """The operation was cancelled by something other than the awaiting task (a stop signal)."""

    kind = "cancelled"


class ConnectError(ChorusError):
    """DNS, TCP or proxy connection failed."""

    kind = "connect_failed"


class TLSError(ChorusError):
    """The TLS handshake failed, certificate verification included."""

    kind = "tls_failed"


class ConnectionClosedError(ChorusError):
    """The peer closed the connection before the response was complete."""

    kind = "connection_closed"


class InvalidArgumentError(ChorusError, ValueError):
    """A caller-supplied value is out of range or malformed."""

    kind = "invalid_argument"


class WorkflowValidationError(ChorusError, ValueError):
    """The workflow document does not validate; ``problems`` lists every problem."""

    kind = "invalid_workflow"

    def __init__(self, message: str = "", *, problems: Optional[List[Any]] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.problems: List[Any] = list(problems or [])


class UnknownProviderError(ChorusError, LookupError):
    """No provider is registered under that id."""

    kind = "unknown_provider"


class UnknownModelError(ChorusError, LookupError):
    """The provider does not know that model."""

    kind = "unknown_model"


class BudgetExceededError(ChorusError):
    """The run's cost or token budget would have been exceeded."""

    kind = "budget_exceeded"


class NodeFailedError(ChorusError):
    """A workflow node failed and its on_error policy failed the run."""

    kind = "node_failed"


class NotFoundError(ChorusError, LookupError):
    """A named resource (file, node, template) does not exist."""

    kind = "not_found"


ERROR_CLASSES: Dict[str, Type[ChorusError]] = {
    cls.kind: cls
    for cls in (
        RateLimitError, AuthError, QuotaExceededError, OverloadedError, ContextLengthError,
        ContentFilterError, BadRequestError, ServerError, ProtocolError, TimeoutError,
        CancelledError, ConnectError, TLSError, ConnectionClosedError, InvalidArgumentError,
        WorkflowValidationError, UnknownProviderError, UnknownModelError, BudgetExceededError,
        NodeFailedError, NotFoundError,
    )
}


def error_from_dict(data: Mapping[str, Any]) -> ChorusError:
    """The exception for an error object of the C++ JSON ({"kind", "message", ...})."""
    kind = str(data.get("kind", "error"))
    cls = ERROR_CLASSES.get(kind, ChorusError)
    retry_ms = data.get("retryAfterMs")
    return cls(
        str(data.get("message", "")),
        kind=kind,
        status=int(data.get("status", 0) or 0),
        provider=str(data.get("provider", "")),
        request_id=str(data.get("requestId", "")),
        retry_after=None if retry_ms is None else float(retry_ms) / 1000.0,
        vendor_code=str(data.get("vendorCode", "")),
        node_id=str(data.get("nodeId", "")),
    )
