"""stoa-reconciler: a GitOps reconciler for API gateways.

The public API is small: load and validate a repo, plan it against the gateways, apply the plan.

    from reconciler import RunOptions, plan_repo, apply_repo
    plan = asyncio.run(plan_repo(Path("examples/repo"), RunOptions()))
"""

from __future__ import annotations

from typing import Any

from reconciler.model.version import VERSION as __version__

__all__ = ["ApplyOutcome", "RepoPlan", "RunOptions", "ValidationFailed", "__version__", "apply_repo", "plan_repo"]


def __getattr__(name: str) -> Any:
    # Imported lazily so `reconciler --help` and the emulators stay fast to start.
    if name in __all__ and name != "__version__":
        from reconciler import runner

        return getattr(runner, name)
    raise AttributeError(name)
