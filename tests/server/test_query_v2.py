"""`POST /v2/query` over real HTTP: formats, limits, errors."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow as pa
import pytest

from pipelines.schemas import table_definition
from pipelines.server import LocalLogfireServer
from pipelines.server.synthetic import records_at

DAY = datetime(2024, 5, 1, tzinfo=UTC)
ARROW = "application/vnd.apache.arrow.stream"
SQL = "SELECT span_id, start_timestamp, tags, is_exception, level, day FROM records"


@pytest.fixture
def filled(server: LocalLogfireServer) -> LocalLogfireServer:
    server.store.append("records", records_at([DAY + timedelta(seconds=i) for i in range(300)]))
    return server


def body(sql: str = SQL, **extra: object) -> dict[str, object]:
    return {"sql": sql, "min_timestamp": DAY.isoformat(), **extra}


def test_json_has_schema_in_arrow_rs_form_and_rfc3339_timestamps(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    response = http.post("/v2/query", json=body(f"{SQL} ORDER BY start_timestamp"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    fields = {f["name"]: f for f in document["schema"]["fields"]}
    assert document["schema"]["metadata"] == {}
    assert fields["span_id"] == {"name": "span_id", "data_type": "Utf8", "nullable": False}
    assert fields["start_timestamp"]["data_type"] == {"Timestamp": ["Microsecond", "UTC"]}
    assert fields["level"]["data_type"] == "Int32"
    assert fields["day"]["data_type"] == "Date32"
    assert fields["tags"]["data_type"] == {
        "List": {
            "name": "item",
            "data_type": "Utf8",
            "nullable": True,
            "dict_id": 0,
            "dict_is_ordered": False,
            "metadata": {},
        }
    }
    first = document["data"][0]
    assert first["start_timestamp"] == "2024-05-01T00:00:00.000000Z"
    assert first["day"] == "2024-05-01"
    assert isinstance(first["is_exception"], bool)


def test_default_limit_is_100_and_max_is_10000(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    assert len(http.post("/v2/query", json=body()).json()["data"]) == 100
    assert len(http.post("/v2/query", json=body(limit=250)).json()["data"]) == 250
    capped = http.post("/v2/query", json=body(f"{SQL} LIMIT 1000", limit=120))
    assert len(capped.json()["data"]) == 120
    assert http.post("/v2/query", json=body(limit=10_000)).status_code == 200
    assert http.post("/v2/query", json=body(limit=10_001)).status_code == 422
    assert http.post("/v2/query", json=body(limit=0)).status_code == 422


def test_max_timestamp_is_an_inclusive_bound(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    end = DAY + timedelta(seconds=9)
    response = http.post(
        "/v2/query", json=body("SELECT count(*) AS n FROM records", max_timestamp=end.isoformat())
    )
    assert response.json()["data"] == [{"n": 10}]


def test_arrow_stream_keeps_the_table_schema(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    columns = ", ".join(table_definition("records").columns)
    response = http.post(
        "/v2/query",
        json=body(f"SELECT {columns} FROM records", limit=300),
        headers={"accept": f"{ARROW}, application/problem+json;q=0.9"},
    )
    assert response.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.num_rows == 300
    assert table.schema.equals(table_definition("records").schema)


def test_csv_has_a_header_even_without_rows_json_lists_and_lowercase_booleans(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    headers = {"accept": "text/csv"}
    response = http.post(
        "/v2/query", json=body(f"{SQL} ORDER BY start_timestamp", limit=1), headers=headers
    )
    assert response.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["is_exception"] in ("true", "false")
    assert row["start_timestamp"] == "2024-05-01T00:00:00.000000Z"
    assert isinstance(json.loads(row["tags"] or "null"), list | None)
    empty = http.post("/v2/query", json=body(f"{SQL} WHERE false"), headers=headers)
    assert empty.text.strip().split(",")[0].strip('"') == "span_id"
    assert len(empty.text.strip().splitlines()) == 1


def test_ndjson_streams_schema_data_and_end(filled: LocalLogfireServer, http: httpx.Client) -> None:
    response = http.post(
        "/v2/query", json=body(limit=300, explain=True), headers={"accept": "application/x-ndjson"}
    )
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["type"] for line in lines[:2]] == ["schema", "explain"]
    assert lines[-1] == {"type": "end", "row_count": 300}
    assert sum(len(line["rows"]) for line in lines if line["type"] == "data") == 300


def test_explain_adds_the_plans_to_json(filled: LocalLogfireServer, http: httpx.Client) -> None:
    document = http.post("/v2/query", json=body(explain=True, limit=1)).json()
    assert "Projection" in document["logical_plan"]
    assert document["physical_plan"] and document["physical_plan_with_metrics"]


def test_include_schema_false_leaves_the_schema_out(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    document = http.post("/v2/query", json=body(include_schema=False, limit=1)).json()
    assert list(document) == ["data"]


def test_deployment_environment_and_timezone_are_applied(
    filled: LocalLogfireServer, http: httpx.Client
) -> None:
    sql = "SELECT count(*) AS n FROM records WHERE deployment_environment IS NULL"
    assert http.post("/v2/query", json=body(sql, deployment_environment=["no-such"])).json()[
        "data"
    ] == [{"n": 0}]
    zone = http.post(
        "/v2/query", json=body("SELECT arrow_typeof(now()) AS t", timezone="Asia/Tokyo")
    ).json()
    assert "Asia/Tokyo" in zone["data"][0]["t"]


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        pytest.param({"min_timestamp": DAY.isoformat()}, ["body", "sql"], id="missing-sql"),
        pytest.param({"sql": SQL}, ["body", "min_timestamp"], id="missing-min-timestamp"),
        pytest.param(
            {"sql": SQL, "min_timestamp": "2024-05-01T00:00:00"},
            ["body", "min_timestamp"],
            id="naive-min-timestamp",
        ),
        pytest.param({**body(), "limit": 10_001}, ["body", "limit"], id="limit-too-large"),
    ],
)
def test_invalid_requests_get_422_in_fastapi_shape(
    http: httpx.Client, payload: dict[str, object], location: list[str]
) -> None:
    response = http.post("/v2/query", json=payload)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == location
    assert error["msg"] and error["type"]


def test_malformed_json_gets_422(http: httpx.Client) -> None:
    response = http.post(
        "/v2/query", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_failing_sql_gets_400_with_datafusion_message(http: httpx.Client) -> None:
    response = http.post("/v2/query", json=body("SELECT nope FROM records"))
    assert response.status_code == 400
    assert "nope" in response.json()["detail"]


def test_problem_json_carries_the_legacy_body(http: httpx.Client) -> None:
    response = http.post(
        "/v2/query",
        json=body("SELECT nope FROM records"),
        headers={"accept": "application/json, application/problem+json;q=0.9"},
    )
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"]
    assert problem["type"].endswith("/query-failed")
    assert "nope" in problem["detail"]
    assert problem["error_details"] == {"detail": problem["detail"]}


@pytest.mark.parametrize(
    "authorization",
    [None, "wrong", "Bearer wrong", "pylf_v1_us_LocalWriteToken000000000000000000000000000"],
    ids=["missing", "wrong-raw", "wrong-bearer", "write-token"],
)
def test_bad_tokens_get_401(server: LocalLogfireServer, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = httpx.post(f"{server.base_url}/v2/query", json=body(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token"}


def test_bearer_token_is_accepted(server: LocalLogfireServer) -> None:
    headers = {"authorization": f"Bearer {server.read_token}"}
    assert (
        httpx.post(f"{server.base_url}/v2/query", json=body(), headers=headers).status_code == 200
    )


def test_unsupported_accept_gets_406(http: httpx.Client) -> None:
    response = http.post("/v2/query", json=body(), headers={"accept": "image/png"})
    assert response.status_code == 406
