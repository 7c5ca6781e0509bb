"""dockyard's logs: one configuration for every process, text or JSON, tied to requests.

Events go to stderr and the access log to stdout, as the reference registry writes them.
Whatever the format, a line is one line: control characters a client put into a path or
header are escaped, so nobody can forge a log line. Every line written while a request is
handled carries that request's id (``request_id``, set by the HTTP layer).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from dockyard.config import LogConfig

#: The id of the request being handled in this context ("" outside requests).
request_id: ContextVar[str] = ContextVar("dockyard_request_id", default="")

#: The logger the HTTP layer writes one access line per request to.
ACCESS_LOGGER: Final = "dockyard.access"

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """``text`` with every control character (newlines too) written as ``\\xNN``."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def timestamp(seconds: float) -> str:
    """``seconds`` since the epoch in RFC 3339, UTC, to the millisecond."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RequestIdFilter(logging.Filter):
    """Gives every record the id of the request it was logged in (``request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> [request_id=…]``, one line per record.

    A traceback follows on lines of its own, each indented, so that no line of it can
    pass for a log line.
    """

    def __init__(self, fields: dict[str, str] | None = None) -> None:
        super().__init__()
        self.suffix = "".join(f" {escape(k)}={escape(v)}" for k, v in (fields or {}).items())

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{timestamp(record.created)} {record.levelname} {record.name}: "
            f"{escape(record.getMessage())}"
        )
        rid = getattr(record, "request_id", "")
        if rid:
            line += f" request_id={escape(rid)}"
        line += self.suffix
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n    {escape(part)}" for part in trace.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with ``log.fields`` in each."""

    def __init__(self, fields: dict[str, str] | None = None) -> None:
        super().__init__()
        self.fields = fields or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        access = getattr(record.msg, "log_fields", None)
        if access is not None:
            fields = access()
            entry.update(fields)
            entry["msg"] = f"{fields['method']} {fields['path']} {fields['status']}"
        entry.update(self.fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AccessTextFormatter(logging.Formatter):
    """The access line as the HTTP layer wrote it (the Combined Log Format), nothing added."""

    def format(self, record: logging.LogRecord) -> str:
        return escape(record.getMessage())


def logging_config(log: LogConfig) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for dockyard and granian: events to stderr, the
    access log to stdout, at ``log.level`` in ``log.formatter``."""
    level = logging.getLevelName(log.python_level)
    structured = log.formatter in ("json", "logstash")
    events = {"()": f"{__name__}.{'Json' if structured else 'Text'}Formatter", "fields": log.fields}
    access = events if structured else {"()": f"{__name__}.AccessTextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"events": events, "access": access},
        "handlers": {
            "console": {
                "formatter": "events",
                "filters": ["request_id"],
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "filters": ["request_id"],
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def configure(log: LogConfig) -> dict[str, Any]:
    """Apply ``log`` to this process's logging; returns the dictConfig for granian too."""
    config = logging_config(log)
    logging.config.dictConfig(config)
    # No formatter shows where or in which thread a line was logged: skip finding out
    # for every record (the logging HOWTO's optimisations).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return config
