"""STOA Rust gateway (every stoa_* gateway type): adapter, mappers and emulator in one folder.

This folder is the shape of a gateway plugin: `adapter.py` (the 16-method contract), `mappers.py`
(pure translation), `emulator.py` (the admin API on loopback, written from the STOA guide, never
importing the adapter), and `GATEWAYS` below, registered by one entry-point line in `pyproject.toml`.
"""

from reconciler.model.gateways import GatewayTypeInfo

_MODES = {
    "stoa": "STOA Gateway (generic)",
    "stoa_edge_mcp": "STOA in edge-mcp mode",
    "stoa_sidecar": "STOA in sidecar mode",
    "stoa_proxy": "STOA in proxy mode",
    "stoa_shadow": "STOA in shadow mode",
}

GATEWAYS = tuple(
    GatewayTypeInfo(
        name=name,
        adapter="reconciler.adapters.stoa.adapter:StoaAdapter",
        emulator="reconciler.adapters.stoa.emulator:StoaEmulator",
        emulator_name="stoa",
        credentials={"token": "token"},
        checks="reconciler.model.checks:no_checks",
        rank=rank,
        description=description,
    )
    for rank, (name, description) in enumerate(_MODES.items())
)
