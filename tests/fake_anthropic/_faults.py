"""Faults injected into the fake's answers at random (seeded), and outages: for soak tests.

A scripted reply (``enqueue_*``) fails one request chosen in advance; a soak needs failures spread
over hundreds of requests nobody scripted one by one, and needs to say afterwards which step of
which episode each request was for (to check that no step was paid for twice). So:

- :func:`step_of` names the step a request asks for, from what the pipeline's prompts put on the
  wire: the episode is the ``PREMISE`` block of the system prompt, the step is the forced tool and
  the scene its own prompt names (``scene:2:dialogue``, the keys of ``scriptgen.prompts``);
- :class:`RandomFaults` fails a seeded share of requests with the failures the real API has: a 429
  with ``retry-after``, a 529, a 500, a stream dropped mid-answer, an SSE ``error`` event, or
  answers slowly (a stall); which requests is random, the kinds take turns (so a short run meets
  every kind, equally often). It never fails one step more than ``max_per_step`` times, so a client
  retrying up to ``max_per_step + 1`` attempts always gets through: the soak checks what faults do
  to delivery and payment, not that an unlucky step can exhaust its retries (the outage does that);
- :class:`Outage` fails every request with a 529 from a trigger on, until it is ended.

Either is given to ``FakeAnthropic(faults=...)``; it is asked about each request that no scripted
reply matched, and may sleep (a stall) before answering.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._records import Action, RecordedRequest, StatusAnswer, StreamFault
from ._wire import error_body

FaultHook = Callable[[RecordedRequest], Awaitable[Action | None]]
"""What ``FakeAnthropic(faults=...)`` calls for a request no scripted reply matched: the action
to answer with (None: answer normally); it may sleep first."""

FaultKind = Literal["429", "529", "500", "drop", "stream_error", "stall"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "529", "500", "drop", "stream_error", "stall")
FAILURES: frozenset[FaultKind] = frozenset(FAULT_KINDS) - {"stall"}
"""The kinds that fail the request (a stall only delays it): each costs the client one retry."""


@dataclass(frozen=True, order=True)
class StepId:
    """One step of one episode, as the wire shows it."""

    episode: str
    """The episode's premise (a soak gives each episode its own)."""
    key: str
    """The step's checkpoint key (``outline``, ``scene:2:directions``, ``comedy``...)."""


_PREMISE = re.compile(r"^PREMISE\n(.*)$", re.MULTILINE)
_SCENE_PROMPTS: dict[str, tuple[re.Pattern[str], str]] = {
    "write_dialogue": (re.compile(r"^Write the dialogue of scene (\d+) "), "scene:{}:dialogue"),
    "add_stage_directions": (
        re.compile(r"^Here is the dialogue of scene (\d+) "),
        "scene:{}:directions",
    ),
    "punch_up": (
        re.compile(r"^Scene (\d+) scored lowest"),
        "refine:{}",
    ),
}


def step_of(record: RecordedRequest) -> StepId:
    """The step ``record`` asks for. Keys follow ``scriptgen.prompts`` (a refinement is
    ``refine:<scene>``, its round left out); a prompt this does not know is keyed by its tool and
    a digest of its text, still the same for every attempt of the same step."""
    system = "\n\n".join(str(b.get("text", "")) for b in record.system_blocks)
    found = _PREMISE.search(system)
    episode = found.group(1) if found else ""
    tool = record.tool_name or ""
    prompt = first_prompt(record)
    if tool == "write_outline":
        return StepId(episode, "outline")
    if tool == "punch_up" and prompt.startswith("Do the punch-up pass"):
        return StepId(episode, "comedy")
    known = _SCENE_PROMPTS.get(tool)
    scene = known[0].search(prompt) if known is not None else None
    if known is not None and scene is not None:
        return StepId(episode, known[1].format(scene.group(1)))
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return StepId(episode, f"{tool}:{digest}")


def first_prompt(record: RecordedRequest) -> str:
    """The text of the first user turn: the step's own prompt, the same on every attempt (a
    repair turn comes after it)."""
    if not record.messages:
        return ""
    return "\n".join(
        str(b.get("text", "")) for b in record.user_blocks(0) if b.get("type") == "text"
    )


def completed_by_step(requests: Iterable[RecordedRequest]) -> Counter[StepId]:
    """How many complete answers (streamed to their end, or a whole JSON message) each step got:
    every one was paid for, so a step with two was paid twice."""
    return Counter(step_of(r) for r in requests if r.outcome == "ok")


@dataclass
class RandomFaults:
    """Fails (or slows) a seeded ``rate`` of the requests, with each of ``kinds`` in turn (in
    an order shuffled by the seed).

    ``retry_after`` (seconds) goes with the 429s, ``stall_s`` is how long a stall delays an
    answer, ``max_per_step`` bounds the failures one step meets. ``injected`` records each
    fault: the request's index, its step and the kind.
    """

    rate: float = 0.2
    seed: int = 0
    kinds: Sequence[FaultKind] = FAULT_KINDS
    retry_after: float = 1.0
    stall_s: float = 1.0
    max_per_step: int = 2
    injected: list[tuple[int, StepId, FaultKind]] = field(default_factory=list)
    _failed: Counter[StepId] = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a share of the requests, between 0 and 1")
        if not self.kinds:
            raise ValueError("give at least one fault kind")
        self._rng = random.Random(self.seed)
        self._order = self._rng.sample(list(self.kinds), len(self.kinds))
        self._turn = 0

    def by_kind(self) -> Counter[FaultKind]:
        return Counter(kind for _, _, kind in self.injected)

    @property
    def failures(self) -> int:
        """Faults that failed their request (stalls excluded)."""
        return sum(kind in FAILURES for _, _, kind in self.injected)

    async def __call__(self, record: RecordedRequest) -> Action | None:
        # Both draws are made for every request, so the n-th request's fate does not depend on
        # what the caps did to earlier ones.
        faulted = self._rng.random() < self.rate
        chunks = self._rng.randrange(0, 4)
        if not faulted:
            return None
        kind = self._order[self._turn % len(self._order)]
        step = step_of(record)
        if kind in FAILURES:
            if self._failed[step] >= self.max_per_step:
                return None  # this kind's turn waits for the next faulted request
            self._failed[step] += 1
        self._turn += 1
        self.injected.append((record.index, step, kind))
        return await self._act(kind, chunks)

    async def _act(self, kind: FaultKind, chunks: int) -> Action | None:
        match kind:
            case "429":
                headers = {"retry-after": f"{self.retry_after:g}"}
                return StatusAnswer(429, error_body("rate_limit_error"), headers)
            case "529":
                return StatusAnswer(529, error_body("overloaded_error"), {})
            case "500":
                return StatusAnswer(500, error_body("api_error"), {})
            case "drop":
                return StreamFault(chunks, None)
            case "stream_error":
                return StreamFault(chunks, "overloaded_error")
            case "stall":
                await asyncio.sleep(self.stall_s)
                return None


@dataclass
class Outage:
    """From the first request ``begins`` matches, every request fails with a 529 (overloaded),
    until :meth:`end`. ``failed`` counts the requests it failed."""

    begins: Callable[[RecordedRequest], bool]
    active: bool = False
    ended: bool = False
    failed: int = 0

    def end(self) -> None:
        self.active, self.ended = False, True

    async def __call__(self, record: RecordedRequest) -> Action | None:
        if not self.ended and (self.active or self.begins(record)):
            self.active = True
            self.failed += 1
            return StatusAnswer(529, error_body("overloaded_error"), {})
        return None


__all__ = [
    "FAILURES",
    "FAULT_KINDS",
    "FaultHook",
    "FaultKind",
    "Outage",
    "RandomFaults",
    "StepId",
    "completed_by_step",
    "first_prompt",
    "step_of",
]
