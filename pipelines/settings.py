"""Settings, read through pydantic-settings from the environment or a `.env` file.

The read token is kept apart from everything else: it is read only when a run starts, held
as a `SecretStr`, and never put in Dagster config, metadata or logs.
"""

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.query_api import ApiVersion


class MissingReadTokenError(RuntimeError):
    """No read token could be found in any configured source."""


class ReadTokenSettings(BaseSettings):
    """The Logfire read token: `LOGFIRE_READ_TOKEN` in the environment or in `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # `LOGFIRE_TOKEN` is the SDK's *write* token: deliberately not an alias here.
    read_token: SecretStr = Field(validation_alias="LOGFIRE_READ_TOKEN", min_length=1)


class ExportSettings(BaseSettings):
    """Where to read from and write to (`LOGFIRE_EXPORT_*`)."""

    model_config = SettingsConfigDict(env_prefix="LOGFIRE_EXPORT_", env_file=".env", extra="ignore")

    # None: follow the token's region (US or EU).
    base_url: str | None = None
    api_version: ApiVersion = "v2"
    # A local path or URL; the Hive layout goes under `<root>/<export>/`.
    storage_root: str = "data"
    # For an `s3://` root: an S3-compatible endpoint (MinIO, R2, Ceph) and a region. None
    # leaves them to the AWS chain (`AWS_ENDPOINT_URL`, `AWS_REGION`, the profile), which
    # also supplies the credentials.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    config_file: Path = Path("config/exports.yaml")


# A folder of mounted secrets (Docker and Kubernetes): a file named LOGFIRE_READ_TOKEN in it.
SECRETS_DIR_VARIABLE = "LOGFIRE_EXPORT_SECRETS_DIR"


def read_token() -> SecretStr:
    """The read token from its sources, or an error that says where it was looked for.

    Sources, first match wins: the environment, `.env` in the working directory, and the
    folder named by LOGFIRE_EXPORT_SECRETS_DIR.
    """
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise MissingReadTokenError(
            f"{SECRETS_DIR_VARIABLE}={secrets_dir} is not a folder; it should hold a file "
            "named LOGFIRE_READ_TOKEN"
        )
    try:
        return ReadTokenSettings(_secrets_dir=secrets_dir).read_token
    except ValidationError:
        raise MissingReadTokenError(
            "no Logfire read token: set LOGFIRE_READ_TOKEN in the environment or in a .env "
            f"file in the working directory, or mount it as a file in {SECRETS_DIR_VARIABLE} "
            "(create the token under Project settings > Read tokens)"
        ) from None
