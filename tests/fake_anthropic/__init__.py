"""A wire-level fake of the Anthropic Messages API, for tests and benchmarks.

``async with FakeAnthropic() as fake:`` then point the real SDK at it with
``anthropic.AsyncAnthropic(api_key=..., base_url=fake.base_url)``. See
:class:`FakeAnthropic` for scripting failures and answers, and ``fake.requests``
for what was sent.
"""

from ._accounting import RateLimits, estimate_tokens
from ._faults import (
    FAILURES,
    FAULT_KINDS,
    FaultHook,
    FaultKind,
    Outage,
    RandomFaults,
    StepId,
    completed_by_step,
    step_of,
)
from ._records import RecordedRequest, Responder, SchemaResponder, forced_tool, last_user_text
from ._server import FakeAnthropic
from ._wire import error_body
from .schema_fill import fill_schema

__all__ = [
    "FAILURES",
    "FAULT_KINDS",
    "FakeAnthropic",
    "FaultHook",
    "FaultKind",
    "Outage",
    "RandomFaults",
    "RateLimits",
    "RecordedRequest",
    "Responder",
    "SchemaResponder",
    "StepId",
    "completed_by_step",
    "error_body",
    "estimate_tokens",
    "fill_schema",
    "forced_tool",
    "last_user_text",
    "step_of",
]
