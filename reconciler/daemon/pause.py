"""Runtime pause (`reconciler suspend/resume --url`): the whole daemon or single gateways.

Flux's `flux suspend` writes `spec.suspend` into the cluster object; our desired state is Git, which
the daemon never writes, so a runtime pause is kept by the daemon itself, in a small JSON file
under `cache_dir`: a pause taken during an incident survives a restart of the daemon (a pod
rescheduled mid-incident must not start applying again). It is per replica: with several
replicas, pause each (or commit `spec.suspend: true`, which every replica reads).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("reconciler.daemon.pause")


@dataclass
class PauseBook:
    path: Path | None
    """Where the pauses are kept (None: in memory only)."""
    everything: float | None = None
    """When the whole daemon was paused (None: it is not)."""
    gateways: dict[str, float] = field(default_factory=dict)
    """Paused gateway -> when."""

    @classmethod
    def load(cls, path: Path | None) -> PauseBook:
        book = cls(path)
        if path is None or not path.exists():
            return book
        try:
            data = json.loads(path.read_text())
            book.everything = float(data["all"]) if data.get("all") is not None else None
            book.gateways = {str(k): float(v) for k, v in dict(data.get("gateways") or {}).items()}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            # a corrupt file pauses everything: better no apply than an unwanted one
            log.error("cannot read the pause file %s (%s); pausing the whole daemon until `reconciler resume`",
                      path, type(exc).__name__)
            book.everything = time.time()
        return book

    def reason(self, gateway: str) -> str | None:
        if self.everything is not None:
            return "the daemon is paused (reconciler suspend)"
        if gateway in self.gateways:
            return f"gateway paused (reconciler suspend --gateway {gateway})"
        return None

    def suspend(self, gateway: str | None) -> None:
        now = time.time()
        if gateway is None:
            self.everything = self.everything or now
        else:
            self.gateways.setdefault(gateway, now)
        self._save()

    def resume(self, gateway: str | None) -> list[str] | None:
        """Lift a pause; returns the gateways resumed (None: all of them, the daemon-wide pause too)."""
        if gateway is None:
            self.everything = None
            self.gateways.clear()
            self._save()
            return None
        self.gateways.pop(gateway, None)
        self._save()
        return [gateway]

    def as_json(self) -> dict[str, Any]:
        return {"all": self.everything is not None, "since": self.everything, "gateways": dict(sorted(self.gateways.items()))}

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"all": self.everything, "gateways": self.gateways}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot write the pause file %s: %s; the pause holds until the daemon restarts",
                      self.path, exc.strerror)
