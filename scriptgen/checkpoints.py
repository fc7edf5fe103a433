"""Where finished steps are kept, so an interrupted episode resumes without paying twice.

The generator asks its checkpoints for every step before calling the provider and saves each step
the moment it finishes. :class:`MemoryCheckpoints` serves a single run; ``storage`` provides one
backed by SQLite that survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from scriptgen.models import CallUsage


@dataclass(frozen=True)
class StoredStep:
    payload: str
    """The step's output as JSON, validated again against the step's model when reused."""
    usage: CallUsage


class Checkpoints(Protocol):
    async def load(self) -> Mapping[str, StoredStep]:
        """Every step already finished for this episode, by step key."""
        ...

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """Record a finished step; called once per step, as soon as it finishes."""
        ...

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        """Record a call that failed: it may have cost something, and operators count them."""
        ...


class MemoryCheckpoints:
    """Checkpoints that live as long as the object: for one run, and for tests."""

    def __init__(self, steps: Mapping[str, StoredStep] | None = None) -> None:
        self.steps: dict[str, StoredStep] = dict(steps or {})
        self.failures: list[CallUsage] = []

    async def load(self) -> Mapping[str, StoredStep]:
        return dict(self.steps)

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        self.steps[key] = StoredStep(value.model_dump_json(), usage)

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        self.failures.append(usage)
