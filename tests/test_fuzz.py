"""Fuzzing the JSON APIs in process (issue 12, item 2).

schemathesis generates requests for every operation of ``openapi.yaml``, valid ones and
invalid ones, sends them to the app (WSGI, with valid credentials: the inbound token, an
API key, Optimove bodies signed over the bytes sent), and checks each answer: never a
5xx, a documented status, a body matching the documented schema. A hypothesis property
test then throws arbitrary JSON at each API, the same way. Both use a fixed seed and a
bounded number of cases, so a run is reproducible and takes well under a minute.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roko_app.web.credentials import sign
from tests.factories import issue_key
from tests.helpers import (
    INBOUND_URL,
    JSON_APIS,
    OPTIMOVE_KEY,
    OPTIMOVE_SECRET,
    OPTIMOVE_URL,
    SEND_URL,
    SPEC_PATH,
    STATUS_URL,
    VALID_BODIES,
    WEBHOOK_TOKEN,
    api_config,
    assert_documented_error,
    assert_documented_response,
    post_raw,
)

SEED = 20260515
CASES_PER_OPERATION = 60
CASES_PER_API = 80
FUZZ_SETTINGS = settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


class WithCredentials:
    """WSGI middleware that gives every request the credentials its path needs: the
    webhook token, the API key, and for Optimove the key and an ``x-hub-signature``
    computed over the body bytes exactly as they arrive."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app, self.api_key = app, api_key

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in (INBOUND_URL, STATUS_URL):
            environ["HTTP_X_ROKO_WEBHOOK_TOKEN"] = WEBHOOK_TOKEN
        elif path == SEND_URL:
            environ["HTTP_X_API_KEY"] = self.api_key
        elif path == OPTIMOVE_URL:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["HTTP_X_API_KEY"] = OPTIMOVE_KEY
            environ["HTTP_X_HUB_SIGNATURE"] = sign(body, OPTIMOVE_SECRET)
        return self.app(environ, start_response)


@pytest.fixture
def app(make_app: Any, simulator: Any) -> Any:
    return make_app(**api_config(simulator.url))


@pytest.fixture
def api_key(app: Any) -> str:
    return issue_key(app)


@pytest.fixture
def fuzzed_app(app: Any, api_key: str) -> WithCredentials:
    return WithCredentials(app, api_key)


# Loaded from the file, not from the app: the document is the contract under test. (Not
# through schemathesis.pytest.from_fixture, which pytest 9 no longer supports.) Credentials
# come from WithCredentials; NUL is left out of valid data, since no JSON Schema keyword
# says "no NUL in any string" (openapi.yaml says it in words; test_hostile_input covers it).
schema = schemathesis.openapi.from_path(SPEC_PATH)
schema.config.generation.update(with_security_parameters=False, allow_x00=False)

# What valid data may get, beyond 2xx: a replayed batch id with another body (409), and
# batches of which no recipient can be sent to (422, a business rule). The send API is left
# out: whether a number is a Guinea mobile and a text fits one SMS (GSM-7 or UCS-2) is more
# than JSON Schema can say, so valid data may well get 400 there.
ACCEPTED = {INBOUND_URL: {200}, STATUS_URL: {200}, OPTIMOVE_URL: {200, 409, 422}}


@schema.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_every_operation_answers_as_documented(case: Any, fuzzed_app: WithCredentials) -> None:
    response = case.call(app=fuzzed_app)
    case.validate_response(response, checks=CHECKS)
    if case.meta.generation.mode.is_positive and case.operation.path in ACCEPTED:
        assert response.status_code in ACCEPTED[case.operation.path], (case.body, response.text)


# --- arbitrary JSON --------------------------------------------------------------------------

# Any string: NUL, lone surrogates (written as \uXXXX escapes) and every other code point.
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
                | st.floats(allow_nan=True, allow_infinity=True) | any_text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(any_text, inner, max_size=5), max_leaves=25)


@st.composite
def near_valid_bodies(draw: Any, api: str) -> Any:
    """The API's valid body with some fields replaced by arbitrary JSON, some dropped and
    some added, nested parts included: to get past the first checks."""
    def mutate(value: Any) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                choice = draw(st.sampled_from(["keep"] * 5 + ["mutate", "mutate", "replace", "drop"]))
                if choice != "drop":
                    result[key] = (item if choice == "keep" else mutate(item) if choice == "mutate"
                                   else draw(json_values))
            result.update(draw(st.dictionaries(any_text, json_values, max_size=2)))
            return result
        if isinstance(value, list):
            return [mutate(item) for item in value] + draw(st.lists(json_values, max_size=2))
        return draw(json_values)

    return mutate(VALID_BODIES[api])


def bodies(api: str) -> Any:
    return st.one_of(json_values, near_valid_bodies(api)).map(lambda body: json.dumps(body).encode())


@pytest.mark.parametrize("api", JSON_APIS)
def test_arbitrary_json_never_gets_a_5xx(app: Any, api_key: str, api: str) -> None:
    client = app.test_client()
    path = {"inbound": INBOUND_URL, "send": SEND_URL, "optimove": OPTIMOVE_URL}[api]

    @seed(SEED)
    @settings(FUZZ_SETTINGS, max_examples=CASES_PER_API)
    @given(raw=bodies(api))
    def answers_as_documented(raw: bytes) -> None:
        response = post_raw(client, api, raw, api_key=api_key)
        assert response.status_code < 500, response.get_data()
        assert_documented_response(path, "post", response)
        if response.status_code >= 400 and response.status_code != 422:
            assert_documented_error(response)

    answers_as_documented()
