"""Request bodies. Unknown fields are refused, so a typo never passes silently."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from worker.models import DEFAULT_EVENT_TYPES, ENDPOINT_OPTIONS, EVENT_TYPES
from worker.providers import REGISTRY, unknown_provider_message
from worker.providers.base import PARAMS_ENCODING_KEY
from worker.signing import is_valid_secret

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

BatchId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/\-]+$")
]
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _check_secret(value: str | None) -> str | None:
    if value is not None and not is_valid_secret(value):
        raise ValueError("must be 'whsec_' followed by base64 of at least 16 bytes")
    return value


class ConnectionIn(Body):
    """A provider account. Each provider checks the options it takes (``check_options``):
    ``azure`` needs ``base_url`` and takes only ``params.api_version``; ``params_encoding``
    ("json" or "base64", for the tracking header of ``keywordsai`` and ``respan``) is kept
    in ``params`` under that same key, so the stored connection needs no field of its own.
    """

    provider: str
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    base_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    headers: dict[str, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=50
    )
    params: dict[str, Any] | None = None
    webhook_secret: str | None = None
    watch_all: bool = False
    params_encoding: Literal["json", "base64"] | None = None

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in REGISTRY:
            raise ValueError(unknown_provider_message(value))
        return value

    @field_validator("headers")
    @classmethod
    def _header_shapes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\r" in header_value or "\n" in header_value:
                raise ValueError(f"header {name!r} must not contain line breaks")
        return {name.lower(): header_value for name, header_value in value.items()}

    @field_validator("params")
    @classmethod
    def _params_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > 4096:
            raise ValueError("must be at most 4096 bytes of JSON")
        return value

    _secret = field_validator("webhook_secret")(_check_secret)

    @model_validator(mode="after")
    def _provider_options(self) -> Self:
        if self.params_encoding is not None:
            self.params = {**(self.params or {}), PARAMS_ENCODING_KEY: self.params_encoding}
        REGISTRY[self.provider].check_options(self.base_url, self.params)
        return self


def _check_events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return value
    if not value:
        raise ValueError("must name at least one event type")
    unknown = sorted(set(value) - EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
    return list(dict.fromkeys(value))


RateLimit = Annotated[int, Field(ge=1, le=10_000)]


ProgressStep = Annotated[int, Field(ge=1, le=100)]  # percent
LeadTime = Annotated[int, Field(ge=60, le=30 * 86400)]  # seconds
LinksTtl = Annotated[int, Field(ge=60, le=7 * 86400)]  # seconds


class EndpointOptions(Body):
    """How the endpoint's opt-in events behave (``models.ENDPOINT_OPTIONS``)."""

    progress_step: ProgressStep | None = None  # batch.progress every this many percent
    expiring_lead_time: LeadTime | None = None  # batch.expiring this long before the deadline
    result_links_ttl: LinksTtl | None = None  # output_url / error_url stay valid this long
    include_results_summary: bool | None = None  # terminal events summarise the output
    format: Literal["standard", "slack"] | None = None  # models.BODY_FORMATS

    def options(self) -> dict[str, int | bool | str]:
        return {
            name: value for name in ENDPOINT_OPTIONS if (value := getattr(self, name)) is not None
        }


class EndpointIn(EndpointOptions):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENT_TYPES))
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    secret: str | None = None
    rate_limit: RateLimit | None = None  # deliveries per second to this endpoint

    _events = field_validator("events")(_check_events)
    _secret = field_validator("secret")(_check_secret)


class EndpointPatch(EndpointOptions):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    events: list[str] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    disabled: bool | None = None
    rate_limit: RateLimit | None = None  # an explicit null goes back to the default

    _events = field_validator("events")(_check_events)


class BatchIn(Body):
    batch_id: BatchId
    connection_id: ObjectId
    endpoint_ids: list[ObjectId] | None = Field(default=None, max_length=50)
    # OpenAI's rule for a batch's metadata: at most 16 pairs of strings, 64 / 512 chars.
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=16)
    poll_interval: Annotated[float, Field(ge=1, le=86400, strict=False)] | None = None

    @field_validator("batch_id")
    @classmethod
    def _plain_path_segments(cls, value: str) -> str:
        """A slash may separate parts (Bedrock job ARNs), but no part is empty, . or .."""
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must not have empty, '.' or '..' parts between slashes")
        return value


class RedeliverIn(Body):
    endpoint_id: ObjectId | None = None
