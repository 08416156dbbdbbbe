"""Every id path parameter is bounded by its column's type: a slice id past int4 (slices.id)
is a 422 naming the parameter, on both databases. It was a 500 past int64 on SQLite and a
422 naming no field past int4 on PostgreSQL; alert and report ids were bounded already."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shadowgap.schemas import INT4_MAX
from tests.support.settings import auth


@pytest.mark.parametrize("slice_id", [2**31, 2**63, 2**64, 2**70, -1])
def test_a_slice_id_out_of_range_is_a_422_naming_it(
    any_db: str, client: TestClient, slice_id: int
) -> None:
    response = client.get(f"/v1/slices/{slice_id}", headers=auth("read"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == "path.slice_id"


def test_the_largest_slice_id_is_a_404(any_db: str, client: TestClient) -> None:
    response = client.get(f"/v1/slices/{INT4_MAX}", headers=auth("read"))
    assert response.status_code == 404, response.text


def test_every_int_path_parameter_is_bounded(embedded: str, client: TestClient) -> None:
    """A route added later with an unbounded integer id fails here (read from the OpenAPI
    description, which lists every documented path parameter with its limits)."""
    schema = client.get("/openapi.json", headers=auth("read")).json()
    unbounded = []
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                described = param.get("schema", {})
                if param["in"] != "path" or described.get("type") != "integer":
                    continue
                if described.get("minimum") != 0 or described.get("maximum", 2**64) > INT4_MAX:
                    unbounded.append(f"{path}:{param['name']}")
    assert unbounded == []
