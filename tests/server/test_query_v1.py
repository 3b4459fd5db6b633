"""`GET /v1/query` and the small read endpoints over real HTTP."""

from datetime import UTC, datetime, timedelta

import httpx
import pyarrow as pa
import pytest

from pipelines.schemas import raw_schemas_document
from pipelines.server import LocalLogfireServer
from pipelines.server.synthetic import records_at

DAY = datetime(2024, 5, 1, tzinfo=UTC)
SQL = "SELECT span_id, start_timestamp, level FROM records ORDER BY start_timestamp"


@pytest.fixture
def filled(server: LocalLogfireServer) -> LocalLogfireServer:
    server.store.append("records", records_at([DAY + timedelta(seconds=i) for i in range(700)]))
    return server


def test_column_oriented_json_by_default_with_limit_500(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    response = http.get("/v1/query", params={"sql": SQL})
    assert response.status_code == 200
    columns = response.json()["columns"]
    assert [c["name"] for c in columns] == ["span_id", "start_timestamp", "level"]
    timestamps = columns[1]
    assert timestamps["datatype"] == {"Timestamp": ["Microsecond", "UTC"]}
    assert timestamps["nullable"] is False
    assert len(timestamps["values"]) == 500
    assert timestamps["values"][0] == "2024-05-01T00:00:00.000000Z"


@pytest.mark.parametrize("flag", ["json_rows", "row_oriented"])
def test_row_oriented_json(filled: LocalLogfireServer, http: httpx.Client, flag: str) -> None:
    response = http.get("/v1/query", params={"sql": SQL, flag: "true", "limit": 3})
    document = response.json()
    assert document["columns"][2] == {"name": "level", "datatype": "Int32", "nullable": False}
    assert len(document["rows"]) == 3
    assert document["rows"][0]["start_timestamp"] == "2024-05-01T00:00:00.000000Z"


def test_sql_limit_is_capped_by_the_default(filled: LocalLogfireServer, http: httpx.Client) -> None:
    response = http.get("/v1/query", params={"sql": f"{SQL} LIMIT 1000", "json_rows": "true"})
    assert len(response.json()["rows"]) == 500


def test_time_bounds_are_inclusive(filled: LocalLogfireServer, http: httpx.Client) -> None:
    params = {
        "sql": "SELECT count(*) AS n FROM records",
        "min_timestamp": (DAY + timedelta(seconds=10)).isoformat(),
        "max_timestamp": (DAY + timedelta(seconds=20)).isoformat(),
        "json_rows": "true",
    }
    assert http.get("/v1/query", params=params).json()["rows"] == [{"n": 11}]


def test_arrow_and_csv_answers(filled: LocalLogfireServer, http: httpx.Client) -> None:
    arrow = http.get(
        "/v1/query",
        params={"sql": SQL, "limit": 10},
        headers={"accept": "application/vnd.apache.arrow.stream"},
    )
    assert pa.ipc.open_stream(arrow.content).read_all().num_rows == 10
    csv = http.get("/v1/query", params={"sql": SQL, "limit": 10}, headers={"accept": "text/csv"})
    assert csv.headers["content-disposition"] == 'attachment; filename="query_results.csv"'
    assert len(csv.text.strip().splitlines()) == 11


@pytest.mark.parametrize(
    ("params", "location"),
    [({}, ["query", "sql"]), ({"sql": SQL, "limit": "10001"}, ["query", "limit"])],
    ids=["missing-sql", "limit-too-large"],
)
def test_invalid_parameters_get_422(
    http: httpx.Client, params: dict[str, str], location: list[str]
) -> None:
    response = http.get("/v1/query", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == location


def test_failing_sql_gets_400(http: httpx.Client) -> None:
    response = http.get("/v1/query", params={"sql": "SELEC nonsense"})
    assert response.status_code == 400
    assert response.json()["detail"]


def test_read_token_info(http: httpx.Client) -> None:
    info = http.get("/v1/read-token-info").json()
    assert set(info) >= {
        "token_id",
        "organization_id",
        "organization_subscription_plan",
        "project_id",
        "organization_name",
        "project_name",
    }


def test_schemas_serves_the_logfire_document(http: httpx.Client) -> None:
    document = http.get("/v1/schemas").json()
    assert document == raw_schemas_document()
    sizes = {table["name"]: len(table["schema"]) for table in document["tables"]}
    assert sizes == {"records": 44, "metrics": 41}


def test_info_needs_the_write_token(server: LocalLogfireServer) -> None:
    url = f"{server.base_url}/v1/info"
    info = httpx.get(url, headers={"authorization": server.write_token}).json()
    assert set(info) >= {"project_name", "project_url"}
    assert httpx.get(url, headers={"authorization": server.read_token}).status_code == 401


def test_read_endpoints_reject_the_write_token(server: LocalLogfireServer) -> None:
    response = httpx.get(
        f"{server.base_url}/v1/read-token-info",
        headers={"authorization": f"Bearer {server.write_token}"},
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token"}
