"""What an episode cost, estimated from token usage and list prices.

Prices are US dollars per million tokens. Cache writes cost 1.25x the input price and cache reads
0.1x: the reason shared prefixes are marked cacheable. A model not listed here has no estimate
rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

from scriptgen.models import UsageTotals


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
    price = price_of(model)
    if price is None:
        return None
    return (
        totals.input_tokens * price.input
        + totals.cache_write_tokens * price.input * 1.25
        + totals.cache_read_tokens * price.input * 0.1
        + totals.output_tokens * price.output
    ) / 1_000_000
