"""The OpenAPI 3 description of the processor's query API (served at /openapi.json by every worker)."""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_CUSTOMER = {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "a customer id, or an identifier folded on its own (phone:+…)"}
_AT = {"name": "at", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
       "description": "evaluate `reachable` at this time (ISO 8601, UTC when no offset); default now"}
_JSON = "application/json"

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "prefstream processor query API", "version": "1",
             "description": "Every worker answers for every key: a request for a key another worker owns is routed there."},
    "paths": {
        "/profiles/{customer_id}/": {"get": {
            "summary": "The customer's current profile, with `reachable` evaluated at `at`",
            "parameters": [_CUSTOMER, _AT],
            "responses": {"200": {"description": "the profile (CustomerProfile as JSON, times in ISO 8601)",
                                  "content": {_JSON: {"schema": {"type": "object"}}}},
                          "400": _ERROR, "404": _ERROR}}},
        "/profiles/{customer_id}/reachable/": {"get": {
            "summary": "Per channel, may the customer be contacted at `at`, and if not why",
            "parameters": [_CUSTOMER, _AT],
            "responses": {"200": {"description": "the reachable view",
                                  "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Reachable"}}}},
                          "400": _ERROR, "404": _ERROR}}},
        "/identities/{identifier}/": {"get": {
            "summary": "Which customer claims an identifier (email:…, phone:…, loyalty:…, social:…)",
            "parameters": [{"name": "identifier", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the claiming customer", "content": {_JSON: {"schema": {
                "type": "object", "properties": {"customer_id": {"type": "string"}}}}}},
                          "404": _ERROR}}},
        "/health/": {"get": {"summary": "The worker is up", "responses": {"200": {"description": "ok"}}}},
        "/ready/": {"get": {"summary": "The worker folds: not rebalancing nor restoring; its assigned partitions",
                            "responses": {"200": {"description": "ready"}, "503": {"description": "rebalancing or restoring"}}}},
        "/metrics/": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}},
        "/openapi.json": {"get": {"summary": "This description", "responses": {"200": {"description": "OpenAPI 3"}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
        "Reachable": {"type": "object", "properties": {
            "customer_id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "reachable": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "allowed": {"type": "boolean"}, "reason": {"type": "string"}}}}}},
    }},
}
