"""Passwords: argon2id hashes, computed on a small pool of threads of their own, at the same
cost for every email.

A sign-in for an email nobody has still verifies against a hash of the same parameters, so
the time it takes does not tell an attacker which emails have accounts.

Each hash takes a core and `memory_kib` of RAM for a few hundred milliseconds. The pool caps
how many run at once in this process (`[auth] argon2_max_concurrent`); the rest wait in its
queue without a thread (and, as callers hash outside any transaction, without a database
connection), so a burst of sign-ins is served in turn while every other request keeps the
event loop and the remaining cores. The pool is its own rather than the loop's default
executor, which DNS lookups and other blocking calls share.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from resolvers.errors import BadUserInput

MIN_LENGTH = 8
MAX_LENGTH = 1024
DEFAULT_MAX_CONCURRENT = 2

_T = TypeVar("_T")


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
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    _hasher: PasswordHasher = field(init=False)
    _pool: ThreadPoolExecutor = field(init=False)
    _dummy: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._hasher = PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )
        # Threads start on demand, up to the cap, and stay for the process's life.
        self._pool = ThreadPoolExecutor(
            max_workers=self.max_concurrent, thread_name_prefix="password-hash"
        )

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.hash_blocking, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown email), the same work, then False."""
        if password_hash is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(32))
            await self._off_loop(self.verify_blocking, self._dummy, password)
            return False
        return await self._off_loop(self.verify_blocking, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        """Drop queued hashes and let the running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def hash_blocking(self, password: str) -> str:
        """The work itself, run on the pool's threads (argon2-cffi releases the GIL)."""
        return self._hasher.hash(password)

    def verify_blocking(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _off_loop(self, work: Callable[..., _T], *args: str) -> _T:
        # A caller that goes away while queued takes its hash out of the queue with it.
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
