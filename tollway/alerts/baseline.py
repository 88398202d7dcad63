"""An exponentially weighted mean and variance, and the z-score of a new value against it."""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.1
"""Weight of the newest value: about the last 20 intervals matter."""


@dataclass(slots=True)
class Ewma:
    """Running mean and variance of one series."""

    mean: float = 0.0
    variance: float = 0.0
    observations: int = 0

    def add(self, value: float, alpha: float = ALPHA) -> None:
        """Fold in one value (the first one sets the mean)."""
        if self.observations == 0:
            self.mean, self.variance = value, 0.0
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.variance = (1 - alpha) * (self.variance + alpha * delta * delta)
        self.observations += 1

    def z(self, value: float) -> float:
        """How many deviations `value` lies from the mean. The deviation is at least the
        square root of the mean (counts vary at least that much) and at least 1, so a quiet,
        steady series does not make every small change an anomaly."""
        spread = max(math.sqrt(self.variance), math.sqrt(max(self.mean, 0.0)), 1.0)
        return (value - self.mean) / spread
