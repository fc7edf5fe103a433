"""compose.yaml, read as Docker Compose would read it (Docker does not run in the tests):
the five parts of a scaled deployment, wired to one another and to the project's image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def interpolated(value: str) -> str:
    """``${NAME:-default}`` as Compose fills it in with ``NAME`` unset."""
    return DEFAULTED.sub(lambda m: m.group(2), value)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert set(compose["volumes"]) == {"postgres-data"}
    found: dict[str, Any] = compose["services"]
    return found


def env(service: dict[str, Any]) -> dict[str, str]:
    return {key: interpolated(str(value)) for key, value in service["environment"].items()}


def test_a_gateway_and_two_workers_from_the_project_image(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "temporal", "showrunner", "worker"}
    gateway, worker = services["showrunner"], services["worker"]
    assert gateway["build"] == worker["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert gateway["command"] == ["python", "-m", "bot"]
    assert worker["command"] == ["python", "-m", "bot", "worker"]
    assert worker["deploy"]["replicas"] == 2
    # The image's HEALTHCHECK asks the operations server, which only the gateway runs.
    assert env(gateway)["SHOWRUNNER_HTTP_PORT"] == "8080"
    assert worker["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("name", ["showrunner", "worker"])
def test_gateway_and_workers_share_the_database_and_the_temporal_server(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = env(services[name])
    host, port = values["SHOWRUNNER_TEMPORAL_ADDRESS"].split(":")
    assert host in services and port == "7233"
    assert set(services[name]["depends_on"]) == {"postgres", "temporal"}
    for key, value in {**values, "DISCORD_TOKEN": "t", "SHOWRUNNER_PROVIDER": "demo"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    url = str(settings.database)
    postgres = env(services["postgres"])
    user, password = postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]
    assert url == f"postgresql://{user}:{password}@postgres:5432/{postgres['POSTGRES_DB']}"
    assert settings.temporal_address == "temporal:7233"


def test_temporal_keeps_its_state_in_the_same_postgresql(services: dict[str, Any]) -> None:
    temporal, postgres = env(services["temporal"]), env(services["postgres"])
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgres"
    assert temporal["POSTGRES_USER"] == postgres["POSTGRES_USER"]
    assert temporal["POSTGRES_PWD"] == postgres["POSTGRES_PASSWORD"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
