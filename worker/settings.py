"""One frozen Settings, loaded from ``config/batchhook.toml`` and the environment.

The environment wins over the file. Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,50400,72000,86400"


def _config_file() -> Path:
    explicit = os.environ.get("BATCHHOOK_CONFIG")
    if explicit:
        return Path(explicit)
    return Path.cwd() / "config" / "batchhook.toml"


LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
CLUSTER_PARTITIONS = 16  # on a Redis Cluster, unless BATCHHOOK_REDIS_PARTITIONS says


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATCHHOOK_", frozen=True, extra="ignore")

    redis_url: str = "redis://localhost:6379/0"
    # Where Redis runs, beyond one plain URL (see worker/redis_target.py).
    broker_url: str | None = None  # Celery's broker; unset: the Redis above
    redis_ca_file: str | None = None  # CA bundle for rediss://; unset: the system's CAs
    redis_tls_verify: bool = True  # 0 only for a self-signed test server: no verification
    redis_sentinels: str | None = None  # "host:port,host:port": they name the primary
    redis_master: str | None = None  # the Sentinel master name
    redis_wait_replicas: int = Field(default=0, ge=0)  # API writes wait for this many
    redis_wait_timeout_s: float = Field(default=2.0, gt=0)
    redis_cluster: bool = False  # the URL names one node of a Redis Cluster (state store only)
    # Due schedules and outboxes (each its own slot); fixed for a deployment's life.
    redis_partitions: int | None = Field(default=None, ge=1, le=1024)  # unset: 1, Cluster 16
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "BATCHHOOK_PORT"))
    host: str = "0.0.0.0"  # noqa: S104 - the web process serves the API on every interface
    secret_key: str | None = None
    allow_private_destinations: bool = False
    retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    log_format: str | None = None
    dev: bool = False
    # Lines below this level are not written: debug adds a line per webhook delivered.
    log_level: str = "info"

    # Additions to the contract, all with defaults that suit production.
    tick_interval_s: float = 1.0
    # Beat lets due polls wait up to this long to be claimed together (unless a chunk's
    # worth is due): fewer, fuller ticks for a small deployment. 0: tick as soon as due.
    poll_gather_s: float = Field(default=0.0, ge=0.0)
    # `batchhook worker`: pool size (1: tasks run in the worker process itself, no
    # children) and whether it also runs beat's tick scheduler, in a thread.
    worker_concurrency: int | None = Field(default=None, ge=1)  # unset: one per CPU
    worker_beat: bool = False
    delivery_timeout_s: float = 10.0
    delivery_lease_s: float = 60.0
    poll_timeout_s: float = 20.0
    poll_lease_s: float = 120.0
    poll_chunk_size: int = 100
    # A claim of more than this many chunks (a surge: many batches due at one instant, a
    # backlog) is spread over this many poll tasks, of up to tasks.SURGE_CHUNK_SIZE
    # batches each. 0: every claim in chunks of poll_chunk_size.
    poll_surge_tasks: int = Field(default=20, ge=0)
    poll_concurrency: int = 200
    claim_limit: int = 20000
    discovery_interval_s: float = 15.0  # how often a watch_all connection lists its batches
    provider_calls_per_second: int = 0  # per connection, shared by all workers; 0: no limit
    rate_limit_pause_s: float = 10.0  # a 429 without Retry-After pauses its connection this long
    # How long finished batches, events, deliveries and attempts are kept (and recover
    # can reach back); BATCHHOOK_EVENT_RETENTION_S is the older name.
    retention_s: int = Field(
        default=30 * 86400,
        ge=1,
        validation_alias=AliasChoices("BATCHHOOK_RETENTION_S", "BATCHHOOK_EVENT_RETENTION_S"),
    )
    old_secret_grace_s: int = 86400
    metrics_token: str | None = None  # when set, /metrics wants "Authorization: Bearer <it>"
    max_body_bytes: int = 1024 * 1024  # larger request bodies are refused with 413
    api_rate_limit_per_min: int = 600  # requests per minute per API token; 0: no limit
    # Subscriber operations: failing endpoints, throttle, circuit breaker, lost batches.
    endpoint_disable_after_s: float = 432000.0  # failing this long since the last success
    endpoint_rate_limit: int = 0  # deliveries per second per endpoint, all workers; 0: none
    circuit_failure_threshold: int = 5  # consecutive failures that open an endpoint's circuit
    circuit_cooldown_s: float = 30.0  # first open period; doubles while probes fail
    circuit_max_cooldown_s: float = 3600.0
    not_found_grace_s: float = 600.0  # a 404 batch is retried this long before watch_failed
    stall_validating_s: float = Field(default=7200.0, gt=0)  # batch.stalled in validating
    stall_running_s: float = Field(default=10800.0, gt=0)  # ... and in any other status
    # The API's address as webhook receivers reach it: signed result links point there.
    public_url: str | None = None  # unset: http://localhost:{PORT}

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_is_numbers(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            delays = [float(p) for p in parts]
        except ValueError as exc:
            raise ValueError(f"BATCHHOOK_RETRY_SCHEDULE must be numbers: {value!r}") from exc
        if any(d < 0 for d in delays):
            raise ValueError("BATCHHOOK_RETRY_SCHEDULE delays must not be negative")
        return ",".join(parts)

    @model_validator(mode="after")
    def _retention_outlasts_retries(self) -> Settings:
        span = sum(self.retry_delays_s)
        if self.retention_s <= span:
            raise ValueError(
                f"BATCHHOOK_RETENTION_S ({self.retention_s}) must be longer than the retry "
                f"schedule ({span:g} s in all): deliveries would expire while still retrying"
            )
        return self

    @field_validator(
        "metrics_token",
        "broker_url",
        "redis_ca_file",
        "redis_sentinels",
        "redis_master",
        "public_url",
    )
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_are_addresses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        for part in parts:
            host, _, port = part.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"BATCHHOOK_REDIS_SENTINELS must be host:port,host:port: {part!r} is not"
                )
        return ",".join(parts)

    @model_validator(mode="after")
    def _sentinels_come_with_a_master(self) -> Settings:
        if bool(self.redis_sentinels) != bool(self.redis_master):
            raise ValueError(
                "BATCHHOOK_REDIS_SENTINELS and BATCHHOOK_REDIS_MASTER go together: set both"
            )
        return self

    @model_validator(mode="after")
    def _cluster_has_what_it_needs(self) -> Settings:
        if not self.redis_cluster:
            return self
        if self.broker_url is None:
            raise ValueError(
                "BATCHHOOK_REDIS_CLUSTER needs BATCHHOOK_BROKER_URL: Celery's broker cannot be "
                "a Redis Cluster (use RabbitMQ, or a separate single Redis)"
            )
        if self.redis_sentinels:
            raise ValueError("BATCHHOOK_REDIS_CLUSTER and BATCHHOOK_REDIS_SENTINELS: set one")
        if self.redis_wait_replicas:
            raise ValueError(
                "BATCHHOOK_REDIS_WAIT_REPLICAS is not supported on a Redis Cluster: WAIT "
                "covers the one shard a connection writes to, not the write of a request"
            )
        return self

    @property
    def partitions(self) -> int:
        """How many due schedules and outboxes the store keeps (see ``keys.Keyspace``)."""
        if self.redis_partitions is not None:
            return self.redis_partitions
        return CLUSTER_PARTITIONS if self.redis_cluster else 1

    @field_validator("redis_url", "broker_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        schemes = ("redis://", "rediss://", "unix://", "amqp://", "amqps://")
        if value is not None and not value.startswith(schemes):
            raise ValueError(f"a Redis or broker URL must start with one of {', '.join(schemes)}")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            _ = parts.port  # parsed only now: a port that is not a number raises
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "BATCHHOOK_PUBLIC_URL must be an http(s) URL such as https://hooks.example.com"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                "BATCHHOOK_PUBLIC_URL must be a base URL: no query, fragment or credentials"
            )
        return value.rstrip("/")

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value not in (None, "json", "console"):
            raise ValueError("BATCHHOOK_LOG_FORMAT must be 'json' or 'console'")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"BATCHHOOK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return level

    @property
    def retry_delays_s(self) -> tuple[float, ...]:
        return _delays_s(self.retry_schedule)

    @property
    def effective_public_url(self) -> str:
        """The base of links to this API: ``BATCHHOOK_PUBLIC_URL``, else this host's port."""
        return self.public_url or f"http://localhost:{self.port}"

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("console" if self.dev else "json")

    @property
    def log_level_number(self) -> int:
        """``log_level`` as the logging module numbers it."""
        return LOG_LEVELS[self.log_level]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)


@functools.cache
def get_settings() -> Settings:
    return Settings()


def environ_snapshot() -> dict[str, str]:
    """The process environment, for starting child processes (the dev command)."""
    return dict(os.environ)


@functools.lru_cache(maxsize=8)
def _delays_s(schedule: str) -> tuple[float, ...]:
    """Cached: every attempt asks for the retry schedule."""
    return tuple(float(p) for p in schedule.split(",") if p)
