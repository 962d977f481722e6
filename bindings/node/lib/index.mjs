// ESM entry point: the same objects as the CommonJS entry (one addon, one io thread). Loaded with
// require() rather than `import ... from './index.js'`: an import makes Node scan the CommonJS
// source for its export names (cjs-module-lexer), work that grows with the file and, past a
// size, gets JIT-compiled at start-up for several MB of resident memory.
import { createRequire } from 'node:module';

const chorus = createRequire(import.meta.url)('./index.js');

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
