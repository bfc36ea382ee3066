"""An app of a test's own: the suite's settings with some keys changed, served by uvicorn in
this process, with its services at hand to watch or replace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from app.asgi import create_app
from app.settings import Settings
from resolvers.auth.passwords import Passwords
from resolvers.context import Services
from tests.support.server import ServerThread


@dataclass(frozen=True)
class OwnApp:
    server: ServerThread
    services: Services
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    def use_passwords(self, kind: type[P]) -> P:
        """Hash with a `kind` of Passwords (a test's subclass) of the configured cost."""
        auth = self.settings.auth
        passwords = kind(
            memory_kib=auth.argon2_memory_kib,
            time_cost=auth.argon2_time_cost,
            parallelism=auth.argon2_parallelism,
            max_concurrent=auth.argon2_max_concurrent,
        )
        self.services.passwords.close()
        self.services.passwords = passwords
        return passwords


P = TypeVar("P", bound=Passwords)


class CountingPasswords(Passwords):
    """Counts the argon2 computations it runs, hashes and verifications alike."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lock = threading.Lock()
        self.computed = 0

    def hash_blocking(self, password: str) -> str:
        with self.lock:
            self.computed += 1
        return super().hash_blocking(password)

    def verify_blocking(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.computed += 1
        return super().verify_blocking(password_hash, password)


def changed(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """`settings` with keys of some sections replaced: changed(s, auth={"x": 1})."""
    return settings.model_copy(
        update={
            name: getattr(settings, name).model_copy(update=values)
            for name, values in sections.items()
        }
    )


@contextmanager
def own_app(settings: Settings, **sections: dict[str, Any]) -> Iterator[OwnApp]:
    configured = changed(settings, **sections)
    app = create_app(configured)
    with ServerThread(app) as server:
        # The lifespan has run: the services exist.
        yield OwnApp(server=server, services=app.state.services, settings=configured)
