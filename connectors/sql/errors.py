"""Map database failures to :mod:`connectors.errors`, by SQLSTATE where the driver gives one.

Whether to retry depends on *why* a statement failed, not on the Python class
alone: SQLite reports a missing table and a locked file with the same
``OperationalError``, so its error name decides; PostgreSQL's SQLSTATE class
does. Messages carry the driver's text without the SQL, the parameters or the
DSN password.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from connectors.errors import BadResponse, FetchError, InvalidRequest, UpstreamRejected, UpstreamUnavailable

RETRIABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58", "XX"})
"""Connection exception, transaction rollback (deadlock, serialization), insufficient
resources, operator intervention (shutdown, cancel), system and internal errors."""
REFUSED_SQLSTATE_CLASSES = frozenset({"28", "3D"})
"""Bad credentials or an unknown database: the source's settings, not the query, are wrong."""
RETRIABLE_SQLITE_ERRORS = frozenset(
    {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_NOMEM", "SQLITE_PROTOCOL"}
)


def error_for_exception(exc: BaseException, *, source: str, safe_dsn: str, secret: str | None) -> FetchError:
    """The typed error for a failure of one query; ``secret`` (the password) is scrubbed from the text."""
    orig = getattr(exc, "orig", None) or exc
    detail = _scrub(_first_line(orig), secret)
    if isinstance(exc, OSError | TimeoutError):
        return UpstreamUnavailable(f"cannot reach {safe_dsn}: {detail}", source=source)
    if isinstance(exc, sa_exc.TimeoutError):
        return UpstreamUnavailable(f"no free connection in the pool of {safe_dsn}: {detail}", source=source)
    if not isinstance(exc, sa_exc.DBAPIError):
        if isinstance(exc, sa_exc.StatementError):
            return InvalidRequest(f"query rejected: {detail}", source=source)
        return BadResponse(f"query failed: {type(exc).__name__}: {detail}", source=source)
    if exc.connection_invalidated:
        return UpstreamUnavailable(f"connection to {safe_dsn} lost: {detail}", source=source)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return _by_sqlstate(sqlstate, detail=detail, source=source, safe_dsn=safe_dsn)
    sqlite_error = getattr(orig, "sqlite_errorname", None)
    if isinstance(sqlite_error, str):
        if sqlite_error.split("_")[:2] == ["SQLITE", "IOERR"] or sqlite_error in RETRIABLE_SQLITE_ERRORS:
            return UpstreamUnavailable(f"database {safe_dsn} unavailable: {detail}", source=source)
        return InvalidRequest(f"query rejected: {detail}", source=source)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.InternalError):
        return UpstreamUnavailable(f"database {safe_dsn} unavailable: {detail}", source=source)
    return InvalidRequest(f"query rejected: {detail}", source=source)


def _by_sqlstate(sqlstate: str, *, detail: str, source: str, safe_dsn: str) -> FetchError:
    code_class = sqlstate[:2]
    if code_class in RETRIABLE_SQLSTATE_CLASSES:
        return UpstreamUnavailable(f"database {safe_dsn} unavailable [{sqlstate}]: {detail}", source=source)
    if code_class in REFUSED_SQLSTATE_CLASSES:
        return UpstreamRejected(
            f"database {safe_dsn} refused the connection [{sqlstate}]: {detail}", source=source
        )
    return InvalidRequest(f"query rejected [{sqlstate}]: {detail}", source=source)


def _first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's appended SQL and parameters."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
