"""Settings from the environment and ``.env``, checked once at start-up.

A missing or invalid setting is reported as one line naming the variable; secrets are
``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scriptgen.providers import ProviderName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOWRUNNER_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    discord_token: SecretStr = Field(validation_alias=AliasChoices("DISCORD_TOKEN"))
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    provider: ProviderName = "anthropic"
    model: str | None = None
    max_parallel_scenes: int = Field(default=3, ge=1, le=12)
    max_concurrent_calls: int = Field(default=8, ge=1, le=256)
    max_episodes_per_guild: int = Field(default=3, ge=1, le=100)
    db_path: Path = Path("showrunner.db")
    dev_guild_id: int | None = None
    discord_api_base: str | None = None
    discord_gateway: str | None = None
    status_interval: float = Field(default=1.5, ge=0.5, le=60)
    """Seconds between two edits of a status message (Discord rate-limits edits per message)."""
    interaction_ttl: float = Field(default=14 * 60, ge=1, le=15 * 60)
    """Seconds after which a status moves off the interaction, whose token dies at 15 minutes."""
    shutdown_grace: float = Field(default=6.0, ge=0, le=30)
    """Seconds a stopping bot lets model calls in flight finish (their output is kept)."""
    demo_seed: int = 0
    guild_monthly_budget_usd: float | None = Field(default=None, ge=0)
    """What a server may spend on model calls in a calendar month (UTC), unless its own
    ``/budget set`` says otherwise; none: no limit."""
    episodes_per_user_per_day: int | None = Field(default=None, ge=1)
    """Episodes one writer may start in one server per UTC day; none: no limit."""
    review_timeout: float = Field(default=24 * 3600, ge=1)
    """Seconds an outline waits for Write it before it is cancelled."""
    review_sweep_interval: float = Field(default=600, ge=0.05, le=3600)
    """How often waiting outlines are checked against ``review_timeout``."""

    @model_validator(mode="after")
    def _key_for_anthropic(self) -> Self:
        if self.provider == "anthropic" and self.anthropic_api_key is None:
            raise ValueError(
                "ANTHROPIC_API_KEY is not set - set it, or set SHOWRUNNER_PROVIDER=demo "
                "to write with the offline demo provider"
            )
        return self


def describe_error(exc: ValidationError) -> str:
    """One line naming the first bad setting by its environment variable."""
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return message
    field = loc[0]
    aliases = {
        "discord_token": "DISCORD_TOKEN",
        "DISCORD_TOKEN": "DISCORD_TOKEN",
        "anthropic_api_key": "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY",
    }
    name = aliases.get(field, f"SHOWRUNNER_{field.upper()}")
    if error["type"] == "missing":
        return f"{name} is not set - add it to the environment or to .env (see .env.example)"
    return f"{name}: {message}"
