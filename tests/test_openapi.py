"""openapi.yaml is valid and matches the running app: documented examples are accepted
and answered as documented, each documented constraint is enforced, and every API
route is documented (and nothing documented is missing from the app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from roko_app.web.credentials import sign
from tests.factories import issue_key
from tests.helpers import SIM_TOKEN, WEBHOOK_TOKEN

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER

# How each security scheme is satisfied in these tests (apiKey is filled per test;
# hubSignature is computed over the exact body).
OPTIMOVE_KEY, OPTIMOVE_SECRET = "openapi-optimove-key", "openapi-optimove-secret"
AUTH_HEADERS = {"webhookToken": {"X-Roko-Webhook-Token": WEBHOOK_TOKEN}, "apiKey": {},
                "optimoveKey": {"X-API-Key": OPTIMOVE_KEY}, "hubSignature": {}}


@pytest.fixture
def app(make_app: Any, simulator: Any) -> Any:
    """The app wired to a real gateway simulator, with a valid API key for the send API."""
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, OPTIMOVE_API_KEY=OPTIMOVE_KEY,
                   OPTIMOVE_HMAC_SECRET=OPTIMOVE_SECRET)
    AUTH_HEADERS["apiKey"] = {"x-api-key": issue_key(app)}
    return app


def resolve(node: Any) -> Any:
    """Inline local $refs (the spec has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, resolve(op)) for path, item in SPEC["paths"].items() for method, op in item.items()]


def json_operations_with_body() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, m, op in operations() if "requestBody" in op]


def headers_for(op: dict[str, Any], body: bytes = b"") -> dict[str, str]:
    headers: dict[str, str] = {"Content-Type": "application/json"}
    for requirement in op.get("security", []):
        for scheme in requirement:
            headers.update(AUTH_HEADERS[scheme])
            if scheme == "hubSignature":
                headers["x-hub-signature"] = sign(body, OPTIMOVE_SECRET)
    return headers


def send(client: Any, path: str, method: str, op: dict[str, Any], body: Any) -> Any:
    data = json.dumps(body).encode()
    return client.open(path, method=method.upper(), data=data, headers=headers_for(op, data))


def check_response(op: dict[str, Any], response: Any) -> None:
    documented = op["responses"].get(str(response.status_code))
    assert documented, f"status {response.status_code} is not documented: {response.get_data(as_text=True)}"
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(response.get_json(), schema, format_checker=FORMATS)


def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1")
    validate(SPEC)


def test_every_api_route_is_documented_and_vice_versa(app: Any) -> None:
    served = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _ in operations()}
    assert served == documented


@pytest.mark.parametrize(("path", "method", "op"), json_operations_with_body(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_examples_are_accepted_as_documented(client: Any, path: str, method: str, op: dict[str, Any]) -> None:
    media = op["requestBody"]["content"]["application/json"]
    for name, example in media["examples"].items():
        jsonschema.validate(example["value"], media["schema"], format_checker=FORMATS)
        response = send(client, path, method, op, example["value"])
        assert response.status_code == 200, (name, response.get_json())
        check_response(op, response)


def documented_examples_of_errors() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, method, op in operations():
        for status, response in op["responses"].items():
            for name, example in response.get("content", {}).get("application/json", {}).get("examples", {}).items():
                found.append((f"{method} {path} {status} {name}", response["content"]["application/json"]["schema"],
                              example["value"]))
    return [(label, {"schema": schema, "value": value}) for label, schema, value in found]


@pytest.mark.parametrize(("label", "case"), documented_examples_of_errors(), ids=lambda v: v if isinstance(v, str) else "")
def test_response_examples_match_their_schemas(label: str, case: dict[str, Any]) -> None:
    jsonschema.validate(case["value"], case["schema"], format_checker=FORMATS)


def violations(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """One value per documented constraint of each property that breaks exactly it."""
    cases: list[tuple[str, Any]] = [(name, ...) for name in schema.get("required", [])]
    for name, prop in schema["properties"].items():
        kind = prop.get("type")
        if kind == "integer":
            cases += [(name, "1"), (name, 1.5), (name, True), (name, None)]
            if "minimum" in prop:
                cases.append((name, prop["minimum"] - 1))
            if "maximum" in prop:
                cases.append((name, prop["maximum"] + 1))
        elif kind == "string":
            cases += [(name, 12345), (name, None)]
            if prop.get("minLength", 0) > 0:
                cases.append((name, "7" * (prop["minLength"] - 1)))
            if "maxLength" in prop:
                cases.append((name, "7" * (prop["maxLength"] + 1)))
            if "pattern" in prop:
                cases.append((name, "abcdefgh"))
            if prop.get("format") == "date-time":
                cases += [(name, "not-a-date"), (name, "2026-05-15")]
    return cases


def violation_cases() -> list[Any]:
    cases = []
    for path, method, op in json_operations_with_body():
        media = op["requestBody"]["content"]["application/json"]
        example = next(iter(media["examples"].values()))["value"]
        for name, value in violations(media["schema"]):
            body = dict(example)
            if value is ...:
                body.pop(name)
            else:
                body[name] = value
            cases.append(pytest.param(path, method, op, media["schema"], body, name,
                                      id=f"{path}:{name}={json.dumps(value) if value is not ... else 'missing'}"[:80]))
    return cases


@pytest.mark.parametrize(("path", "method", "op", "schema", "body", "field"), violation_cases())
def test_each_documented_violation_is_rejected(client: Any, path: str, method: str, op: dict[str, Any],
                                               schema: dict[str, Any], body: dict[str, Any], field: str) -> None:
    with pytest.raises(jsonschema.ValidationError):  # the document itself forbids it
        jsonschema.validate(body, schema, format_checker=FORMATS)
    response = send(client, path, method, op, body)
    assert response.status_code == 400, response.get_json()
    check_response(op, response)
    assert field in [d["field"] for d in response.get_json()["details"]]


@pytest.mark.parametrize(("mode", "status"), [("ok", 200), ("reject", 422), ("down", 202)])
def test_send_outcomes_match_the_document(client: Any, simulator: Any, mode: str, status: int) -> None:
    path, op = "/api/v1/sms/send", resolve(SPEC["paths"]["/api/v1/sms/send"]["post"])
    simulator.set(mode=mode)
    example = next(iter(op["requestBody"]["content"]["application/json"]["examples"].values()))["value"]
    response = send(client, path, "post", op, example)
    assert response.status_code == status
    check_response(op, response)


def test_auth_failures_match_the_document(client: Any) -> None:
    for path, method, op in json_operations_with_body():
        response = client.open(path, method=method.upper(), json={})
        assert response.status_code == 401
        check_response(op, response)


def example_body(path: str) -> dict[str, Any]:
    op = resolve(SPEC["paths"][path]["post"])
    return json.loads(json.dumps(next(iter(op["requestBody"]["content"]["application/json"]["examples"].values()))["value"]))


INBOUND, SEND, OPTIMOVE = "/api/v1/webhooks/topaz/inbound", "/api/v1/sms/send", "/api/v1/webhooks/optimove/campaigns"
# Where fuzzing found the document and the app at odds (issue 12), and neighbours: each
# body is judged the same way by both. (path, change to the example, valid?, status)
AGREEMENT_CASES = [
    (OPTIMOVE, lambda b: b["metadata"].pop("scheduledTime"), False, 400),
    (OPTIMOVE, lambda b: b.update(scheduledTime=b["metadata"].pop("scheduledTime")), True, 200),
    (OPTIMOVE, lambda b: b.update(scheduledTime="soon"), False, 400),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime=None), False, 400),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime="\uff11\uff17\uff10\uff14"), False, 400),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime="1" * 15), False, 400),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime=10**14), False, 400),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime="99999999999999"), True, 200),
    (OPTIMOVE, lambda b: b["metadata"].update(scheduledTime=1704106200000.0), True, 200),
    (OPTIMOVE, lambda b: b.update(recipients=None), True, 200),
    (OPTIMOVE, lambda b: b["recipients"][0].update(content="hello"), False, 400),
    (OPTIMOVE, lambda b: b["recipients"][0].update(message=None, content={"message": "Bonjour"}), True, 200),
    (OPTIMOVE, lambda b: b["metadata"].update(appId=123.0), True, 200),
    (SEND, lambda b: b.update(text="a" * 1599), False, 400),
    (SEND, lambda b: b.update(text="a" * 161), False, 400),
    (SEND, lambda b: b.update(text="a" * 160), True, 200),
    (INBOUND, lambda b: b.update(port=26.0), True, 200),
    (INBOUND, lambda b: b.update(gateway_sms_id=101.0), True, 200),
    (INBOUND, lambda b: b.update(port=26.5), False, 400),
    (INBOUND, lambda b: b.update(timestamp="9999-12-31T23:59:59-01:00"), False, 400),
    (INBOUND, lambda b: b.update(timestamp="1899-12-31T23:59:59Z"), False, 400),
    (INBOUND, lambda b: b.update(timestamp="1900-01-01T00:00:00+23:59"), True, 200),
]


@pytest.mark.parametrize(("path", "change", "valid", "status"), AGREEMENT_CASES,
                         ids=[f"{c[0].rsplit('/', 1)[1]}-{i}" for i, c in enumerate(AGREEMENT_CASES)])
def test_the_document_and_the_app_agree(client: Any, path: str, change: Any, valid: bool, status: int) -> None:
    op = resolve(SPEC["paths"][path]["post"])
    body = example_body(path)
    change(body)
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    errors = list(jsonschema.Draft202012Validator(schema, format_checker=FORMATS).iter_errors(body))
    assert not errors if valid else errors, [e.message for e in errors]
    response = send(client, path, "post", op, body)
    assert response.status_code == status, response.get_json()
    check_response(op, response)
