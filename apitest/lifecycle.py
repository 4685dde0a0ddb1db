"""Process lifecycle shared by the server, the readiness probe and the shutdown sequence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Lifecycle:
    started_at: float = field(default_factory=time.time)
    draining: bool = False  # set when shutdown starts; /readyz then answers 503

    def uptime_seconds(self) -> float:
        return time.time() - self.started_at
