"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.0, portable patterns, every
error an operation answers declared, realistic examples, and answers that match it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from marshmallow import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator
from openapi_spec_validator import validate

from tests.conftest import make_app
from tracker.dossiers import s10
from tracker.schemas import FullMatch

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    # The document does not depend on the database: one app on an empty SQLite file serves it.
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'doc.sqlite3'}")
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def walk(node, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every schema-like mapping of the document, with where it is."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def test_the_document_is_valid_openapi(spec):
    validate(spec)  # raises OpenAPIValidationError, naming the first error


# Patterns -----------------------------------------------------------------------------------

# Python-only: \Z and \A (ECMA-262 has neither), named groups (?P<...>), comments, flags.
NOT_PORTABLE = re.compile(r"\\[ZAz]|\(\?P|\(\?#|\(\?[aiLmsux]")


def test_patterns_read_alike_in_python_and_ecma_262(spec):
    patterns = {where: node["pattern"] for where, node in walk(spec) if "pattern" in node}
    assert patterns, "the document has patterns to check"
    for where, pattern in patterns.items():
        assert not NOT_PORTABLE.search(pattern), (where, pattern)
        assert pattern.startswith("^") and pattern.endswith("$"), (where, pattern)
        re.compile(pattern)


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        ("^[0-9]{4}$", ["1234", "0000"], ["123", "12345", "12a4", "1234\n", "\n1234", "١٢٣٤"]),
        (
            "^(?:[0-9]{9}|[0-9]{12})$",
            ["123456789", "075190001234"],
            ["1234567890", "12345678", "123456789\n", "12345678901234"],
        ),
    ],
)
def test_full_match_takes_the_whole_value_and_no_trailing_newline(pattern, accepted, refused):
    # validate.Regexp (re.match) let "1234\n" through a `$` pattern; FullMatch does not.
    check = FullMatch(pattern, error="no")
    for value in accepted:
        assert check(value) == value
    for value in refused:
        with pytest.raises(ValidationError):
            check(value)


def test_full_match_wants_an_anchored_pattern():
    with pytest.raises(ValueError, match="anchored"):
        FullMatch("[0-9]{4}")


def test_bounds_are_numbers(spec):
    for where, node in walk(spec):
        for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
            if key in node and isinstance(node[key], dict | list):
                continue  # a property that happens to be named so
            if key in node:
                assert isinstance(node[key], int | float), (where, key, node[key])


# Statuses -----------------------------------------------------------------------------------


def test_every_operation_declares_its_errors_with_the_error_body(spec):
    error_responses = spec["components"]["responses"]
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        assert "default" not in responses, label  # a catch-all would hide undeclared statuses
        assert "503" in responses, label  # the database unavailable
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), label
        if operation.get("security") != []:  # a token is needed: missing, or not allowed
            assert {"401", "403"} <= set(responses), label
        if re.search(r"\{(code|batch_id|job_id)\}", path):
            assert "404" in responses, label
        for status, response in responses.items():
            if int(status) < 400:
                continue
            if "$ref" in response:
                response = error_responses[response["$ref"].rsplit("/", 1)[1]]
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (label, status)


def test_public_operations_need_no_token(spec):
    public = {path for path, _, op in operations(spec) if op.get("security") == []}
    assert public == {
        "/api/v1/track",
        "/api/v1/channels",
        "/api/v1/offices",
        "/api/v1/agencies",
        "/api/v1/sectors",
        "/api/v1/procedures",
    }


# Examples -----------------------------------------------------------------------------------


def _validator(spec: dict, schema: dict, cls=OAS30Validator):
    # Refs (#/components/...) resolve against a document that carries the components.
    return cls({**schema, "components": spec["components"]})


def test_every_example_is_valid_for_its_own_schema(spec):
    checked = 0
    for where, node in walk(spec):
        if "example" not in node:
            continue
        if "schema" in node:  # a parameter: its example, its schema
            schema = node["schema"]
        elif "type" in node:  # a schema or a property
            schema = {key: value for key, value in node.items() if key != "example"}
        else:
            continue
        errors = list(_validator(spec, schema).iter_errors(node["example"]))
        assert not errors, (where, node["example"], errors[0].message)
        checked += 1
    assert checked > 60


def test_examples_name_the_test_catalogue_and_valid_item_numbers(spec, catalogue):
    examples = {node["example"] for _, node in walk(spec) if isinstance(node.get("example"), str)}
    for code in (
        catalogue.procedure.code,
        catalogue.office.code,
        catalogue.agency.code,
        catalogue.channel.code,
        catalogue.sector.code,
        f"{catalogue.agency.code}-250104-0001",  # the first dossier of 4 January 2025
    ):
        assert code in examples, code
    items = [e for e in examples if re.fullmatch(r"[A-Z]{2}[0-9]{9}VN", e)]
    assert len(items) >= 2
    for item in items:
        assert s10.validate(item) is None, item
    phones = [e for e in examples if re.fullmatch(r"0[0-9]{9,10}", e)]
    assert phones


# Answers match the document (regressions found by tests/test_api_fuzz.py) -------------------


def response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def assert_documented(spec, path, method, response) -> None:
    schema = response_schema(spec, path, method, response.status_code)
    _validator(spec, schema, OAS30ReadValidator).validate(response.get_json())


def test_answers_with_nulls_match_their_schemas(
    spec, client, catalogue, make_staff, create_dossier
):
    """Catalogue rows without dates (or fee, or address), a dossier without item number,
    appointment or due date, its first event (no previous status), a refresh job not started:
    nulls the document once said were strings or integers."""
    clerk = make_staff("clerk")
    manager = make_staff("manager")
    dossier = create_dossier(
        service_form="send_only", delivery_address=None, appointment_date=None, fee_vnd=0
    )
    code = dossier["code"]
    calls = [
        ("/api/v1/channels", "/api/v1/channels", None),
        ("/api/v1/offices", "/api/v1/offices", None),
        ("/api/v1/agencies", "/api/v1/agencies", None),
        ("/api/v1/sectors", "/api/v1/sectors", None),
        ("/api/v1/procedures", "/api/v1/procedures", None),
        ("/api/v1/dossiers", "/api/v1/dossiers", clerk),
        (f"/api/v1/dossiers/{code}", "/api/v1/dossiers/{code}", clerk),
        (f"/api/v1/dossiers/{code}/events", "/api/v1/dossiers/{code}/events", clerk),
        (f"/api/v1/dossiers/{code}/notifications", "/api/v1/dossiers/{code}/notifications", clerk),
        ("/api/v1/reports/baselines/2025", "/api/v1/reports/baselines/{year}", manager),
        ("/api/v1/reports/targets/2025", "/api/v1/reports/targets/{year}", manager),
    ]
    for url, path, staff in calls:
        response = client.get(url, headers=staff.headers if staff else None)
        assert response.status_code == 200, (url, response.get_json())
        assert_documented(spec, path, "get", response)

    job = client.post("/api/v1/reports/refresh", headers=manager.headers)
    assert job.status_code == 202
    assert job.get_json()["started_at"] is None
    assert_documented(spec, "/api/v1/reports/refresh", "post", job)
    again = client.get(f"/api/v1/reports/refresh/{job.get_json()['id']}", headers=manager.headers)
    assert_documented(spec, "/api/v1/reports/refresh/{job_id}", "get", again)


def test_error_answers_match_the_error_schema(spec, client, clerk, create_dossier):
    code = create_dossier()["code"]
    stale = client.patch(
        f"/api/v1/dossiers/{code}", json={"version": 9, "note": "x"}, headers=clerk.headers
    )
    assert stale.status_code == 409 and stale.get_json()["error"]["current_version"] == 1
    assert_documented(spec, "/api/v1/dossiers/{code}", "patch", stale)
    transition = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": "delivered"}, headers=clerk.headers
    )
    assert transition.status_code == 409 and "allowed" in transition.get_json()["error"]
    assert_documented(spec, "/api/v1/dossiers/{code}/events", "post", transition)
    anonymous = client.get("/api/v1/dossiers")
    assert anonymous.status_code == 401
    assert_documented(spec, "/api/v1/dossiers", "get", anonymous)
