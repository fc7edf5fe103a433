"""``python -m bot`` with bad settings: exit code 2 and one line naming the variable to fix.

Each scenario runs the real entry point in a subprocess with a clean environment, in its own
empty directory (so only the ``.env`` a scenario writes is read). They all start at once in one
module fixture: a bot process takes about a second to import. Scenarios are shared where one
run shows two behaviours (each test still checks one).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from bot.settings import Settings

DISCORD_SECRET = "discord-token-s3cr3t-VALUE"
ANTHROPIC_SECRET = "sk-ant-s3cr3t-VALUE"
POSTGRES_SECRET = "pg-s3cr3t-VALUE"
SAFETY_NET = {"SHOWRUNNER_DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"}
"""Should a scenario ever get past the settings, it fails fast instead of calling Discord."""


@dataclass(frozen=True)
class Scenario:
    env: dict[str, str]
    dotenv: str | None = None


SCENARIOS = {
    "no-token": Scenario({}),
    "empty-token": Scenario({"DISCORD_TOKEN": "", "SHOWRUNNER_PROVIDER": "demo"}),
    "no-anthropic-key": Scenario({"DISCORD_TOKEN": "t"}),
    "unknown-provider": Scenario({"DISCORD_TOKEN": "t", "SHOWRUNNER_PROVIDER": "nope"}),
    "database-url-not-postgres": Scenario(
        {
            "DISCORD_TOKEN": "t",
            "SHOWRUNNER_PROVIDER": "demo",
            "SHOWRUNNER_DATABASE_URL": "db.sqlite",
        }
    ),
    "postgres-unreachable": Scenario(
        {
            "DISCORD_TOKEN": "t",
            "SHOWRUNNER_PROVIDER": "demo",
            "SHOWRUNNER_DATABASE_URL": (
                f"postgresql://showrunner:{POSTGRES_SECRET}@/showrunner"
                "?host=/nonexistent-showrunner-socket-dir&port=5999"
            ),
        }
    ),
    "zero-parallel-token-in-dotenv": Scenario(
        {"SHOWRUNNER_MAX_PARALLEL_SCENES": "0"},
        dotenv=f"DISCORD_TOKEN={DISCORD_SECRET}\nANTHROPIC_API_KEY={ANTHROPIC_SECRET}\n",
    ),
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    def one_line(self) -> str:
        """The single line a misconfigured bot prints; checks the exit code and no traceback."""
        assert self.returncode == 2, self
        assert "Traceback" not in self.stderr + self.stdout, self.stderr
        assert self.stdout == "", self.stdout
        lines = self.stderr.splitlines()
        assert len(lines) == 1, lines
        return lines[0]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    running: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, scenario in SCENARIOS.items():
            cwd = tmp_path_factory.mktemp(name)
            if scenario.dotenv is not None:
                (cwd / ".env").write_text(scenario.dotenv)
            running[name] = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=cwd,
                env={**SAFETY_NET, **scenario.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        results = {}
        for name, process in running.items():
            stdout, stderr = process.communicate(timeout=30)
            results[name] = Outcome(process.returncode, stdout, stderr)
        yield results
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


def test_missing_discord_token_is_named(outcomes: dict[str, Outcome]) -> None:
    """No DISCORD_TOKEN anywhere: exit 2 and a line saying to set it."""
    assert outcomes["no-token"].one_line() == (
        "showrunner: DISCORD_TOKEN is not set - add it to the environment or to .env "
        "(see .env.example)"
    )


def test_empty_discord_token_counts_as_missing(outcomes: dict[str, Outcome]) -> None:
    """``DISCORD_TOKEN=`` (empty) is reported as not set, not accepted as a token."""
    assert outcomes["empty-token"].one_line().startswith("showrunner: DISCORD_TOKEN is not set")


def test_anthropic_without_key_suggests_the_demo(outcomes: dict[str, Outcome]) -> None:
    """The default provider without ANTHROPIC_API_KEY names it and offers the demo provider."""
    line = outcomes["no-anthropic-key"].one_line()
    assert line.startswith("showrunner: ANTHROPIC_API_KEY is not set")
    assert "SHOWRUNNER_PROVIDER=demo" in line


def test_zero_parallel_scenes_is_named(outcomes: dict[str, Outcome]) -> None:
    """SHOWRUNNER_MAX_PARALLEL_SCENES=0 is refused by its variable name, with the bound."""
    assert outcomes["zero-parallel-token-in-dotenv"].one_line() == (
        "showrunner: SHOWRUNNER_MAX_PARALLEL_SCENES: Input should be greater than or equal to 1"
    )


def test_unknown_provider_is_named_with_the_choices(outcomes: dict[str, Outcome]) -> None:
    """SHOWRUNNER_PROVIDER=nope is refused, listing the providers there are."""
    assert outcomes["unknown-provider"].one_line() == (
        "showrunner: SHOWRUNNER_PROVIDER: Input should be 'anthropic' or 'demo'"
    )


def test_dotenv_in_the_working_directory_is_read(outcomes: dict[str, Outcome]) -> None:
    """The token only in ./.env: the bad setting's error shows, not 'DISCORD_TOKEN is not set'."""
    line = outcomes["zero-parallel-token-in-dotenv"].one_line()
    assert line.startswith("showrunner: SHOWRUNNER_MAX_PARALLEL_SCENES: ")


def test_database_url_must_be_postgresql(outcomes: dict[str, Outcome]) -> None:
    """SHOWRUNNER_DATABASE_URL is for PostgreSQL; a file path there says where a path goes."""
    line = outcomes["database-url-not-postgres"].one_line()
    assert line.startswith("showrunner: SHOWRUNNER_DATABASE_URL: must be a postgresql:// URL")
    assert "SHOWRUNNER_DB_PATH" in line


def test_unreachable_postgresql_is_one_line_without_the_password(
    outcomes: dict[str, Outcome],
) -> None:
    """No server behind the URL: one line saying so, before Discord, without the password."""
    outcome = outcomes["postgres-unreachable"]
    line = outcome.one_line()
    assert "cannot reach PostgreSQL at postgresql://showrunner@/showrunner" in line
    assert POSTGRES_SECRET not in outcome.stderr


def test_secrets_never_appear_in_the_error(outcomes: dict[str, Outcome]) -> None:
    """An invalid setting beside both secrets: the line names the setting, not the secrets."""
    outcome = outcomes["zero-parallel-token-in-dotenv"]
    assert outcome.one_line().startswith("showrunner: SHOWRUNNER_MAX_PARALLEL_SCENES: ")
    assert DISCORD_SECRET not in outcome.stderr and ANTHROPIC_SECRET not in outcome.stderr


def test_settings_repr_hides_secrets() -> None:
    """repr(), str() and a JSON dump of Settings mask both tokens."""
    settings = Settings(
        _env_file=None,
        discord_token=SecretStr(DISCORD_SECRET),
        anthropic_api_key=SecretStr(ANTHROPIC_SECRET),
        provider="anthropic",
    )
    assert settings.discord_token.get_secret_value() == DISCORD_SECRET
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert DISCORD_SECRET not in shown and ANTHROPIC_SECRET not in shown
        assert "**********" in shown
