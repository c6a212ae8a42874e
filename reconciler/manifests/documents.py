"""Every document kind the loader knows, built explicitly (no registration on import)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from reconciler.manifests.extended import EXTENDED_MODELS
from reconciler.manifests.models import CORE_MODELS

DOCUMENT_MODELS: Mapping[str, type[BaseModel]] = {**CORE_MODELS, **EXTENDED_MODELS}
"""Kind name -> pydantic model of its documents."""
