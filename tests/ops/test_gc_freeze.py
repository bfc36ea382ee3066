"""Start-up freezes what it built, so full collections do not re-scan it while turns stream."""

from __future__ import annotations

import gc

from app.asgi import create_app
from app.settings import Settings


async def test_startup_objects_are_frozen_out_of_the_collectors_way(settings: Settings) -> None:
    app = create_app(settings)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        async with app.router.lifespan_context(app):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    # The schema, the table metadata and every module loaded so far: well over 10,000.
    assert frozen > 10_000
