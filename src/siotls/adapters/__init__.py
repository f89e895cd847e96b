"""I/O adapters around the sans-IO engine: asyncio, trio, anyio.

This package imports nothing, so that trio and anyio stay optional: each
adapter lives in its own private module (``_asyncio``, ``_trio``, ``_anyio``)
and is published as ``siotls.asyncio``, ``siotls.trio``, ``siotls.anyio``.
"""
