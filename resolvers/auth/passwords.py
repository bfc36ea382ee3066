"""Passwords: argon2id hashes, checked off the event loop, at the same cost for every email.

A sign-in for an email nobody has still verifies against a hash of the same parameters, so
the time it takes does not tell an attacker which emails have accounts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from resolvers.errors import BadUserInput

MIN_LENGTH = 8
MAX_LENGTH = 1024


def check_length(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadUserInput(
            f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters.", argument="password"
        )


@dataclass
class Passwords:
    memory_kib: int
    time_cost: int
    parallelism: int
    # Each hash holds memory_kib of RAM: at most one per core at a time.
    _slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(os.cpu_count() or 1)
    )
    _hasher: PasswordHasher = field(init=False)
    _dummy: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._hasher = PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown email), the same work, then False."""
        if password_hash is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(32))
            await self._check(self._dummy, password)
            return False
        return await self._check(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def _check(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
