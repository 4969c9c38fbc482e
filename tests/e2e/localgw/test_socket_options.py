"""Sockets the gateway accepts have TCP_NODELAY, like every asyncio server socket.

Without it, two frames written back to back to one client (a pushed message and an
ack) wait for the client's delayed ACK -- about 40 ms each time (Nagle). asyncio sets
the option only when the listening socket's protocol is TCP, so the socket the gateway
binds itself must say so.
"""

from __future__ import annotations

import asyncio
import socket

from infra.localgw.server import _bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = _bind("127.0.0.1", 0)
    port = listener.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.wait_for(accepted.wait(), 5)
            writer.close()

    asyncio.run(main())
    assert seen == [1]
