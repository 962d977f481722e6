// ESM entry point: the same objects as the CommonJS entry (one addon, one io thread).
import chorus from './index.js';

export const {
  Client, ChatStream, Workflow, RunStream, run, runStream, defaultClient, setDefaultClient,
  nativeStats, version, errorFromJSON,
  ChorusError, RateLimitError, AuthError, QuotaExceededError, OverloadedError,
  ContextLengthError, ContentFilterError, BadRequestError, ServerError, ProtocolError,
  TimeoutError, CancelledError, ConnectError, TLSError, ConnectionClosedError,
  InvalidArgumentError, WorkflowValidationError, UnknownProviderError, UnknownModelError,
  BudgetExceededError, NodeFailedError, NotFoundError,
} = chorus;
export default chorus;
