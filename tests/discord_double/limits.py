"""Rate limits as Discord applies them: a global per-second limit, buckets with headers."""

from __future__ import annotations

import math
import time


def _ceil_ms(seconds: float) -> float:
    return math.ceil(max(seconds, 0.0) * 1000) / 1000


class GlobalLimiter:
    """Fixed one-second windows of ``per_second`` requests (Discord's global bot limit)."""

    def __init__(self, per_second: float) -> None:
        self.limit = per_second
        self._window_start = -math.inf
        self._count = 0

    def retry_after(self, now: float) -> float | None:
        """Count a request; return seconds to wait if it is over the limit, else None."""
        if now - self._window_start >= 1.0:
            self._window_start, self._count = now, 0
        if self._count >= self.limit:
            return _ceil_ms(self._window_start + 1.0 - now)
        self._count += 1
        return None


class BucketLimiter:
    """``limit`` requests per ``per`` seconds for each key (e.g. each channel), with headers."""

    def __init__(self, limit: int, per: float, bucket: str) -> None:
        self.limit = limit
        self.per = per
        self.bucket = bucket
        self._windows: dict[object, list[float]] = {}

    def hit(self, key: object, now: float) -> tuple[float | None, dict[str, str]]:
        """Count a request; return (retry_after or None, the X-RateLimit-* headers to send)."""
        window = self._windows.get(key)
        if window is None or now >= window[0] + self.per:
            window = self._windows[key] = [now, 0]
        reset_after = _ceil_ms(window[0] + self.per - now)
        limited = window[1] >= self.limit
        if not limited:
            window[1] += 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(int(self.limit - window[1])),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }
        return (reset_after if limited else None), headers
