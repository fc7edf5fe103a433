"""Providers: where model calls go. ``make_provider`` is the one place a provider is chosen."""

from __future__ import annotations

from typing import Literal

from scriptgen.errors import ConfigurationError
from scriptgen.providers.base import Generation, Provider, StepFacts, StepRequest
from scriptgen.providers.demo import DemoProvider

ProviderName = Literal["anthropic", "demo"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("anthropic", "demo")


def make_provider(
    name: ProviderName,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    seed: int = 0,
) -> Provider:
    """Build the named provider, or raise :class:`ConfigurationError` saying how to fix it."""
    if name == "demo":
        return DemoProvider(seed=seed)
    if not api_key:
        raise ConfigurationError(
            "No Anthropic API key found - set the ANTHROPIC_API_KEY environment variable, "
            "or try it offline with the demo provider"
        )
    import anthropic

    from scriptgen.providers.anthropic import DEFAULT_MODEL, AnthropicProvider

    client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url)
    return AnthropicProvider(client, model or DEFAULT_MODEL)


__all__ = [
    "PROVIDER_NAMES",
    "DemoProvider",
    "Generation",
    "Provider",
    "ProviderName",
    "StepFacts",
    "StepRequest",
    "make_provider",
]
