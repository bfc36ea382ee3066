"""The HTTP transport the gateway's client uses: httpx's, on a connection pool whose
bookkeeping is linear in its connections.

httpcore 1.0's `AsyncConnectionPool._assign_requests_to_connections` runs when every request
starts and every response closes. Its clean-up loop counts the pool's connections once per
idle connection (`len([c.is_idle() for c in connections])`), so a pool holding N
connections with K idle spends O(K x N) on each of those events, and a burst of N streams
after an earlier one spends O(N^3). That count is also of all connections, not of idle ones,
so once more than `max_keepalive_connections` streams are open every connection that goes
idle is closed, and the next request pays for a new TCP connection.

`LinearPool` keeps the method's behaviour otherwise, with the idle connections counted once
per call and `max_keepalive_connections` bounding idle connections, as documented.
"""

from __future__ import annotations

import time

import httpcore
import httpx


class LinearPool(httpcore.AsyncConnectionPool):
    # Whether an idle connection's server hung up costs a poll() of its socket; httpcore polls
    # every idle socket on every pass. Here a connection is polled before it is reused, and
    # all idle ones at most once per SWEEP_SECONDS (keep-alive expiry, hung-up servers).
    SWEEP_SECONDS = 1.0
    _next_sweep = 0.0

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
        # Closed, expired and surplus idle connections leave; idle ones counted once.
        kept: list[httpcore.AsyncConnectionInterface] = []
        idle: list[httpcore.AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            is_idle = connection.is_idle()
            if (sweep or not is_idle) and connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            if is_idle:
                idle.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:
            # The longest-standing idle connections go first, as in httpcore.
            dropped = idle[:surplus]
            idle = idle[surplus:]
            closing += dropped
            gone = set(map(id, dropped))
            kept = [c for c in kept if id(c) not in gone]
        self._connections = kept

        # Queued requests to connections: as in httpcore, but an idle connection is checked
        # for expiry before it is reused.
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = None
            for candidate in list(self._connections):
                if candidate.can_handle_request(origin) and candidate.is_available():
                    if candidate.is_idle() and candidate.has_expired():
                        self._connections.remove(candidate)
                        closing.append(candidate)
                        if candidate in idle:
                            idle.remove(candidate)
                        continue
                    available = candidate
                    break
            if available is not None:
                pool_request.assign_to_connection(available)
            elif len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            elif idle:
                # Make room: close an idle connection, open one to this origin.
                oldest = idle.pop(0)
                self._connections.remove(oldest)
                closing.append(oldest)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
        return closing


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (TLS, proxies from the environment stay the client's) on `LinearPool`."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        built = self._pool
        if not isinstance(built, httpcore.AsyncConnectionPool):
            # A newer httpx building another pool: fail at start-up, not on a request.
            raise TypeError(f"httpx built a {type(built).__name__}, not an AsyncConnectionPool")
        # The same arguments httpx gave its own pool, TLS context included.
        self._pool = LinearPool(
            ssl_context=built._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
        )
