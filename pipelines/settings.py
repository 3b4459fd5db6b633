"""Settings, read through pydantic-settings from the environment or a `.env` file.

The read token is kept apart from everything else: it is read only when a run starts, held
as a `SecretStr`, and never put in Dagster config, metadata or logs.
"""

import os
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    AWSSecretsManagerSettingsSource,
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipelines.query_api import ApiVersion


class MissingReadTokenError(RuntimeError):
    """No read token could be found in any configured source."""


# A folder of mounted secrets (Docker and Kubernetes): a file named LOGFIRE_READ_TOKEN in it.
SECRETS_DIR_VARIABLE = "LOGFIRE_EXPORT_SECRETS_DIR"
# An AWS Secrets Manager secret whose JSON value has a LOGFIRE_READ_TOKEN key.
AWS_SECRET_VARIABLE = "LOGFIRE_EXPORT_AWS_SECRET_ID"


class ReadTokenSettings(BaseSettings):
    """The Logfire read token, named `LOGFIRE_READ_TOKEN` in every source."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # `LOGFIRE_TOKEN` is the SDK's *write* token: deliberately not an alias here.
    read_token: SecretStr = Field(validation_alias="LOGFIRE_READ_TOKEN", min_length=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings, file_secret_settings]
        secret_id = os.environ.get(AWS_SECRET_VARIABLE)
        if secret_id:
            # Region, endpoint and credentials come from the AWS chain (AWS_REGION,
            # AWS_ENDPOINT_URL, the profile or the instance role), as for S3.
            sources.append(AWSSecretsManagerSettingsSource(settings_cls, secret_id))
        return tuple(sources)


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


def read_token() -> SecretStr:
    """The read token from its sources, or an error that says where it was looked for.

    Sources, first match wins: the environment, `.env` in the working directory, the
    folder named by LOGFIRE_EXPORT_SECRETS_DIR, and the AWS Secrets Manager secret named by
    LOGFIRE_EXPORT_AWS_SECRET_ID.
    """
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise MissingReadTokenError(
            f"{SECRETS_DIR_VARIABLE}={secrets_dir} is not a folder; it should hold a file "
            "named LOGFIRE_READ_TOKEN"
        )
    try:
        return ReadTokenSettings(_secrets_dir=secrets_dir).read_token
    except (BotoCoreError, ClientError) as exc:
        raise MissingReadTokenError(
            f"could not read the AWS Secrets Manager secret named by {AWS_SECRET_VARIABLE} "
            f"({os.environ.get(AWS_SECRET_VARIABLE)!r}): {exc}"
        ) from exc
    except ValidationError:
        raise MissingReadTokenError(
            "no Logfire read token: set LOGFIRE_READ_TOKEN in the environment or in a .env "
            f"file in the working directory, mount it as a file in {SECRETS_DIR_VARIABLE}, or "
            f"name an AWS Secrets Manager secret in {AWS_SECRET_VARIABLE} (create the token "
            "under Project settings > Read tokens)"
        ) from None
