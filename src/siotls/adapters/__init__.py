"""I/O adapters around the sans-IO engine: asyncio, trio, anyio, httpcore.

This package imports nothing, so that trio and anyio stay optional: each
adapter lives in its own private module (``_asyncio`` and ``_asyncio_api``,
``_trio``, ``_anyio``, ``_httpcore``) and is published as ``siotls.asyncio``, ``siotls.trio``,
``siotls.anyio``, ``siotls.httpx``. ``_driver`` is what they share: the feed
step (bytes and EOF into the engine, with the ragged-EOF rule) used by every
adapter, and the one retry loop of the stream adapters (trio, anyio), with its
invariant; ``_info`` answers ssl-style queries about a connection.
"""
