"""`/`: the chat page, static HTML and JavaScript with no build step, from app/static."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def page_mount() -> Mount:
    return Mount("/", app=StaticFiles(directory=STATIC_DIR, html=True), name="page")
