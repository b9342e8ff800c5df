"""Every OpenAPI document prefstream serves is a valid OpenAPI 3 document (openapi-spec-validator)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from processors.runtime.query_api import OPENAPI as QUERY_API
from producers import call_center, sms, social
from producers.web.api import OPENAPI as WEB

DOCUMENTS: dict[str, dict[str, Any]] = {"sms": sms.openapi(), "social": social.openapi(), "call-center": call_center.openapi(),
                                        "web": WEB, "processor query API": QUERY_API}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_document_is_valid_openapi(name: str) -> None:
    validate(DOCUMENTS[name])


def test_a_broken_document_is_refused() -> None:
    broken = {**QUERY_API, "paths": {"/x": {"get": {"responses": {"200": {}}}}}}  # a response needs a description
    with pytest.raises(Exception, match="responses"):
        validate(broken)
