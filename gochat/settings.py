"""Configuration from the environment, validated once at start-up.

Every setting has one name in the environment; `Settings.from_env` either returns a complete,
valid `Settings` or raises `SettingsError` with a single human line naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .ratelimit import Limit

MIN_SECRET_BYTES = 32
LOGIN_LIMIT_PER_IP = Limit(30, 30 / 60)
SIGNUP_LIMIT_PER_IP = Limit(20, 20 / 3600)
SEARCH_LIMIT_PER_USER = Limit(30, 30 / 10)
# Per-user budgets of the write routes (api/limits.py `limited`), each GOCHAT_LIMIT_<KIND>=N/SECONDS;
# `write` covers the write routes without a budget of their own; `refresh` is per client address.
WRITE_LIMITS = {
    "post": Limit(60, 60 / 3),
    "room": Limit(30, 30 / 60),
    "invite": Limit(30, 30 / 60),
    "reaction": Limit(60, 60 / 6),
    "upload": Limit(20, 20 / 60),
    "refresh": Limit(30, 30 / 60),
    "write": Limit(60, 60 / 6),
}
# Bots send in bulk over one socket (ws/pipeline.py pipelines its frames): their own, larger budget.
BOT_RATE_LIMIT = Limit(10_000, 10_000 / 1)
LogFormat = Literal["json", "console"]


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range ({lo}..{hi})")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range ({lo}..{hi})")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use on/off)")


def _limit(env: Mapping[str, str], name: str, default: Limit) -> Limit:
    """`N/SECONDS`: a burst of N, refilled over SECONDS (so N per SECONDS sustained)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    burst, _, seconds = raw.partition("/")
    try:
        n, period = int(burst), float(seconds)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} must look like 10/60 (10 requests per 60 seconds)") from None
    if n < 1 or period <= 0:
        raise SettingsError(f"{name}={raw!r} needs a burst >= 1 and a period > 0")
    return Limit(n, n / period)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in schemes:
        raise SettingsError(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return raw


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks (`10.0.0.0/8, 127.0.0.1`)."""
    out = []
    for raw in env.get(name, "").split(","):
        if raw.strip():
            try:
                out.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
            except ValueError:
                raise SettingsError(f"{name}: {raw.strip()!r} is not an IP address or CIDR network") from None
    return tuple(out)


_ORIGIN = re.compile(r"^https?://[^/\s?#@]+$")


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """ALLOWED_ORIGINS: comma-separated `scheme://host[:port]` as browsers send them, or `*`. A
    malformed one would match no browser: refused rather than silently never allowing anyone."""
    out = []
    for raw in env.get("ALLOWED_ORIGINS", "").split(","):
        origin = raw.strip().rstrip("/")
        if origin and origin != "*" and not _ORIGIN.match(origin):
            raise SettingsError(f"ALLOWED_ORIGINS: {raw.strip()!r} is not an origin (scheme://host[:port], or *)")
        if origin:
            out.append(origin)
    return tuple(out)


def _tls_files(env: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """TLS_CERT_FILE and TLS_KEY_FILE: both or neither, each a readable file."""
    cert, key = env.get("TLS_CERT_FILE", "").strip(), env.get("TLS_KEY_FILE", "").strip()
    if bool(cert) != bool(key):
        raise SettingsError("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
    for name, value in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        if value and not os.access(value, os.R_OK):
            raise SettingsError(f"{name}={value!r} is not a readable file")
    return (Path(cert) if cert else None), (Path(key) if key else None)


def _search_language(env: Mapping[str, str]) -> str:
    """A configuration name (`english`, `pg_catalog.german`); whether it exists is checked against
    the database at start-up."""
    raw = env.get("GOCHAT_SEARCH_LANGUAGE", "").strip() or "english"
    if not re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*", raw):
        raise SettingsError(f"GOCHAT_SEARCH_LANGUAGE={raw!r} is not a text search configuration name")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "gochat:"
    jwt_secret: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    data_dir: Path = Path("./var")
    environment: Literal["production", "development"] = "production"
    log_level: str = "info"
    log_format: LogFormat = "json"
    allowed_origins: tuple[str, ...] = ()
    db_pool_min: int = 2
    db_pool_max: int = 20
    migrate_on_start: bool = True
    rate_limits: bool = True
    max_body_bytes: int = 1024 * 1024
    shutdown_timeout: float = 10.0
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    jwt_issuer: str = "gochat"
    jwt_audience: str = "gochat"
    # Honour X-Forwarded-For (its last hop) as the client address: only behind a proxy that sets it.
    trust_proxy: bool = False
    login_limit_per_ip: Limit = LOGIN_LIMIT_PER_IP
    signup_limit_per_ip: Limit = SIGNUP_LIMIT_PER_IP
    # A text search configuration of the database (checked at start-up); the index is rebuilt
    # when it changes.
    search_language: str = "english"
    search_limit_per_user: Limit = SEARCH_LIMIT_PER_USER
    group_commit_max_batch: int = 1000
    group_commit_pipeline: int = 1
    ws_max_connections_per_user: int = 20
    ws_resume_max: int = 5000
    ws_heartbeat: float = 25.0
    ws_max_buffer_bytes: int = 1 << 20
    ws_socket_sndbuf: int = 256 * 1024
    ws_typing_interval: float = 3.0
    # A node that stops heartbeating (crash) drops its users after ttl; every node sweeps the
    # presence projection this often to mark them offline.
    presence_ttl: float = 30.0
    presence_sweep_interval: float = 30.0
    # Each node reads the logins revoked lately this often and closes their sockets (the CLI's
    # revocations, and those a broker outage kept from it).
    revocation_sweep_interval: float = 2.0
    # Step 15 (integrations): frames a socket may have in flight, bot budgets, webhook delivery.
    ws_max_inflight: int = 64
    bot_rate_limit: Limit = BOT_RATE_LIMIT
    webhook_allow: str = ""  # netguard.Allowlist: addresses, networks, host names webhooks may reach anyway
    webhook_max_attempts: int = 8
    webhook_timeout: float = 5.0
    webhook_backoff: float = 1.0
    webhook_backoff_max: float = 3600.0
    # Files (docs/configuration.md, "Files"): local blobs under data_dir/files unless s3_url is set.
    max_upload_bytes: int = 25 * 1024 * 1024
    upload_quota_bytes: int = 1024 * 1024 * 1024  # per user, live uploads; 0 = unlimited
    image_max_pixels: int = 40_000_000
    thumbnail_px: int = 400
    media_workers: int = 2
    s3_url: str | None = None
    s3_bucket: str = "gochat"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = "files/"
    clamd_url: str | None = None
    node_id: str = field(default_factory=lambda: secrets.token_hex(4))
    # Bounds on waiting for the database (docs/reliability.md): for a pooled connection (the pool
    # exhausted, or the database unreachable), and for one group-commit transaction. Past either,
    # the caller gets 503 with Retry-After (an error frame on a WebSocket) instead of waiting on.
    db_acquire_timeout: float = 5.0
    db_commit_timeout: float = 2.0
    # aiopg's bound on any one statement (and on connecting): under uvloop, a connection made as
    # PostgreSQL restarts can miss its wake-up (docs/reliability.md); its query then fails here.
    db_statement_timeout: float = 10.0
    # Failed logins per (account, address) before each further one doubles the wait, up to the max.
    login_free_failures: int = 5
    login_backoff_max: float = 300.0
    # Seconds one statement of a request's transaction may run before PostgreSQL itself cancels it
    # (0: off); below db_statement_timeout, so the server's clean refusal comes first.
    pg_statement_timeout: float = 8.0
    # Seconds between purges of expired refresh tokens and dead login families (0: never).
    session_purge_interval: float = 3600.0
    write_limits: dict[str, Limit] = field(default_factory=lambda: dict(WRITE_LIMITS))
    # Peers whose X-Forwarded-For/-Proto are believed (addresses or CIDR networks).
    trusted_proxies: tuple[str, ...] = ()
    # Strict-Transport-Security max-age on answers over HTTPS (0: no header).
    hsts_max_age: int = 365 * 24 * 3600
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # OTLP/HTTP collector for traces and metrics (OpenTelemetry); unset: telemetry is off.
    otlp_endpoint: str | None = None
    # Link previews (docs/operations.md, "Link previews"): fetched off the send path, through netguard.
    previews: bool = True
    preview_allow: str = ""  # netguard.Allowlist: addresses, networks, host names previews may reach anyway
    preview_timeout: float = 5.0  # seconds per request (a page, or its image), redirects included
    preview_max_bytes: int = 512 * 1024  # of a page's HTML read (the head is what counts)
    preview_image_max_bytes: int = 5 * 1024 * 1024
    preview_max_redirects: int = 3
    preview_max_urls: int = 3  # per message
    preview_cache_ttl: float = 24 * 3600.0
    preview_failure_ttl: float = 3600.0  # a URL with nothing to show is tried again after this
    preview_concurrency: int = 4  # jobs in hand per node
    # Crypto-shredding (docs/operations.md, "Keys"): key-encryption keys wrapping the users' data keys
    # (the first wraps new ones; none: stored unwrapped), and how long a process keeps a data key
    # for reading before it looks again (an erasure elsewhere is seen within this).
    key_encryption_keys: tuple[bytes, ...] = ()
    key_cache_seconds: float = 60.0

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        database_url = _url(env, "DATABASE_URL", ("postgres", "postgresql"))
        raw_env = env.get("GOCHAT_ENV", "").strip().lower()
        if raw_env not in ("", "production", "development"):
            raise SettingsError(f"GOCHAT_ENV={raw_env!r} must be production or development")
        # The embedded default is a developer's machine: generate a secret rather than refuse.
        environment: Literal["production", "development"] = (
            "development" if raw_env == "development" or (not raw_env and database_url is None) else "production"
        )
        jwt_secret = env.get("JWT_SECRET") or None
        if jwt_secret is not None and len(jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if jwt_secret is None and environment == "production":
            raise SettingsError("JWT_SECRET is required (at least 32 bytes) unless GOCHAT_ENV=development")
        log_level = env.get("LOG_LEVEL", "info").strip().lower()
        if log_level not in ("debug", "info", "warning", "error", "critical"):
            raise SettingsError(f"LOG_LEVEL={log_level!r} must be debug, info, warning, error or critical")
        log_format = env.get("LOG_FORMAT", "").strip().lower() or (
            "console" if environment == "development" else "json"
        )
        if log_format not in ("json", "console"):
            raise SettingsError(f"LOG_FORMAT={log_format!r} must be json or console")
        origins = _origins(env)
        pool_min = _int(env, "GOCHAT_DB_POOL_MIN", 2, 0, 1000)
        pool_max = _int(env, "GOCHAT_DB_POOL_MAX", 20, 1, 1000)
        if pool_max < pool_min:
            raise SettingsError("GOCHAT_DB_POOL_MAX must be >= GOCHAT_DB_POOL_MIN")
        settings = cls(
            database_url=database_url,
            redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
            redis_prefix=env.get("GOCHAT_REDIS_PREFIX", "gochat:").strip(),
            jwt_secret=jwt_secret,
            host=env.get("HOST", "0.0.0.0").strip() or "0.0.0.0",
            port=_int(env, "PORT", 8080, 0, 65535),
            data_dir=Path(env.get("GOCHAT_DATA_DIR", "").strip() or "./var"),
            environment=environment,
            log_level=log_level,
            log_format=log_format,  # type: ignore[arg-type]
            allowed_origins=origins,
            db_pool_min=pool_min,
            db_pool_max=pool_max,
            migrate_on_start=_bool(env, "GOCHAT_MIGRATE_ON_START", True),
            rate_limits=_bool(env, "GOCHAT_RATE_LIMITS", True),
            max_body_bytes=_int(env, "GOCHAT_MAX_BODY_BYTES", 1024 * 1024, 1024, 1 << 31),
            shutdown_timeout=_float(env, "GOCHAT_SHUTDOWN_TIMEOUT", 10.0, 0.0, 600.0),
            access_token_ttl=_int(env, "GOCHAT_ACCESS_TOKEN_TTL", 15 * 60, 30, 24 * 3600),
            refresh_token_ttl=_int(env, "GOCHAT_REFRESH_TOKEN_TTL", 30 * 24 * 3600, 60, 365 * 24 * 3600),
            group_commit_max_batch=_int(env, "GOCHAT_GROUP_COMMIT_MAX_BATCH", 1000, 1, 100_000),
            group_commit_pipeline=_int(env, "GOCHAT_GROUP_COMMIT_PIPELINE", 1, 1, 8),
            trust_proxy=_bool(env, "GOCHAT_TRUST_PROXY", False),
            ws_max_connections_per_user=_int(env, "GOCHAT_WS_MAX_CONNECTIONS_PER_USER", 20, 1, 10_000),
            ws_resume_max=_int(env, "GOCHAT_WS_RESUME_MAX", 5000, 0, 1_000_000),
            ws_heartbeat=_float(env, "GOCHAT_WS_HEARTBEAT", 25.0, 1.0, 300.0),
            ws_max_buffer_bytes=_int(env, "GOCHAT_WS_MAX_BUFFER_BYTES", 1 << 20, 4096, 1 << 30),
            ws_socket_sndbuf=_int(env, "GOCHAT_WS_SOCKET_SNDBUF", 256 * 1024, 0, 1 << 30),
            ws_typing_interval=_float(env, "GOCHAT_WS_TYPING_INTERVAL", 3.0, 0.0, 60.0),
            presence_ttl=_float(env, "GOCHAT_PRESENCE_TTL", 30.0, 0.5, 3600.0),
            presence_sweep_interval=_float(env, "GOCHAT_PRESENCE_SWEEP_INTERVAL", 30.0, 0.1, 3600.0),
            revocation_sweep_interval=_float(env, "GOCHAT_REVOCATION_SWEEP_INTERVAL", 2.0, 0.05, 600.0),
            login_limit_per_ip=_limit(env, "GOCHAT_LOGIN_LIMIT_IP", LOGIN_LIMIT_PER_IP),
            signup_limit_per_ip=_limit(env, "GOCHAT_SIGNUP_LIMIT_IP", SIGNUP_LIMIT_PER_IP),
            search_language=_search_language(env),
            search_limit_per_user=_limit(env, "GOCHAT_SEARCH_LIMIT", SEARCH_LIMIT_PER_USER),
            ws_max_inflight=_int(env, "GOCHAT_WS_MAX_INFLIGHT", 64, 1, 10_000),
            bot_rate_limit=_limit(env, "GOCHAT_BOT_RATE_LIMIT", BOT_RATE_LIMIT),
            webhook_allow=env.get("GOCHAT_WEBHOOK_ALLOW", ""),
            webhook_max_attempts=_int(env, "GOCHAT_WEBHOOK_MAX_ATTEMPTS", 8, 1, 100),
            webhook_timeout=_float(env, "GOCHAT_WEBHOOK_TIMEOUT", 5.0, 0.1, 60.0),
            webhook_backoff=_float(env, "GOCHAT_WEBHOOK_BACKOFF", 1.0, 0.01, 3600.0),
            webhook_backoff_max=_float(env, "GOCHAT_WEBHOOK_BACKOFF_MAX", 3600.0, 0.01, 86400.0),
            db_acquire_timeout=_float(env, "GOCHAT_DB_ACQUIRE_TIMEOUT", 5.0, 0.1, 600.0),
            db_commit_timeout=_float(env, "GOCHAT_DB_COMMIT_TIMEOUT", 2.0, 0.1, 600.0),
            db_statement_timeout=_float(env, "GOCHAT_DB_STATEMENT_TIMEOUT", 10.0, 0.1, 3600.0),
            login_free_failures=_int(env, "GOCHAT_LOGIN_FREE_FAILURES", 5, 0, 1000),
            login_backoff_max=_float(env, "GOCHAT_LOGIN_BACKOFF_MAX", 300.0, 1.0, 86400.0),
            pg_statement_timeout=_float(env, "GOCHAT_PG_STATEMENT_TIMEOUT", 8.0, 0.0, 86400.0),
            session_purge_interval=_float(env, "GOCHAT_SESSION_PURGE_INTERVAL", 3600.0, 0.0, 7 * 86400.0),
            **_file_settings(env),  # type: ignore[arg-type]
            **_preview_settings(env),  # type: ignore[arg-type]
        )
        tls_cert_file, tls_key_file = _tls_files(env)
        settings = replace(
            settings,
            write_limits={k: _limit(env, f"GOCHAT_LIMIT_{k.upper()}", v) for k, v in _write_defaults(env).items()},
            trusted_proxies=_networks(env, "GOCHAT_TRUSTED_PROXIES"),
            hsts_max_age=_int(env, "GOCHAT_HSTS_MAX_AGE", 365 * 24 * 3600, 0, 10 * 365 * 24 * 3600),
            otlp_endpoint=_url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ("http", "https")),
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
        )
        if env.get("GOCHAT_NODE_ID"):
            settings = replace(settings, node_id=env["GOCHAT_NODE_ID"])
        settings = replace(
            settings,
            key_encryption_keys=_keks(env, "GOCHAT_KEY_ENCRYPTION_KEYS"),
            key_cache_seconds=_float(env, "GOCHAT_KEY_CACHE_SECONDS", 60.0, 0.0, 86400.0),
        )
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _keks(env: Mapping[str, str], name: str) -> tuple[bytes, ...]:
    """Comma-separated keys of 32 bytes, each base64 (standard or URL-safe) or 64 hex digits."""
    keys = []
    for i, raw in enumerate(p.strip() for p in env.get(name, "").split(",") if p.strip()):
        key = None
        if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            key = bytes.fromhex(raw)
        else:
            try:
                key = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True)
            except (binascii.Error, ValueError):
                key = None
        if key is None or len(key) != 32:
            raise SettingsError(
                f"{name}: key {i + 1} is not 32 bytes in base64 or hex (make one: openssl rand -base64 32)"
            )
        keys.append(key)
    return tuple(keys)


def _write_defaults(env: Mapping[str, str]) -> dict[str, Limit]:
    """WRITE_LIMITS, with GOCHAT_UPLOAD_LIMIT (step 11's name for the upload budget) as the upload
    default: GOCHAT_LIMIT_UPLOAD wins when both are set."""
    return {**WRITE_LIMITS, "upload": _limit(env, "GOCHAT_UPLOAD_LIMIT", WRITE_LIMITS["upload"])}


def _file_settings(env: Mapping[str, str]) -> dict[str, object]:
    clamd = env.get("CLAMD_URL", "").strip() or None
    if clamd is not None and not (clamd.startswith(("tcp://", "unix://", "/"))):
        raise SettingsError("CLAMD_URL must be tcp://host:port, unix:///path or an absolute socket path")
    return {
        "max_upload_bytes": _int(env, "GOCHAT_MAX_UPLOAD_BYTES", 25 * 1024 * 1024, 1, 1 << 40),
        "upload_quota_bytes": _int(env, "GOCHAT_UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024, 0, 1 << 50),
        "image_max_pixels": _int(env, "GOCHAT_IMAGE_MAX_PIXELS", 40_000_000, 1, 1 << 32),
        "thumbnail_px": _int(env, "GOCHAT_THUMBNAIL_SIZE", 400, 16, 4096),
        "media_workers": _int(env, "GOCHAT_MEDIA_WORKERS", 2, 1, 64),
        "s3_url": _url(env, "GOCHAT_S3_URL", ("http", "https")),
        "s3_bucket": env.get("GOCHAT_S3_BUCKET", "").strip() or "gochat",
        "s3_access_key": env.get("GOCHAT_S3_ACCESS_KEY") or None,
        "s3_secret_key": env.get("GOCHAT_S3_SECRET_KEY") or None,
        "s3_region": env.get("GOCHAT_S3_REGION", "").strip() or "us-east-1",
        "s3_prefix": env.get("GOCHAT_S3_PREFIX", "files/").strip(),
        "clamd_url": clamd,
    }


def _preview_settings(env: Mapping[str, str]) -> dict[str, object]:
    return {
        "previews": _bool(env, "GOCHAT_PREVIEWS", True),
        "preview_allow": env.get("GOCHAT_PREVIEW_ALLOW", ""),
        "preview_timeout": _float(env, "GOCHAT_PREVIEW_TIMEOUT", 5.0, 0.1, 60.0),
        "preview_max_bytes": _int(env, "GOCHAT_PREVIEW_MAX_BYTES", 512 * 1024, 1024, 16 * 1024 * 1024),
        "preview_image_max_bytes": _int(env, "GOCHAT_PREVIEW_IMAGE_MAX_BYTES", 5 * 1024 * 1024, 1024, 64 << 20),
        "preview_max_redirects": _int(env, "GOCHAT_PREVIEW_MAX_REDIRECTS", 3, 0, 10),
        "preview_max_urls": _int(env, "GOCHAT_PREVIEW_MAX_URLS", 3, 1, 10),
        "preview_cache_ttl": _float(env, "GOCHAT_PREVIEW_CACHE_TTL", 24 * 3600.0, 1.0, 30 * 86400.0),
        "preview_failure_ttl": _float(env, "GOCHAT_PREVIEW_FAILURE_TTL", 3600.0, 1.0, 30 * 86400.0),
        "preview_concurrency": _int(env, "GOCHAT_PREVIEW_CONCURRENCY", 4, 1, 64),
    }


def ensure_dev_secret(settings: Settings) -> Settings:
    """In development without JWT_SECRET, keep one random secret in the data dir across restarts."""
    if settings.jwt_secret is not None:
        return settings
    if not settings.development:
        raise SettingsError("JWT_SECRET is required")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "jwt_secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return replace(settings, jwt_secret=path.read_text().strip())
