"""Where the read token comes from; the environment is cleared for every test."""

import json
import secrets
from pathlib import Path

import boto3
import pytest

from pipelines.settings import MissingReadTokenError, read_token
from tests.storage.s3_server import FAKE_CREDENTIALS, S3Endpoint


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "LOGFIRE_READ_TOKEN",
        "LOGFIRE_EXPORT_SECRETS_DIR",
        "LOGFIRE_EXPORT_AWS_SECRET_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env unless a test writes one


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOGFIRE_READ_TOKEN=from-dotenv\n")
    monkeypatch.setenv("LOGFIRE_READ_TOKEN", "from-env")
    assert read_token().get_secret_value() == "from-env"


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOGFIRE_READ_TOKEN=from-dotenv\n")
    assert read_token().get_secret_value() == "from-dotenv"


def test_a_mounted_secret_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "LOGFIRE_READ_TOKEN").write_text("from-file")
    monkeypatch.setenv("LOGFIRE_EXPORT_SECRETS_DIR", str(secrets))
    token = read_token()
    assert token.get_secret_value() == "from-file"
    assert "from-file" not in repr(token) and "from-file" not in str(token)


def test_a_missing_token_says_where_it_was_looked_for() -> None:
    with pytest.raises(MissingReadTokenError, match="LOGFIRE_READ_TOKEN") as info:
        read_token()
    assert ".env" in str(info.value) and "LOGFIRE_EXPORT_SECRETS_DIR" in str(info.value)


def test_a_secrets_dir_that_is_not_a_folder_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOGFIRE_EXPORT_SECRETS_DIR", str(tmp_path / "nope"))
    with pytest.raises(MissingReadTokenError, match="nope is not a folder"):
        read_token()


def test_a_token_in_aws_secrets_manager_is_read(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: S3Endpoint
) -> None:
    for name, value in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint.url}.items():
        monkeypatch.setenv(name, value)
    secret_id = f"logfire/read-token-{secrets.token_hex(4)}"
    boto3.client("secretsmanager").create_secret(
        Name=secret_id, SecretString=json.dumps({"LOGFIRE_READ_TOKEN": "from-aws"})
    )
    monkeypatch.setenv("LOGFIRE_EXPORT_AWS_SECRET_ID", secret_id)
    assert read_token().get_secret_value() == "from-aws"


def test_a_missing_aws_secret_is_named(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: S3Endpoint
) -> None:
    for name, value in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint.url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOGFIRE_EXPORT_AWS_SECRET_ID", "logfire/does-not-exist")
    with pytest.raises(MissingReadTokenError, match="'logfire/does-not-exist'"):
        read_token()
