"""Dagster resources: the Query API connection and the Parquet output root.

The token is read when a run starts (`setup_for_execution`) and kept in a private
attribute, so it never appears in the resource's config, the UI or the run's logs.
"""

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr, SecretStr

from pipelines.query_api import QueryClient, RetryPolicy, parse_api_version
from pipelines.settings import ExportSettings, read_token
from pipelines.storage.partitions import PartitionStore, S3Options


class LogfireQueryResource(ConfigurableResource["LogfireQueryResource"]):
    """The Logfire Query API, with the read token from the secret store."""

    # None: LOGFIRE_EXPORT_BASE_URL, else the host of the token's region.
    base_url: str | None = None
    # None: LOGFIRE_EXPORT_API_VERSION, else v2.
    api_version: str | None = None
    max_attempts: int = 5

    _token: SecretStr | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._token = read_token()

    def client(self) -> QueryClient:
        """A new client; close it (or use it as a context manager) when done."""
        token = self._token or read_token()
        settings = ExportSettings()
        api_version = parse_api_version(self.api_version or settings.api_version)
        return QueryClient(
            token.get_secret_value(),
            base_url=self.base_url or settings.base_url,
            api_version=api_version,
            retry=RetryPolicy(max_attempts=self.max_attempts),
        )


class ParquetStorageResource(ConfigurableResource["ParquetStorageResource"]):
    """Where partitions are written: a local folder or `s3://bucket/prefix`."""

    # None: LOGFIRE_EXPORT_STORAGE_ROOT, else ./data.
    root: str | None = None
    # None: LOGFIRE_EXPORT_S3_ENDPOINT_URL / LOGFIRE_EXPORT_S3_REGION, else the AWS chain.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def store(self) -> PartitionStore:
        settings = ExportSettings()
        s3 = S3Options(
            endpoint_url=self.s3_endpoint_url or settings.s3_endpoint_url,
            region=self.s3_region or settings.s3_region,
        )
        # Only the default root (`data` in the working directory) is created if missing; a
        # root someone chose must exist, or a typo would write somewhere nobody looks.
        default_root = self.root is None and "storage_root" not in settings.model_fields_set
        return PartitionStore(self.root or settings.storage_root, s3=s3, create_root=default_root)
