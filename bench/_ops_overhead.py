"""What the bot's monitoring costs under load: ``bench/bot_load.py --ops-overhead``.

The same load runs three ways, in turns, so that a slow patch of the shared machine hits each:
off (the pipeline's performance monitor with no listener, no lag sampler, no server), as built
(the monitor feeding the metrics and cost listeners, the lag sampler: what the issue's "< 2 %"
is about) and watched (the server too, scraped every second and a dashboard open, the
operator's client in this same process and loop). Wall time alone hides CPU behind model
latency, so the load's CPU time is compared too, and the monitor's own cost per step is
measured apart (it runs in every way: the pipeline always times its steps).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time

from bench._ops_watch import OpsMode
from bench.bot_load import LAG_P99_TARGET, LoadResult, load_bench, percentile
from bot.dashboard import CostToday
from bot.metrics import BotMetrics
from scriptgen.models import CallUsage
from scriptgen.monitor import PerformanceMonitor

__all__ = ["ops_overhead", "per_step_seconds"]

WALL_TARGET = 1.02
STEPS = 20_000


def per_step_seconds(listening: bool, steps: int = STEPS) -> float:
    """What recording one finished model call costs: the monitor alone, or with the bot's
    listeners (metrics, cost today) as the bot subscribes them."""
    monitor = PerformanceMonitor()
    if listening:
        metrics = BotMetrics()
        monitor.subscribe(metrics.observe_step)
        monitor.subscribe(CostToday())
    usage = CallUsage(
        step="scene:1:dialogue",
        model="claude-sonnet-5-5",
        input_tokens=1800,
        output_tokens=900,
        cache_read_tokens=2400,
        cache_write_tokens=300,
    )
    started = time.perf_counter()
    for n in range(steps):
        monitor.record(
            "dialogue",
            "scene:1:dialogue",
            label="ep-bench",
            seconds=0.2 + (n % 50) / 1000,
            queued_seconds=0.01,
            first_token_seconds=0.1,
            usage=usage,
        )
    return (time.perf_counter() - started) / steps


async def _quietly(guilds: int, per_guild: int, ops: OpsMode) -> LoadResult:
    with contextlib.redirect_stdout(io.StringIO()):
        return await load_bench(guilds, per_guild, ops=ops)


async def ops_overhead(guilds: int, per_guild: int, rounds: int = 2) -> dict[str, bool]:
    """Runs the load ``rounds`` times each way, prints the comparison; returns the verdicts."""
    print(
        f"\nThe bot's monitoring under load: {guilds * per_guild} episodes from {guilds} guilds, "
        f"{rounds} runs each of off, as built (monitor and metrics) and watched (+ server), "
        "in turns"
    )
    print(
        f"\n  {'run':<7} {'last post s':>11} {'load CPU s':>10} {'lag p99 ms':>10} "
        f"{'lag max ms':>10} {'delivered':>9}"
    )
    modes: tuple[OpsMode, ...] = ("off", "default", "on")
    names = {"off": "off", "default": "built", "on": "watched"}
    results: dict[OpsMode, list[LoadResult]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode in modes:
            result = await _quietly(guilds, per_guild, mode)
            results[mode].append(result)
            run, lags = result.run, result.sampler.lags
            wall_s = run.last_delivery - run.load_start
            print(
                f"  {names[mode]:<7} {wall_s:>11.3f} {run.load_cpu_s:>10.3f} "
                f"{percentile(lags, 0.99) * 1000:>10.1f} {max(lags, default=0.0) * 1000:>10.1f} "
                f"{len(run.deliveries):>4} / {run.expected}"
            )

    def median(mode: OpsMode, figure: str) -> float:
        values = []
        for result in results[mode]:
            run = result.run
            values.append(
                {
                    "wall": run.last_delivery - run.load_start,
                    "cpu": run.load_cpu_s,
                    "lag": percentile(result.sampler.lags, 0.99),
                }[figure]
            )
        return statistics.median(values)

    wall = median("default", "wall") / median("off", "wall")
    cpu = median("default", "cpu") / median("off", "cpu")
    wall_watched = median("on", "wall") / median("off", "wall")
    cpu_watched = median("on", "cpu") / median("off", "cpu")
    lag_off, lag_built, lag_on = (median(mode, "lag") for mode in modes)
    bare, listened = per_step_seconds(False), per_step_seconds(True)
    on_run = results["default"][-1].run
    steps = 2 * on_run.model_calls  # every call, and its checkpoint's commit
    delivered = all(len(r.run.deliveries) == r.run.expected for rs in results.values() for r in rs)
    verdicts = {
        "delivered": delivered,
        "wall time built / off": wall <= WALL_TARGET,
        "event-loop lag p99, built": lag_built < LAG_P99_TARGET,
    }
    print(f"\n  {'metric':<52} {'value':>16}   target")
    rows = [
        ("wall time to the last post, built / off (median)", f"{wall:.3f}", f"<= {WALL_TARGET}"),
        ("CPU time of the load, built / off (median)", f"{cpu:.3f}", ""),
        ("the same, watched / off: wall, CPU", f"{wall_watched:.3f}, {cpu_watched:.3f}", ""),
        (
            "event-loop lag p99, off / built / watched (median)",
            f"{lag_off * 1000:.1f} / {lag_built * 1000:.1f} / {lag_on * 1000:.1f} ms",
            f"< {LAG_P99_TARGET * 1000:.0f} ms",
        ),
        ("one step recorded: monitor alone", f"{bare * 1e6:.1f} us", ""),
        ("  monitor + the bot's listeners", f"{listened * 1e6:.1f} us", ""),
        (
            f"  x {steps} steps of a load, / its CPU time",
            f"{steps * listened / on_run.load_cpu_s:.2%}",
            "",
        ),
    ]
    for metric, value, target in rows:
        print(f"  {metric:<52} {value:>16}   {target}".rstrip())
    print("  verdicts: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdicts.items()))
    return verdicts
