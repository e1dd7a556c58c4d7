"""The configuration: one TOML file, validated as a whole, every problem reported with its location.

Why collect problems instead of failing on the first: an operator fixing a config file wants the full
list (`brands["Telia"].sources["mastodon"].settings.instance: …`) in one run, not one error per restart.
Checks across sections (routes vs sinks and secrets, languages, drivers, tag collisions) live in
`monitor.config_checks`.

Secrets never live in the file. The pseudonymisation key, the database password and every `SecretStr`
field of a connector's settings come from the environment (`REPMON_…`) or from secret files; a secret
written literally in the file is itself reported as a problem.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import platformdirs
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url

from alerts.config import AlertsConfig
from models.config import ModelConfig
from monitor.detect.config import DetectConfig
from monitor.kernel import plugins
from monitor.kernel.duration import Duration
from monitor.kernel.secrets import SecretFileError, read_secret_file, secret_from_env
from monitor.kernel.store.pseudonym import MIN_KEY_BYTES, Pseudonymiser

log = logging.getLogger(__name__)
DEFAULT_PATH = Path("repmon.toml")
APP_NAME = "repmon"


def data_dir() -> Path:
    """Where the default database and key file live (XDG data dir, e.g. ~/.local/share/repmon)."""
    return Path(os.environ.get("REPMON_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'repmon.db'}"


def default_key_file() -> Path:
    return data_dir() / "pseudonym.key"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Section):
    """One connector instance polling for one brand."""

    connector: str = Field(min_length=1)
    name: str = ""  # unique within the brand; defaults to the connector name
    enabled: bool = True
    interval: Duration = Field(timedelta(minutes=5), validation_alias=AliasChoices("interval", "poll_interval"))
    jitter: Duration = timedelta(seconds=30)
    repoll: bool = True  # re-read engagement of recent mentions (virality needs it)
    settings: dict[str, Any] = {}
    _parsed: BaseModel | None = PrivateAttr(default=None)

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("poll interval must be at least 1 second")
        return value

    @field_validator("jitter")
    @classmethod
    def _non_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("jitter cannot be negative")
        return value

    @property
    def connector_settings(self) -> BaseModel:
        """The settings validated by the connector's own `Settings` model (set by `load_config`)."""
        if self._parsed is None:
            raise RuntimeError(f"source {self.name!r} settings were not validated; use load_config()")
        return self._parsed


class BrandConfig(_Section):
    name: str = Field(min_length=1)
    aliases: list[str] = []
    include: list[str] = []  # at least one must also appear (disambiguates common-word brands)
    exclude: list[str] = []  # none may appear
    languages: list[str] = []  # empty = every language
    query: str | None = None  # explicit query-language expression; overrides the terms above
    sources: list[SourceConfig] = []

    @property
    def terms(self) -> tuple[str, ...]:
        """Plain search terms for platform search APIs: the name and its aliases."""
        return tuple(dict.fromkeys([self.name, *self.aliases]))

    def query_expression(self) -> str:
        from monitor.matching import build_brand_query

        return self.query or build_brand_query(self.name, self.aliases, self.include, self.exclude, self.languages)


class DatabaseConfig(_Section):
    url: str | None = None  # None: SQLite file in the XDG data dir; a password belongs in the environment


class RetentionConfig(_Section):
    days: int = Field(90, ge=1, description="mentions older than this lose their personal data")


class PrivacyConfig(_Section):
    pseudonym_key_file: Path | None = None  # a path is not a secret; the key inside it is


class DaemonConfig(_Section):
    pipeline_interval: Duration = timedelta(seconds=30)
    repoll_interval: Duration = timedelta(minutes=5)
    retention_interval: Duration = timedelta(hours=6)
    drain_limit: int = Field(100, ge=1)
    metrics_port: int | None = Field(None, ge=0, le=65535)  # /healthz and /metrics on localhost
    metrics_host: str = "127.0.0.1"
    max_backoff: Duration = timedelta(hours=1)
    failing_after: int = Field(3, ge=1, description="consecutive failures that turn degraded into failing")


class Secrets(BaseModel):
    """Secrets (and the database URL, which may hold one) from the environment, read by
    `read_secrets` through the one secret reader: `REPMON_…`, `REPMON_…_FILE`, or `$REPMON_SECRETS_DIR`."""

    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path | None = None
    database_url: str | None = None
    database_password: SecretStr | None = None
    database_password_file: Path | None = None


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    brands: list[BrandConfig] = []
    model: ModelConfig = ModelConfig()
    detect: DetectConfig = DetectConfig()
    alerts: AlertsConfig = AlertsConfig()
    retention: RetentionConfig = RetentionConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    daemon: DaemonConfig = DaemonConfig()
    _secrets: Secrets | None = PrivateAttr(default=None)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = read_secrets()
        return self._secrets

    def database_url(self) -> str:
        """The URL to connect with: env `REPMON_DATABASE_URL` > file > default; password from secrets."""
        url = make_url(self.secrets.database_url or self.database.url or default_database_url())
        password = _secret_value(self.secrets.database_password, self.secrets.database_password_file)
        if password is not None:
            url = url.set(password=password.get_secret_value())
        return url.render_as_string(hide_password=False)

    def pseudonym_key(self) -> SecretStr | None:
        """Env `REPMON_PSEUDONYM_KEY` > key file (env, then file setting) > the data dir's key file."""
        if self.secrets.pseudonym_key is not None:
            return self.secrets.pseudonym_key
        for path in (self.secrets.pseudonym_key_file, self.privacy.pseudonym_key_file):
            if path is not None:
                return _read_secret_file(path)
        return _read_secret_file(default_key_file()) if default_key_file().exists() else None

    def pseudonymiser(self) -> Pseudonymiser:
        key = self.pseudonym_key()
        if key is None:
            raise ConfigError([Problem("pseudonym_key", _MISSING_KEY)])
        return Pseudonymiser(key)


_MISSING_KEY = (
    "no pseudonymisation key: set REPMON_PSEUDONYM_KEY, or REPMON_PSEUDONYM_KEY_FILE, "
    "or run `repmon init` to create one in the data directory"
)


@dataclass(frozen=True, slots=True)
class Problem:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(ValueError):
    """Every problem found in a configuration, each with its location."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


def read_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """The `Secrets` of this environment; an explicitly named secret file that cannot be read is a
    ConfigError naming the variable, so `repmon config check` lists it with everything else."""
    environ = os.environ if environ is None else environ
    # Variable names were case-insensitive when pydantic-settings read them; keep `repmon_…` working.
    env = {**{k.upper(): v for k, v in environ.items() if k.upper().startswith("REPMON_")}, **environ}

    def secret(var: str) -> SecretStr | None:
        try:
            return secret_from_env(var, env)
        except SecretFileError as exc:
            raise ConfigError([Problem(var, str(exc))]) from exc

    url = secret("REPMON_DATABASE_URL")
    return Secrets(
        pseudonym_key=secret("REPMON_PSEUDONYM_KEY"),
        database_url=url.get_secret_value() if url is not None else None,
        database_password=secret("REPMON_DATABASE_PASSWORD"),
    )


def _read_secret_file(path: Path) -> SecretStr:
    try:
        return read_secret_file(path)
    except SecretFileError as exc:
        raise ConfigError([Problem("secret file", str(exc))]) from exc


def _secret_value(value: SecretStr | None, path: Path | None) -> SecretStr | None:
    if value is not None:
        return value
    return _read_secret_file(path) if path is not None else None


def format_location(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """("brands", 0, "sources", 1, "settings", "instance") -> "brands[0].sources[1].settings.instance"."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems_from(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            message = _unknown_key_message(str(loc[-1]), _fields_at(model, loc[:-1]))
        problems.append(Problem(format_location(loc, prefix), message))
    return problems


def _model_of(annotation: Any) -> Any:
    """The model class, list or dict type inside Optional/Annotated wrappers."""
    for _ in range(4):
        origin = get_origin(annotation)
        if origin in (Annotated,):
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next((a for a in get_args(annotation) if a is not type(None)), annotation)
        else:
            return annotation
    return annotation


def _fields_at(model: type[BaseModel] | None, loc: list[Any]) -> list[str]:
    """The keys accepted at `loc` inside `model` (for "did you mean"); [] when it cannot be told."""
    current: Any = model
    for part in loc:
        current = _model_of(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, tuple) and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _model_of(current)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    names = []
    for name, field in current.model_fields.items():
        names.append(name)
        if isinstance(field.validation_alias, AliasChoices):
            names += [a for a in field.validation_alias.choices if isinstance(a, str)]
    return names


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close and key.lower() in [a.lower() for a in allowed]:
        close = [next(a for a in allowed if a.lower() == key.lower())]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = f" (known keys: {', '.join(sorted(allowed))})" if allowed and not close else ""
    return f"unknown key {key!r}{hint}{known}"


def secret_env_names(brand: str, source: str, field: str) -> list[str]:
    """Environment variables that may hold a connector secret, most specific first."""

    from monitor.kernel.textfold import fold

    def norm(text: str, nordic: bool = True) -> str:  # "Søstrene Grene" -> SOSTRENE_GRENE (older: S_STRENE_GRENE)
        text = fold(text.lower().replace("æ", "ae")) if nordic else text
        return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()

    names = [f"REPMON_{norm(brand)}_{norm(source)}_{norm(field)}", f"REPMON_{norm(source)}_{norm(field)}"]
    older = [f"REPMON_{norm(brand, False)}_{norm(source, False)}_{norm(field)}"]
    return list(dict.fromkeys(names + older))


def _secret_fields(model: type[BaseModel]) -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        annotation = str(info.annotation)
        if "SecretStr" in annotation or "SecretBytes" in annotation:
            found.append(name)
    return found


def _resolve_connector_secrets(
    raw: Mapping[str, Any], model: type[BaseModel], brand: str, source: str, where: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[Problem]]:
    """Fill SecretStr fields from env / `<field>_file` / `<field>_env`; a literal secret is a problem."""
    settings = dict(raw)
    problems: list[Problem] = []
    for name in _secret_fields(model):
        env_names = secret_env_names(brand, source, name)
        if name in settings:
            problems.append(
                Problem(
                    f"{where}.{name}",
                    f"secrets may not be written in the config file; set {env_names[0]} "
                    f'or give `{name}_file = "/path"` or `{name}_env = "VAR"`',
                )
            )
            del settings[name]
        if (var := settings.pop(f"{name}_env", None)) is not None:
            env_names.insert(0, str(var))
            if str(var) not in environ:
                problems.append(Problem(f"{where}.{name}_env", f"environment variable {var} is not set"))
        file = settings.pop(f"{name}_file", None)
        value: SecretStr | None = None
        try:  # each variable as every secret is read: its value, `<VAR>_FILE`, `$REPMON_SECRETS_DIR`
            value = next((v for v in (secret_from_env(var, environ) for var in env_names) if v), None)
            if value is None and file is not None:
                value = read_secret_file(str(file))
        except SecretFileError as exc:
            problems.append(Problem(f"{where}.{name}_file", str(exc)))
        if value is not None:
            settings[name] = value
    return settings, problems


def _missing_secret(brand: str, source: str, field: str) -> str:
    env = secret_env_names(brand, source, field)[0]
    return f'secret not set: set {env}, or give `{field}_file = "/path"` or `{field}_env = "VAR"` in settings'


def _check_sources(
    data: Mapping[str, Any], environ: Mapping[str, str], require_secrets: bool = True
) -> tuple[dict, list[Problem]]:
    """Validate each source's settings with its connector's model: {(i, j): settings}, problems."""
    parsed: dict[tuple[int, int], BaseModel] = {}
    problems: list[Problem] = []
    brands = data.get("brands")
    if not isinstance(brands, list):
        return parsed, problems
    for i, brand in enumerate(brands):
        if not isinstance(brand, dict) or not isinstance(brand.get("sources", []), list):
            continue
        brand_name = str(brand.get("name", f"brand{i}"))
        seen: set[str] = set()
        for j, source in enumerate(brand.get("sources", [])):
            where = f"brands[{i}].sources[{j}]"
            if not isinstance(source, dict) or not isinstance(source.get("connector"), str):
                continue
            name = str(source.get("name") or source["connector"])
            if name in seen:
                problems.append(Problem(f"{where}.name", f"duplicate source name {name!r} in this brand"))
            seen.add(name)
            try:
                connector = plugins.load("connectors", source["connector"])
            except plugins.PluginError as exc:
                problems.append(Problem(f"{where}.connector", str(exc)))
                continue
            raw_settings = source.get("settings", {})
            if not isinstance(raw_settings, dict):
                continue  # reported by the structural validation
            model = getattr(connector, "Settings", None)
            if model is None:
                problems.append(Problem(f"{where}.connector", "connector has no Settings model"))
                continue
            settings, secret_problems = _resolve_connector_secrets(
                raw_settings, model, brand_name, name, f"{where}.settings", environ
            )
            if not require_secrets:  # keep "no literal secrets"; drop "variable not set / file unreadable"
                secret_problems = [p for p in secret_problems if not p.location.endswith(("_env", "_file"))]
            problems += secret_problems
            try:
                parsed[(i, j)] = model.model_validate(settings)
            except ValidationError as exc:
                errors = _problems_from(exc, f"{where}.settings", model)
                secret_at = {f"{where}.settings.{n}": n for n in _secret_fields(model)}
                if not require_secrets:  # a command that never polls does not need the source's secrets
                    errors = [e for e in errors if e.location not in secret_at]
                errors = [
                    Problem(e.location, _missing_secret(brand_name, name, secret_at[e.location]))
                    if e.location in secret_at and e.message == "Field required"
                    else e
                    for e in errors
                ]
                problems += errors
    return parsed, problems


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _check_semantics(data: Mapping[str, Any]) -> list[Problem]:
    """Checks that need more than one field or a plugin; on the raw data, so they run even when the
    structural validation failed elsewhere and every problem shows up in one run."""
    from monitor.config_checks import _check_brand_tags, _check_languages, database_driver_problem
    from monitor.matching import QueryError, build_brand_query, compile_query

    problems: list[Problem] = []
    brands = data.get("brands") if isinstance(data.get("brands"), list) else []
    names = [b.get("name") for b in brands if isinstance(b, dict)]
    for i, brand in enumerate(brands):
        if not isinstance(brand, dict) or not isinstance(brand.get("name"), str) or not brand["name"].strip():
            continue
        if names.count(brand["name"]) > 1:
            problems.append(Problem(f"brands[{i}].name", f"duplicate brand name {brand['name']!r}"))
        query = brand.get("query")
        try:
            if isinstance(query, str) and query.strip():
                compile_query(query)
            else:
                compile_query(
                    build_brand_query(
                        brand["name"],
                        _str_list(brand.get("aliases")),
                        _str_list(brand.get("include")),
                        _str_list(brand.get("exclude")),
                        _str_list(brand.get("languages")),
                    )
                )
        except QueryError as exc:
            where = f"brands[{i}].query" if isinstance(query, str) and query.strip() else f"brands[{i}]"
            problems.append(Problem(where, f"{exc.message} at position {exc.position} of {exc.expr!r}"))
    problems += _check_languages(brands, data.get("alerts"))
    problems += _check_brand_tags(brands)
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    scorer = model.get("scorer", ModelConfig.model_fields["scorer"].default)
    if isinstance(scorer, str):
        try:
            plugins.load("scorers", scorer)
        except plugins.PluginError as exc:
            problems.append(Problem("model.scorer", str(exc)))
    database = data.get("database") if isinstance(data.get("database"), dict) else {}
    url = database.get("url")
    if isinstance(url, str) and url:
        try:
            if make_url(url).password:
                problems.append(
                    Problem("database.url", "the password belongs in REPMON_DATABASE_PASSWORD, not in the file")
                )
        except Exception as exc:  # sqlalchemy raises ArgumentError for a malformed URL
            problems.append(Problem("database.url", f"not a database URL: {exc}"))
        else:
            problems += [Problem("database.url", m) for m in [database_driver_problem(url)] if m]
    return problems


def _check_secrets(config: Config) -> list[Problem]:
    try:
        key = config.pseudonym_key()
    except ConfigError as exc:
        return [Problem("pseudonym_key", p.message) for p in exc.problems]
    if key is None:
        return [Problem("pseudonym_key", _MISSING_KEY)]
    if len(key.get_secret_value().encode()) < MIN_KEY_BYTES:
        return [Problem("pseudonym_key", f"the key must be at least {MIN_KEY_BYTES} bytes")]
    return []


def parse_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or ConfigError with one sentence: missing, unreadable, not text, not TOML."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [Problem(str(path), "no such file (create one with `repmon init --brand NAME`)")]
        ) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the file: {exc.strerror}")]) from None
    try:
        text = _decode(raw)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(str(path), f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), f"not valid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem(str(path), "not valid TOML: tables or arrays nested too deeply")]) from None


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM, as Windows editors save it."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


def validate(
    data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, require_secrets: bool = True
) -> Config:
    """A `Config` from parsed TOML, or ConfigError listing every problem with its location."""
    from monitor.config_checks import _check_alerts, _check_database_driver, _name_location, route_deprecations

    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += _problems_from(exc, model=Config)
    parsed, source_problems = _check_sources(data, environ, require_secrets)
    problems += source_problems
    problems += _check_semantics(data)
    if require_secrets:  # checked even when the file has errors, so one run lists everything
        problems += _check_secrets(config if config is not None else Config())
    problems += _check_alerts(config, data, environ, require_secrets)
    problems += _check_database_driver(environ)
    if problems or config is None:
        raise ConfigError([_name_location(p, data) for p in problems])
    for note in route_deprecations(data):  # old keys keep working; say once per load what to write instead
        log.warning("%s", _name_location(note, data))
    for brand in config.brands:
        for source in brand.sources:
            source.name = source.name or source.connector
    for (i, j), settings in parsed.items():
        config.brands[i].sources[j]._parsed = settings
    return config


def load_config(
    path: str | Path | None = None, *, missing_ok: bool = False, require_secrets: bool = True
) -> Config:
    """Load and validate the file at `path` (default ./repmon.toml or $REPMON_CONFIG).

    missing_ok: a missing file yields the defaults (for commands that only need the database).
    """
    path = Path(path or os.environ.get("REPMON_CONFIG") or DEFAULT_PATH)
    if missing_ok and not path.exists():
        from monitor.config_checks import _check_database_driver

        if problems := _check_database_driver(os.environ):
            raise ConfigError(problems)
        config = Config()
    else:
        config = validate(parse_toml(path), require_secrets=require_secrets)
    config._path = path
    return config
