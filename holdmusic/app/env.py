"""What the environment says, read once by an interface (the CLI, the web server).

Nothing below the application layer reads ``os.environ`` for holdmusic's own variables:
an interface builds an :class:`Environment` at start (``Environment.from_env(os.environ)``)
and hands it to every entry point. A web server reads it once at start-up; a test builds
one by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from holdmusic.app.variables import ALLOW_PRIVATE_ENV as ALLOW_PRIVATE_ENV
from holdmusic.app.variables import VARIABLES as VARIABLES
from holdmusic.errors import UsageError

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient
    from holdmusic.storesettings import StorageSettings


class SettingError(UsageError):
    """An environment variable holds a value holdmusic refuses. ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


def allow_private_from(value: str | None) -> bool:
    """``1`` opts in, unset (or empty) does not; anything else is refused rather than
    silently ignored (``true`` once looked like it worked)."""
    if value is None or value == "":
        return False
    if value == "1":
        return True
    shown = value if len(value) <= 20 and value.isprintable() else repr(value[:20])
    raise SettingError(
        ALLOW_PRIVATE_ENV,
        f"{ALLOW_PRIVATE_ENV} is {shown!r}: set it to exactly 1 to allow loopback and "
        "private URLs (local testing only), or unset it",
    )


@dataclass(frozen=True, kw_only=True)
class Environment:
    """The settings an interface read from the environment, for every entry point."""

    daily_api_key: str | None = None
    daily_api_url: str | None = None
    allow_private_urls: bool = False
    # The rest only feeds storage_settings() (a web page has no options to read).
    storage: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Environment:
        """Read the variables; a refused value raises :class:`SettingError` (usage)."""
        keys = (
            "HOLDMUSIC_BUCKET",
            "HOLDMUSIC_PREFIX",
            "HOLDMUSIC_PUBLIC_BASE_URL",
            "HOLDMUSIC_ENDPOINT_URL",
            "HOLDMUSIC_REGION",
            "HOLDMUSIC_ACL",
            "HOLDMUSIC_CACHE_CONTROL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
        )
        return cls(
            daily_api_key=env.get("DAILY_API_KEY"),
            daily_api_url=env.get("DAILY_API_URL") or None,
            allow_private_urls=allow_private_from(env.get(ALLOW_PRIVATE_ENV)),
            storage={k: env[k] for k in keys if env.get(k)},
        )

    def daily_client(self, **kwargs: Any) -> DailyClient:
        """A client for this environment's key and URL (a usage error without a key).
        Sends nothing."""
        from holdmusic.daily import DEFAULT_BASE_URL, DailyClient

        return DailyClient(
            self.daily_api_key or "", self.daily_api_url or DEFAULT_BASE_URL, **kwargs
        )

    def storage_settings(self, **given: Any) -> StorageSettings:
        """Storage settings: what was ``given`` (options), else the environment's
        HOLDMUSIC_* values, else the defaults; boto3's AWS_ENDPOINT_URL[_S3] apply when
        no endpoint is given. Raises a usage error for a bad value."""
        # Here, not at the top: `holdmusic validate` reads the environment too, and never
        # needs the storage settings.
        from holdmusic.storesettings import (
            DEFAULT_CACHE_CONTROL,
            DEFAULT_PREFIX,
            StorageSettings,
            resolve_endpoint,
        )

        env = self.storage

        def pick(name: str, var: str, default: Any = None) -> Any:
            value = given.get(name)
            return value if value is not None else env.get(var, default)

        settings = StorageSettings(
            bucket=pick("bucket", "HOLDMUSIC_BUCKET", ""),
            prefix=pick("prefix", "HOLDMUSIC_PREFIX", DEFAULT_PREFIX),
            endpoint_url=pick("endpoint_url", "HOLDMUSIC_ENDPOINT_URL"),
            region=pick("region", "HOLDMUSIC_REGION"),
            public_base_url=pick("public_base_url", "HOLDMUSIC_PUBLIC_BASE_URL"),
            acl=pick("acl", "HOLDMUSIC_ACL", "none"),
            cache_control=pick("cache_control", "HOLDMUSIC_CACHE_CONTROL", DEFAULT_CACHE_CONTROL),
        )
        return resolve_endpoint(settings, env)
