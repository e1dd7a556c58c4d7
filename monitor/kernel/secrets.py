"""The one secret reader: environment variable, `<VAR>_FILE`, or a file in `REPMON_SECRETS_DIR`.

Why one: the pseudonymisation key, the database password, connector tokens and sink tokens used to be
read by three different pieces of code, with different rules for files and secrets directories. Every
secret now comes through `secret_from_env` (named by a variable) or `read_secret_file` (named by a path),
so "`<VAR>_FILE` also works" and "files in `$REPMON_SECRETS_DIR`" are true for every secret alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

SECRETS_DIR_VAR = "REPMON_SECRETS_DIR"


class SecretFileError(OSError):
    """A secret file that was named explicitly but cannot be read; the message says which and why."""


def read_secret_file(path: str | Path) -> SecretStr:
    """The stripped content of a secret file (`SecretFileError` naming the path when unreadable)."""
    try:
        return SecretStr(Path(path).expanduser().read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SecretFileError(f"cannot read {path}: {reason}") from exc


def secret_files(var: str, environ: Mapping[str, str]) -> list[str]:
    """Where the secret of `var` may be written, in order: `<VAR>_FILE`, then the secrets directory's
    `<var>` and `<var without repmon_>` (the names Docker/systemd credentials usually get)."""
    paths = [environ[f"{var}_FILE"]] if environ.get(f"{var}_FILE") else []
    if secrets_dir := environ.get(SECRETS_DIR_VAR):
        name = var.lower()
        paths += [os.path.join(secrets_dir, name), os.path.join(secrets_dir, name.removeprefix("repmon_"))]
    return paths


def secret_from_env(var: str | None, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The secret named by environment variable `var`: its value, else the file `<VAR>_FILE` names
    (`SecretFileError` when it cannot be read), else a file of its name in the secrets directory, else None
    (the caller says which variable to set; see `hint`)."""
    environ = os.environ if environ is None else environ
    if not var:
        return None
    if value := environ.get(var):
        return SecretStr(value)
    if named := environ.get(f"{var}_FILE"):  # named explicitly: a file that cannot be read is an error
        return read_secret_file(named)
    for path in secret_files(var, environ):  # the secrets directory: only what is there
        if os.path.isfile(path):
            return read_secret_file(path)
    return None


def hint(var: str) -> str:
    """What to do about a missing secret, in the words every error message uses."""
    return f"set {var} (or {var}_FILE with the path of a file holding it)"
