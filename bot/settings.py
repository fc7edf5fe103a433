"""Settings from the environment and ``.env``, checked once at start-up.

A missing or invalid setting is reported as one line naming the variable; secrets are
``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scriptgen.monitor import KINDS
from scriptgen.providers import ProviderName
from storage.database import is_postgres_url


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
    database_url: SecretStr | None = None
    """``postgresql://user:password@host/db``: PostgreSQL instead of the SQLite ``db_path``
    (secret: it holds the password, and settings get printed)."""
    dev_guild_id: int | None = None
    discord_api_base: str | None = None
    discord_gateway: str | None = None
    shard_count: int | None = Field(default=None, ge=1, le=4096)
    """Gateway shards this process runs (all of them); none: as many as Discord recommends."""
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
    temporal_address: str | None = None
    """A Temporal server (``host:port``) that runs episodes as workflows on ``showrunner
    worker`` processes; none: episodes run in this process."""
    temporal_namespace: str = "default"
    temporal_task_queue: str = "showrunner"
    temporal_heartbeat_timeout: float = Field(default=20.0, ge=1, le=600)
    """Seconds after which a model call whose worker stopped answering is given to another."""
    http_port: int | None = Field(default=None, ge=0, le=65535)
    """The operations server's port (health, metrics, dashboard); none: no server. 0 picks a
    free port (tests)."""
    http_host: str = "127.0.0.1"
    """Where the operations server listens: loopback unless an operator opens it up."""
    dashboard_token: SecretStr | None = None
    """The token the dashboard asks for; none: the dashboard is off (health and metrics stay)."""
    dashboard_show_text: bool = False
    """Whether the dashboard shows premises, titles and scene headings (writers' text)."""
    dashboard_interval: float = Field(default=1.0, ge=0.1, le=60)
    """Seconds between two dashboard updates sent to an open page."""
    alert_channel_id: int | None = None
    """A channel where slow steps are posted for operators; none: they are only logged."""
    alert_interval: float = Field(default=300.0, ge=1, le=86400)
    """Seconds between two alert posts; slow steps in between go into the next one."""
    slow_step_seconds: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    """Per step kind, the seconds past which a step is slow (``dialogue=90,outline=60``); a
    kind without one is slow past 3x the p95 of its recent steps."""

    @field_validator("slow_step_seconds", mode="before")
    @classmethod
    def _thresholds(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        thresholds: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            kind, _, seconds = item.partition("=")
            kind = kind.strip()
            if kind not in KINDS:
                raise ValueError(f"unknown step kind {kind!r} (one of {', '.join(KINDS)})")
            try:
                thresholds[kind] = float(seconds)
            except ValueError:
                raise ValueError(f"{item!r} is not kind=seconds, e.g. dialogue=90") from None
            if thresholds[kind] <= 0:
                raise ValueError(f"{item!r}: the seconds must be more than 0")
        return thresholds

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_postgres_url(value.get_secret_value()):
            raise ValueError(
                "must be a postgresql:// URL, e.g. postgresql://showrunner:secret@db:5432/"
                "showrunner (for SQLite, unset it and set SHOWRUNNER_DB_PATH)"
            )
        return value

    @property
    def database(self) -> str | Path:
        """What ``Database.open`` takes: the PostgreSQL URL if set, else the SQLite file."""
        url = self.database_url
        return url.get_secret_value() if url is not None else self.db_path

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
