"""An app of a test's own: the suite's settings with some keys changed, served by uvicorn in
this process, with its services at hand to watch or replace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from app.asgi import create_app
from app.settings import Settings
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
