"""The bot's Prometheus metrics, in a registry of its own (never the process-global one).

Finished steps come from the performance monitor as they finish (one cheap update each); what
has a current value (the limiter, episodes in flight, status edits, episodes by outcome) is read
at scrape time from the objects that hold it, so the pipeline pays nothing for it. Labels are
step kinds, outcomes, models and HTTP statuses: never guild, user or episode ids, nor text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scriptgen.limiter import FairLimiter
from scriptgen.monitor import StepTiming

__all__ = ["BotMetrics", "LiveCounts"]

CALL_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
QUEUE_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class LiveCounts:
    """What the bot holds right now, read at each scrape."""

    episodes_by_outcome: Callable[[], Mapping[str, int]]
    episodes_in_flight: Callable[[], int]
    rewrites_in_flight: Callable[[], int]
    status_edits: Callable[[], Mapping[str, int]]
    """Status message edits by outcome (``ok``, ``failed``)."""


@dataclass(frozen=True, slots=True)
class _StepSeries:
    """One step kind's labelled series."""

    calls: dict[str, Counter]
    seconds: Histogram
    queued: Histogram
    first_token: Histogram
    slow: Counter


@dataclass(frozen=True, slots=True)
class _ModelSeries:
    """One model's labelled series: its tokens by kind, and its cost."""

    input: Counter
    output: Counter
    cache_read: Counter
    cache_write: Counter
    cost: Counter


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "showrunner_model_calls",
            "Model calls by step kind and outcome: ok, error, cancelled, reused (checkpointed).",
            ["step", "outcome"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "showrunner_model_call_duration_seconds",
            "Wall time of a model call inside its limiter slot, by step kind.",
            ["step"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.first_token_seconds = Histogram(
            "showrunner_model_time_to_first_token_seconds",
            "Time from a streamed call's start to its first token, by step kind.",
            ["step"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "showrunner_limiter_wait_seconds",
            "Time a model call waited for a limiter slot, by step kind.",
            ["step"],
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "showrunner_model_tokens",
            "Tokens of new model calls by model and kind (input, output, cache_read, cache_write).",
            ["model", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "showrunner_model_cost_usd",
            "What new model calls cost, in US dollars, by model (models without a price: 0).",
            ["model"],
            registry=r,
        )
        self.slow_steps = Counter(
            "showrunner_slow_steps",
            "Steps the performance monitor judged slow, by step kind.",
            ["step"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "showrunner_checkpoint_commit_seconds",
            "From a step's hand-over to its checkpoint committed on disk.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "showrunner_event_loop_lag_seconds",
            "How late a sleeping task in the event loop wakes.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.discord_responses = Counter(
            "showrunner_discord_responses",
            "Responses of Discord's REST API to the bot, by HTTP status (429: rate limited).",
            ["status"],
            registry=r,
        )
        self._steps: dict[str, _StepSeries] = {}
        self._models: dict[str, _ModelSeries] = {}

    def observe_step(self, timing: StepTiming) -> None:
        """A finished step (a monitor listener: synchronous and cheap, so the labelled series
        are looked up once per step kind and model, not on every step)."""
        if timing.kind == CHECKPOINT:
            if timing.outcome == "ok":
                self.commit_seconds.observe(timing.seconds)
            return
        series = self._steps.get(timing.kind) or self._step_series(timing.kind)
        calls = series.calls.get(timing.outcome)
        if calls is None:
            calls = series.calls[timing.outcome] = self.calls.labels(timing.kind, timing.outcome)
        calls.inc()
        if timing.slow:
            series.slow.inc()
        if timing.outcome == "reused":
            return  # paid for when it was first written: no time, tokens or cost now
        series.seconds.observe(timing.seconds)
        series.queued.observe(timing.queued_seconds)
        if timing.first_token_seconds is not None:
            series.first_token.observe(timing.first_token_seconds)
        usage = timing.usage
        if usage is not None:
            model = self._models.get(usage.model) or self._model_series(usage.model)
            for child, count in (
                (model.input, usage.input_tokens),
                (model.output, usage.output_tokens),
                (model.cache_read, usage.cache_read_tokens),
                (model.cache_write, usage.cache_write_tokens),
            ):
                if count:
                    child.inc(count)
            if timing.cost_usd:
                model.cost.inc(timing.cost_usd)

    def _step_series(self, kind: str) -> _StepSeries:
        series = self._steps[kind] = _StepSeries(
            {},
            self.call_seconds.labels(kind),
            self.queue_seconds.labels(kind),
            self.first_token_seconds.labels(kind),
            self.slow_steps.labels(kind),
        )
        return series

    def _model_series(self, model: str) -> _ModelSeries:
        tokens = self.tokens
        series = self._models[model] = _ModelSeries(
            tokens.labels(model, "input"),
            tokens.labels(model, "output"),
            tokens.labels(model, "cache_read"),
            tokens.labels(model, "cache_write"),
            self.cost.labels(model),
        )
        return series

    def discord_trace(self) -> aiohttp.TraceConfig:
        """For discord.py's ``http_trace``: counts its REST responses by status."""
        trace = aiohttp.TraceConfig()

        async def on_end(
            _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            self.discord_responses.labels(str(params.response.status)).inc()

        trace.on_request_end.append(on_end)
        return trace

    def watch(self, limiter: FairLimiter | None, live: LiveCounts) -> None:
        """Reads the limiter and the bot's counts at each scrape."""
        self.registry.register(_LiveCollector(limiter, live))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(self, limiter: FairLimiter | None, live: LiveCounts) -> None:
        self.limiter = limiter
        self.live = live

    def collect(self) -> Iterable[Metric]:
        episodes = CounterMetricFamily(
            "showrunner_episodes",
            "Episodes that ended in this process, by outcome (done, failed, cancelled, paused).",
            labels=["outcome"],
        )
        for outcome, count in sorted(self.live.episodes_by_outcome().items()):
            episodes.add_metric([outcome], count)
        yield episodes
        yield GaugeMetricFamily(
            "showrunner_episodes_in_flight",
            "Episodes being written now.",
            value=self.live.episodes_in_flight(),
        )
        yield GaugeMetricFamily(
            "showrunner_rewrites_in_flight",
            "Scene rewrites (notes) being written now.",
            value=self.live.rewrites_in_flight(),
        )
        edits = CounterMetricFamily(
            "showrunner_status_edits",
            "Edits of episodes' and rewrites' status messages, by outcome (ok, failed).",
            labels=["outcome"],
        )
        for outcome, count in sorted(self.live.status_edits().items()):
            edits.add_metric([outcome], count)
        yield edits
        limiter = self.limiter
        if limiter is None:
            return
        for name, text, value in (
            ("limit", "Model calls the adaptive limiter admits at once now.", limiter.capacity),
            ("max_capacity", "The configured bound on model calls at once.", limiter.max_capacity),
            ("in_flight", "Model calls holding a limiter slot.", limiter.in_flight),
            ("waiting", "Model calls waiting for a limiter slot.", limiter.waiting),
        ):
            yield GaugeMetricFamily(f"showrunner_limiter_{name}", text, value=value)
