"""Structured JSON logs that cannot carry personal data.

A redaction filter runs on every record before formatting: secret or personal fields, URLs,
tokens, SDP and e-mail addresses are replaced, exceptions are logged as type and frames only.
stdlib logging on purpose: Powertools' Logger costs ~32 ms of cold-start CPU more and redacts
nothing by itself (docs/performance.md, "Powertools: measured, not adopted").
Details: docs/privacy.md, "Logs".
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

# Field-name words whose values never reach a log line ("user_id", "streamUri", "offer_sdp", ...).
_SENSITIVE_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "password",
        "authorization",
        "code",
        "uri",
        "url",
        "sdp",
        "offer",
        "answer",
        "name",
        "names",
        "email",
        "phone",
        "id",
        "ids",
        "serial",
        "mac",
        "ssid",
        "bssid",
        "ip",
        "location",
        "cookie",
        "body",
        "nickname",
        "avatar",
    }
)
# Names made of those words that hold only safe, bounded values.
_SAFE_KEYS = frozenset(
    {
        "error_code",
        "status_code",
        "event_name",
        "intent_name",
        "interface_name",
        "correlation_id",
        "message_id",
        "request_id",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

_PATTERNS = (
    re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+"),  # any URL (rtsps, https, ...)
    re.compile(r"\bAtz[ar]\|\S+"),  # Login with Amazon tokens
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"v=0(?:\r?\n|\\r\\n|\\n).*", re.S),  # SDP bodies
    re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"),  # e-mail addresses
    re.compile(r"\bz1_[A-Za-z0-9_-]{8,}"),  # endpointIds
)


def _is_sensitive_key(key: str) -> bool:
    words = [w.lower() for w in _WORD.findall(key)]
    if "_".join(words) in _SAFE_KEYS:
        return False
    return any(w in _SENSITIVE_WORDS for w in words)


def scrub_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with every sensitive field and pattern redacted."""
    if key and _is_sensitive_key(key):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        # A NamedTuple is a record (contract.Device, StreamProfile), not a list of values: its
        # fields (a camera name, a raw device id) carry no key to judge them by. Type name only.
        return scrub_text(type(value).__name__)
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(type(value).__name__)


class RedactionFilter(logging.Filter):
    """Scrubs message, arguments and fields of every record in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line, nor leak the args
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        # A messageId is the caller's text: it passes redaction like every other value.
        cid = correlation_id.get()
        record.correlation_id = scrub_text(cid) if cid else None
        fields = getattr(record, "fields", None)
        if fields is not None:
            record.fields = scrub(fields)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            frames = [
                f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)
            ]
            summary: dict[str, Any] = {"type": exc_type.__name__, "frames": frames[-8:]}
            if exc is not None:
                from skill import native_imports  # an error path: its import waits until needed

                native = native_imports.diagnose(exc)
                if native:  # the module and the platforms, never the message (it names paths)
                    summary["native_module"] = scrub(native)
            record.exception_summary = summary
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, line_end: str = "") -> None:
        super().__init__()
        self.line_end = line_end  # the runtime's handler writes records as given, ending included

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
        }
        cid = getattr(record, "correlation_id", None)
        if cid:
            line["correlation_id"] = cid
        fields = getattr(record, "fields", None)
        if fields:
            line["fields"] = fields
        summary = getattr(record, "exception_summary", None)
        if summary:
            line["exception"] = summary
        return json.dumps(line, separators=(",", ":"), default=str) + self.line_end


_configured = False


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Install JSON formatting with redaction on the root logger (once per container).

    Under the Lambda runtime (awslambdaric) the root logger already holds the runtime's handler,
    which writes each record as one telemetry frame with its level. That handler is given our
    filter and formatter instead of adding a second one: two handlers printed every record twice,
    once in the runtime's plain ``[LEVEL]\t<time>\t<request id>\t<message>`` format.
    """
    global _configured
    root = logging.getLogger()
    if _configured and stream is None:
        return
    for handler in list(root.handlers):
        if getattr(handler, "_zosi", False):
            root.removeHandler(handler)
    others = [h for h in root.handlers if not getattr(h, "_zosi_adopted", False)]
    if stream is None and others and os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        for runtime_handler in others:
            runtime_handler.addFilter(RedactionFilter())
            runtime_handler.setFormatter(JsonFormatter(line_end="\n"))
            runtime_handler._zosi_adopted = True  # type: ignore[attr-defined]
    else:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler._zosi = True  # type: ignore[attr-defined]
        handler.addFilter(RedactionFilter())
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        # Any other handler (a test's capture) sees only redacted records too.
        for other in others:
            other.addFilter(RedactionFilter())
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (scrubbed like everything else)."""
    logger.log(level, message, extra={"fields": fields} if fields else None)


def log_failure(
    logger: logging.Logger, level: int, message: str, exc: BaseException | None, **fields: Any
) -> None:
    """``log`` plus the summary of ``exc`` (type, frames and, for a failed native import, what the
    module was built for), never its message."""
    logger.log(level, message, exc_info=exc, extra={"fields": fields} if fields else None)
