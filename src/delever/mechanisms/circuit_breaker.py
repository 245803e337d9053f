"""Circuit breaker: a halt of liquidation fills after a fast move of the venue's mark price.

Rule: at each step, if ``|mark_t / mark_{t-w} - 1| > move_pct`` (``w`` = ``window_s`` in steps), trading halts
for ``halt_s``. While halted, no liquidation order reaches the book (nor the backstop, nor ADL): liquidatable
accounts wait, their positions keep moving with the mark, and they are liquidated at the first step after the
halt if still below maintenance margin. No venue publishes numeric circuit-breaker rules for perpetuals
(../shared/specs/venues.md section 13), so the thresholds are scenario parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
