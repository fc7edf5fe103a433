"""What model calls cost, estimated from token usage and list prices.

Prices are US dollars per million tokens. Cache writes cost 1.25x the input price and cache reads
0.1x: the reason shared prefixes are marked cacheable. A model not listed here has no estimate
rather than a wrong one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from scriptgen.models import CallUsage, UsageTotals

__all__ = [
    "CACHE_READ_FACTOR",
    "CACHE_WRITE_FACTOR",
    "PRICES",
    "Price",
    "cost_by_model",
    "cost_of",
    "estimate_cost",
    "price_of",
]

CACHE_WRITE_FACTOR: Final = 1.25
"""A token written to the prompt cache costs this many input tokens."""
CACHE_READ_FACTOR: Final = 0.1
"""A token read from the prompt cache costs this many input tokens."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float


# Longest prefix wins; model ids carry dated suffixes (claude-sonnet-4-5-20250929).
PRICES: dict[str, Price] = {
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4-0": Price(15.0, 75.0),
    "claude-opus-4-2": Price(15.0, 75.0),
    "claude-opus-4": Price(5.0, 25.0),
    "claude-opus-5": Price(5.0, 25.0),
    "claude-sonnet": Price(3.0, 15.0),
    "claude-haiku-4": Price(1.0, 5.0),
    "claude-haiku-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "showrunner-demo": Price(0.0, 0.0),
}


def price_of(model: str) -> Price | None:
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else None


def estimate_cost(model: str, totals: UsageTotals) -> float | None:
    """The cost of ``totals``, all calls of ``model``; ``None`` if the model has no price."""
    price = price_of(model)
    if price is None:
        return None
    return (
        totals.input_tokens * price.input
        + totals.cache_write_tokens * price.input * CACHE_WRITE_FACTOR
        + totals.cache_read_tokens * price.input * CACHE_READ_FACTOR
        + totals.output_tokens * price.output
    ) / 1_000_000


def cost_by_model(totals: Mapping[str, UsageTotals]) -> float | None:
    """The cost of each model's ``totals`` at that model's prices, summed.

    ``None`` if any model with calls has no price: a sum leaving some calls out would look
    like a cost and be too low, which is worse than saying it is unknown.
    """
    total = 0.0
    for model, model_totals in totals.items():
        if model_totals.calls == 0:
            continue
        cost = estimate_cost(model, model_totals)
        if cost is None:
            return None
        total += cost
    return total


def cost_of(usages: Iterable[CallUsage]) -> float | None:
    """The cost of ledger rows of possibly several models (a resumed episode may have been
    started on another model), each priced at its own model's rates; ``None`` as for
    :func:`cost_by_model`."""
    by_model: dict[str, list[CallUsage]] = {}
    for usage in usages:
        by_model.setdefault(usage.model, []).append(usage)
    return cost_by_model({model: UsageTotals.of(calls) for model, calls in by_model.items()})
