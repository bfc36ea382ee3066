"""Password hashes run on a pool of their own, at most `argon2_max_concurrent` at once per
process: more sign-ins wait their turn, holding no database connection, while every other
request is answered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from app.settings import Settings
from resolvers.auth.passwords import Passwords
from tests.auth.apps import own_app
from tests.auth.flows import ME, client_from, sign_in, sign_up
from tests.support.graphql import gql

CAP = 3
SIGN_INS = 2 * CAP


class GatedPasswords(Passwords):
    """Verifications wait at a gate; counts how many were asked for and how many run."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate = threading.Event()
        self.gate.set()
        self.changed = threading.Condition()
        self.asked = 0
        self.running = 0
        self.peak = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        with self.changed:
            self.asked += 1
            self.changed.notify_all()
        return await super().verify(password_hash, password)

    def verify_blocking(self, password_hash: str, password: str) -> bool:
        with self.changed:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.changed.notify_all()
        try:
            self.gate.wait()
            return super().verify_blocking(password_hash, password)
        finally:
            with self.changed:
                self.running -= 1

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for `condition`; the deadline only turns a hang into a failure."""

        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(condition, 60)

        assert await asyncio.to_thread(wait)


async def test_hashes_beyond_the_cap_queue_while_other_requests_are_answered(
    settings: Settings,
) -> None:
    # One database connection: a sign-in that held it while hashing would stall the rest.
    with own_app(
        settings,
        auth={"argon2_max_concurrent": CAP},
        database={"pool_size": 1, "max_overflow": 0},
    ) as app:
        passwords = app.use_passwords(GatedPasswords)
        try:
            async with client_from(app.url) as client:
                accounts = [await sign_up(client) for _ in range(SIGN_INS)]
                passwords.gate.clear()
                pending = [
                    asyncio.create_task(sign_in(client, account["user"]["email"]))
                    for account in accounts
                ]
                # Every sign-in has done its database work and asked for its hash.
                await passwords.until(
                    lambda: passwords.asked == SIGN_INS and passwords.running >= CAP
                )
                me = await gql(client, ME, token=accounts[0]["accessToken"])
                assert me["data"]["me"]["id"] == accounts[0]["user"]["id"]
                assert not any(task.done() for task in pending)
                assert passwords.running == CAP
                passwords.gate.set()
                bodies = await asyncio.gather(*pending)
        finally:
            passwords.gate.set()
    assert [body.get("errors") for body in bodies] == [None] * SIGN_INS
    assert passwords.peak == CAP
