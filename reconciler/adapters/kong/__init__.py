"""Kong adapter (DB-less and database mode); see `adapter.py`, `mappers.py` and `dbless.py`."""
