"""Claude as a scriptgen provider: one forced-tool call per step, streamed, with our own retries.

- **Structured output by a forced tool.** The step's pydantic model is the tool's
  ``input_schema`` and ``tool_choice`` forces the call, so the answer is JSON by
  construction; pydantic then checks what a schema cannot (and the model may miss), then
  the step's own rules (``StepRequest.check``), and a failure of either is sent back once,
  in the same conversation, as a ``tool_result`` with ``is_error``, which is how the model
  is trained to see a rejected call.
- **One retry layer, ours.** The SDK's retries are switched off (``max_retries=0``):
  they honour ``retry-after`` without a cap, never cover a stream that fails
  mid-way (an SSE ``error`` event, a dropped connection), and are invisible to our
  usage accounting and to a process-wide limiter. Here every failure is classified
  once, retried with capped back-off when it can succeed, and counted (``_retry``); each
  attempt is reported to the limiter slot the call runs in (``scriptgen.ratelimits``), which
  adapts the process's concurrency to 429/529 answers and paces calls to the rate-limit
  headers, and lends the slot to other calls while a retry waits.
- **Always streamed.** The SDK refuses non-streaming calls whose ``max_tokens`` could
  take over ten minutes, and proxies drop long-idle responses; one code path serves
  every size. The body goes out pre-serialized and the events are read as plain JSON
  (``_stream``: a quarter of the CPU of the SDK's stream helper); a step's
  ``on_partial`` is told the tool input as it streams (the outline, to begin scenes early).
- **Prompt caching across the episode.** Every call of an episode declares the same
  tools in the same order and carries the system prompt and the shared context (series
  bible, premise, outline) as marked ``system`` blocks, forcing its own tool with
  ``tool_choice`` (which keys only cached *message* blocks); so the outline call's prefix
  is read and extended by the scene calls, and that is read by every later call
  (``_request`` has the layout).
"""

from scriptgen.ratelimits import RateLimitSnapshot, RateLimitWindow

from ._provider import DEFAULT_MODEL, AnthropicProvider
from ._request import MAX_CACHE_MARKS
from ._retry import (
    MAX_SERVER_DELAY_S,
    SPEND_LIMIT_CODES,
    Backoff,
    ExponentialBackoff,
    server_delay,
)

__all__ = [
    "DEFAULT_MODEL",
    "MAX_CACHE_MARKS",
    "MAX_SERVER_DELAY_S",
    "SPEND_LIMIT_CODES",
    "AnthropicProvider",
    "Backoff",
    "ExponentialBackoff",
    "RateLimitSnapshot",
    "RateLimitWindow",
    "server_delay",
]
