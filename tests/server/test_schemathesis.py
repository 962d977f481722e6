"""schemathesis against docs/openapi.yaml on a running chorus-server (issue 13).

Every operation of the spec gets generated requests (valid ones, then invalid ones), sent with a
personal API token as Bearer to a server on SQLite and, under scripts/with-postgres, PostgreSQL.
Half of the `{id}` path parameters are the ids of real records of that user (workflows,
executions, templates, spare tokens), so the routes past the 404 are reached too. Every answer
must pass schemathesis' not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance and response_headers_conformance: no 5xx, and every status, content
type, body and header is the one the spec documents.

CHORUS_SCHEMATHESIS_EXAMPLES sets the examples per operation and mode (default 12: about a
minute per backend on a loaded 2-core box); scripts/api-fuzz runs it longer with a random seed
(CHORUS_SCHEMATHESIS_RANDOM=1; the default derandomizes so scripts/test is reproducible).
Providers point at a closed local port, so a key check (skip_validation false) never leaves the
machine: it answers 502 key_validation_failed, which the spec documents.
"""
import os
import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from conftest import OPENAPI, RELAXED, Server, check, workflow_doc

EXAMPLES = int(os.environ.get("CHORUS_SCHEMATHESIS_EXAMPLES", "12"))
RANDOM = os.environ.get("CHORUS_SCHEMATHESIS_RANDOM") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
NO_PROVIDER = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused
PROVIDER_ENV = {k: NO_PROVIDER for k in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL",
                                          "DEEPSEEK_BASE_URL", "OPENAI_COMPATIBLE_BASE_URL")}
PROVIDER_ENV["STRIPE_SECRET_KEY"] = ""  # billing in self-hosted mode: Stripe is never called

SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
OPERATIONS = sorted((op.ok() for op in SCHEMA.get_all_operations()), key=lambda o: (o.path, o.method))
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


class Fixtures:
    """A user with a personal API token and real records to aim the `{id}` parameters at."""

    def __init__(self, server):
        self.server = server
        owner = server.user("schemathesis")
        self.pat = self._token(owner, "schemathesis")
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + self.pat["token"]
        api = server.client()
        api.s = self.session
        workflows = [api.create_workflow(workflow_doc(name=f"flow {i}"))["id"] for i in range(3)]
        execution = api.run(workflows[0])["id"]
        r = api.post(f"/api/workflows/{workflows[1]}/execute", json={"input": "x"})
        assert r.status_code == 202, r.text
        started = r.json()["id"]
        r = api.post("/api/templates", json={"name": "mine", "workflowId": workflows[0]})
        assert r.status_code == 201, r.text
        templates = [r.json()["id"], "tpl-draft-critique-rewrite"]
        spare_tokens = [self._token(owner, f"spare {i}")["id"] for i in range(3)]
        self.owner = owner
        self.ids = {
            "/api/workflows/": workflows,
            "/api/executions/": [execution, started],
            "/api/templates/": templates,
            "/api/user/tokens/": spare_tokens,
        }

    @staticmethod
    def _token(client, name):
        r = client.post("/api/user/tokens", json={"name": name})
        assert r.status_code == 201, r.text
        return check(r.json(), "ApiTokenCreated")

    def real_ids(self, path):
        for prefix, ids in self.ids.items():
            if path.startswith(prefix):
                return ids
        return []

    def fresh_bearer(self):
        """A token of the same user to spend on a request that revokes it (logout)."""
        return self._token(self.owner, "logout " + uuid.uuid4().hex[:6])["token"]


@pytest.fixture(scope="module")
def fixtures(backend, tmp_path_factory):
    server = Server(backend, tmp_path_factory.mktemp(f"schemathesis-{backend}"), RELAXED,
                    env=PROVIDER_ENV).start()
    try:
        yield Fixtures(server)
    finally:
        server.stop()


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: f"{o.method.upper()} {o.path}")
def test_operation_conforms_to_spec(fixtures, operation, mode):
    ids = fixtures.real_ids(operation.path)
    real = st.sampled_from(ids) if ids else st.nothing()
    strategy = st.tuples(operation.as_strategy(generation_mode=mode), st.none() | real)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
              print_blob=True)
    @given(strategy)
    def run(case_and_id):
        case, real_id = case_and_id
        if real_id is not None and "id" in (case.path_parameters or {}):
            case.path_parameters["id"] = real_id
        bearer = fixtures.fresh_bearer() if operation.path == "/api/auth/logout" else fixtures.pat["token"]
        case.call_and_validate(base_url=fixtures.server.url, session=fixtures.session,
                               headers={"Authorization": "Bearer " + bearer}, checks=CHECKS,
                               timeout=60)

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid: no parameter, no body (GET /api/health in negative mode).
        assert mode == schemathesis.GenerationMode.NEGATIVE
        pytest.skip("the operation takes no input, so no invalid request exists")
    # The server survived everything and still serves this user.
    r = fixtures.session.get(fixtures.server.url + "/api/user/profile", timeout=60)
    assert r.status_code == 200, r.text
