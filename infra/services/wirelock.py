"""A MongoDB wire-protocol proxy that runs one command at a time: FerretDB with
MongoDB's single-document atomicity.

MongoDB applies every single-document update atomically, which is what the chat store
builds on (findAndModify numbering, compare-and-set read positions, group versions).
FerretDB v1 does not: it reads, modifies in Go and writes back with no isolation
between connections. Measured here with 8 threads doing compare-and-set and 8 doing
`$inc` on one document, 800 each: the CAS value ended at 93 and the counter at 61
(SQLite backend; 136 and 121 on PostgreSQL). On a single connection both are exact. So
`start_mongo` puts this proxy in front of FerretDB: every client connection gets its
own upstream connection, and one lock makes each request-and-reply exclusive.

Never used with a real MongoDB (mongod or MONGODB_URI), never deployed.

    python -m infra.services.wirelock --port LISTEN --upstream HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import struct

_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_OP_MSG = 2013
_MORE_TO_COME = 1 << 1
_EXHAUST_ALLOWED = 1 << 16


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(_HEADER.size)
    length = _HEADER.unpack(header)[0]
    if not _HEADER.size <= length <= 48 * 1024 * 1024:
        raise ValueError("not a MongoDB wire message")
    return header + await reader.readexactly(length - _HEADER.size)


def _flags(message: bytes) -> int:
    """OP_MSG flag bits (0 for the legacy opcodes, which always get one reply)."""
    if _HEADER.unpack_from(message)[3] != _OP_MSG:
        return 0
    return int.from_bytes(message[_HEADER.size : _HEADER.size + 4], "little")


class WireLock:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = asyncio.Lock()

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream_r, upstream_w = await asyncio.open_connection(*self._upstream)
        try:
            while True:
                request = await _read_message(client_r)
                flags = _flags(request)
                # Awaitable `hello` (server monitoring) may stream replies for seconds:
                # read-only, so it goes through without the lock.
                lock = contextlib.nullcontext() if flags & _EXHAUST_ALLOWED else self._lock
                async with lock:
                    upstream_w.write(request)
                    await upstream_w.drain()
                    if flags & _MORE_TO_COME:
                        continue  # a fire-and-forget request: no reply
                    reply = await _read_message(upstream_r)
                client_w.write(reply)
                await client_w.drain()
                while _flags(reply) & _MORE_TO_COME:  # streamed replies
                    reply = await _read_message(upstream_r)
                    client_w.write(reply)
                    await client_w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            for writer in (upstream_w, client_w):
                writer.close()


async def _main(port: int, upstream: str) -> None:
    host, _, upstream_port = upstream.rpartition(":")
    proxy = WireLock(host, int(upstream_port))
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.services.wirelock")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.upstream))


if __name__ == "__main__":
    main()
