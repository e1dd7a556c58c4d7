"""Expected operational faults -> one sentence saying what to do.

An operator whose database is down or full needs the cause and the fix, not 40 lines of traceback. The
CLI (`monitor.cli.faults`) prints the sentence and exits non-zero; the daemon logs it once per outage and
keeps running. Anything `explain` does not recognise is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import re

_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return _URL_PASSWORD.sub(r"\1***@", text[0] if text else type(exc).__name__)


def _database_fault(exc: BaseException) -> str | None:
    """Messages of sqlite3 / psycopg operational errors, matched by the phrases both drivers use."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "no space left" in text or "disk is full" in text or "could not extend file" in text:
        return "the disk holding the database is full: free space (or move the database), then run it again"
    if "readonly database" in text or "read-only" in text or "read only" in text:
        return (
            "the database is read-only (file permissions, a read-only mount, or a PostgreSQL replica): "
            "give the repmon user write access or point [database] url / REPMON_DATABASE_URL at the primary"
        )
    if "unable to open database file" in text:
        return (
            "cannot open the SQLite database file: check that its directory exists and is writable, "
            "or set [database] url / REPMON_DATABASE_URL"
        )
    if "connection refused" in text or "could not connect" in text or "connection failed" in text:
        return (
            f"cannot connect to the database ({_first_line(exc)}): is PostgreSQL running and reachable? "
            "Check [database] url / REPMON_DATABASE_URL"
        )
    if "password authentication failed" in text or "no password supplied" in text:
        return "the database refused the login: check REPMON_DATABASE_PASSWORD and the user in the database URL"
    if "does not exist" in text and "database" in text:
        return f"{_first_line(exc)}: create it (createdb) or fix the name in the database URL"
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "the database has no repmon schema yet: run `repmon db upgrade`"
    if "database is locked" in text:
        return "the SQLite database stayed locked for 30 s (another repmon process writing?): try again"
    return None


def explain(exc: BaseException) -> str | None:
    """One sentence for an expected operational fault, or None for a bug (which keeps its traceback)."""
    from sqlalchemy.exc import DBAPIError, InternalError, NoSuchModuleError, OperationalError

    from monitor.daemon import SchemaOutOfDate

    if isinstance(exc, SchemaOutOfDate):
        return str(exc)
    if isinstance(exc, DBAPIError):  # read-only is an InternalError on psycopg, "no table" a ProgrammingError
        known = _database_fault(exc)
        if known is None and isinstance(exc, OperationalError | InternalError):
            known = f"database error: {_first_line(exc)}"
        return known
    slack = _slack_fault(exc)
    if slack is not None:
        return slack
    if isinstance(exc, NoSuchModuleError):
        return f"{exc}: use a sqlite:/// or postgresql+psycopg:// database URL"
    if isinstance(exc, ModuleNotFoundError):
        return f"the Python module {exc.name!r} is not installed: run `make install` (or pip install it)"
    if isinstance(exc, UnicodeError):
        return f"a file is not valid text ({exc}): save it as UTF-8"
    if isinstance(exc, OSError):
        name = getattr(exc, "filename", None)
        where = f" ({name})" if name else ""
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}: free space and run it again"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"permission denied{where}: check the path and that the repmon user may write there"
        if exc.errno == errno.ENOENT:
            return f"no such file or directory{where}: check the path (database URL, --output, settings)"
        return f"{exc.strerror or exc}{where}"
    return None


def _slack_fault(exc: BaseException) -> str | None:
    """slack-sdk errors (e.g. `repmon slack-listen` with a revoked app-level token)."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    if isinstance(exc, SlackApiError):
        data = getattr(exc.response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        return f"Slack refused the request ({code or 'error'}): run `repmon slack test` to see which token to fix"
    if isinstance(exc, SlackClientError):
        return f"Slack client error ({type(exc).__name__}): run `repmon slack test`"
    return None
