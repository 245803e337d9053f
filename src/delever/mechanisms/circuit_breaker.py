"""Circuit breaker: a halt of liquidation fills after a fast move of the venue's mark price.

Rule: at each step, if ``|mark_t / mark_{t-w} - 1| > move_pct`` (``w`` = ``window_s`` in steps), trading halts
for ``halt_s``. While halted, no liquidation order reaches the book (nor the backstop, nor ADL): liquidatable
accounts wait, their positions keep moving with the mark, and they are liquidated at the first step after the
halt if still below maintenance margin. No venue publishes numeric circuit-breaker rules for perpetuals
(../shared/specs/venues.md section 13), so the thresholds are scenario parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import NO_ACCOUNTS, Mechanism, steps_of


@dataclass
class CircuitBreaker:
    """Stateful breaker over the mark series (ticks); times in steps."""

    window_steps: int
    move_ppm: int
    halt_steps: int
    halted_until: int = -1
    halts: list[tuple[int, int]] = field(default_factory=list)

    def update(self, t: int, marks) -> bool:
        """Whether step ``t`` is halted, given ``marks[:t + 1]`` (int ticks)."""
        if t < self.halted_until:
            return True
        ref = int(marks[max(0, t - self.window_steps)])
        now = int(marks[t])
        if ref > 0 and abs(now - ref) * 1_000_000 > self.move_ppm * ref:
            self.halted_until = t + self.halt_steps
            self.halts.append((t, self.halted_until))
            return True
        return False


class CircuitBreakers(Mechanism):
    """The step loop's circuit breakers (:mod:`delever.mechanisms.base`): one :class:`CircuitBreaker` per
    instrument on its own mark; before the sweep it gates that instrument (a halted instrument's positions
    wait, the others liquidate). Counts the steps on which any instrument was halted."""

    name = "circuit_breaker"
    per_step = True

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> CircuitBreakers | None:
        cb = scenario.mechanisms.circuit_breaker
        return cls(cb) if cb.enabled else None

    def setup(self, sim) -> None:
        cb, dt = self.config, sim.dt
        self.breakers = [
            CircuitBreaker(steps_of(cb.window_s, dt), int(round(cb.move_pct * 10_000)), steps_of(cb.halt_s, dt))
            for _ in range(sim.M)
        ]
        self.halted_steps = 0
        self.last_halted_step = -1

    def before_sweep(self, sim, t: int, m: int) -> bool:
        breaker = self.breakers[m]
        if not breaker.update(t, sim.mark_s_all[m]):
            return False
        if breaker.halts and breaker.halts[-1][0] == t:
            sim.note(self.name, NO_ACCOUNTS, 0)
        if self.last_halted_step != t:  # a step counts once, however many instruments halt
            self.halted_steps += 1
            self.last_halted_step = t
        return True

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["halts"] = sorted(h for br in self.breakers for h in br.halts)
        extra[self.name]["halted_steps"] = self.halted_steps

    def instrument_figures(self, sim, m: int, record: dict) -> None:
        record["halts"] = list(self.breakers[m].halts)
