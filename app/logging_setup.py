"""Logging for the process and its uvicorn workers: JSON lines when stderr is not a terminal
(a container's log collector), readable text on one. Every line carries the request id of the
request or WebSocket it belongs to, so a chat turn's lines can be pulled out together.

Secrets never reach a line on purpose; the redaction here is a second net for what slips
through (a bearer token in an exception message, a key in a provider's error text).
Access lines keep the path and drop the query string, which can carry a GraphQL document
and with it a user's message; health probes get none unless `[server] log_probes` is on.
The embedded PostgreSQL's own chatter (initdb, pg_ctl) goes to `data_dir/postgres.log`.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from app.settings import ServerSettings

REQUEST_ID: ContextVar[str | None] = ContextVar("reactor_request_id", default=None)

REDACTED = "[redacted]"
_SECRETS = (
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"),  # OpenAI-style keys, OpenRouter's sk-or-…
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(
        r"(?i)\b((?:api[_-]?key|password|passwd|secret|token|authorization)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"'&,;}\\]{4,}"
    ),
)
# What a database error may quote of the data: PostgreSQL's DETAIL (a failing row, a key's
# value) and SQLAlchemy's bound parameters, where an engine does not hide them.
_DATA = (
    re.compile(r"(DETAIL:\s+).*"),
    re.compile(r"(\[parameters: ).*?\](?=\s*(?:\(Background|$))", re.S | re.M),
)
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)


def redact(text: str) -> str:
    """`text` with anything shaped like a credential, or quoting stored data, replaced."""
    for pattern in _SECRETS + _DATA:
        text = pattern.sub(
            lambda m: (m.group(1) + REDACTED) if m.re.groups else REDACTED,
            text,
        )
    return text


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the context it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


PROBES = frozenset({"/healthz", "/readyz"})
POSTGRES_LOG = "postgres.log"


class AccessPathFilter(logging.Filter):
    """uvicorn's access records, with the query string cut from the path; health probes'
    records dropped unless `log_probes`."""

    def __init__(self, log_probes: bool = False) -> None:
        super().__init__()
        self.log_probes = log_probes

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            if path in PROBES and not self.log_probes:
                return False
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


class AlembicChatterFilter(logging.Filter):
    """Drops the two lines alembic logs whenever it looks at a database (every /readyz does),
    keeping the ones that say which migrations ran."""

    CHATTER = frozenset({"Context impl %s.", "Will assume %s DDL."})  # alembic's format strings

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.CHATTER


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return redact(super().format(record))


def resolved_format(server: ServerSettings) -> Literal["json", "text"]:
    if server.log_format != "auto":
        return server.log_format
    return "text" if sys.stderr.isatty() else "json"


def log_config(server: ServerSettings, level: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for this process and for uvicorn's (each worker applies
    it again, as uvicorn configures logging in every worker it spawns). `level` overrides
    `[server] log_level` (a one-shot command that should print only its result)."""
    formatter = "app.logging_setup.JsonFormatter"
    if resolved_format(server) == "text":
        formatter = "app.logging_setup.TextFormatter"
    level = (level or server.log_level).upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "app.logging_setup.RequestIdFilter"},
            "access_path": {
                "()": "app.logging_setup.AccessPathFilter",
                "log_probes": server.log_probes,
            },
            "alembic_chatter": {"()": "app.logging_setup.AlembicChatterFilter"},
        },
        "formatters": {
            "default": {"()": formatter},
            "access": {"()": formatter},
            "text": {"()": "app.logging_setup.TextFormatter"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            },
            "access": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "access",
                "filters": ["request_id", "access_path"],
            },
            # Opened on the first line, so only where the embedded database runs.
            "postgres": {
                "class": "logging.FileHandler",
                "filename": str(server.data_dir / POSTGRES_LOG),
                "delay": True,
                "encoding": "utf-8",
                "formatter": "text",
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            # Their DEBUG lines can hold request bodies and headers.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
            "alembic.runtime.migration": {"filters": ["alembic_chatter"]},
            "pgserver": {"handlers": ["postgres"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(server: ServerSettings, level: str | None = None) -> None:
    logging.config.dictConfig(log_config(server, level))
