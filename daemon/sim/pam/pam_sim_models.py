"""
The legacy PIM's product models and their PAM asset collections, for the product-model links
of a PAM migration (``pam-migration.md`` §5.0: product/product-model links are kept).

``GET /api/rest/v1/product-models`` and ``/product-models/{code}`` as a 2.1-3.2 EE PIM serves
them (``akeneo-api.md`` §6: ``pagination_type`` page or search_after, ``limit`` max 100,
``attributes``): the standard product-model JSON (``code``, ``family_variant``, ``parent``,
``categories``, ``values``, ``created``, ``updated``), each collection value
``{"locale": null, "scope": null, "data": [PAM asset codes]}``.

Models are built on demand from ``(seed, index)`` like the assets: ``model_00000`` ... (codes
sort in index order), in the family variant ``clothing_color`` (one level of sub models):

- an even index is a root model (``parent`` null) with ``asset_pictures`` (one to three assets
  drawn from the seed; empty for every fifth root); with pitfalls, every fifth root from the
  second also links ``pam_deleted_asset`` (no such asset: a dangling link);
- an odd index is a sub model of the model before it, with its own ``asset_notices`` (one
  asset), and the values of its parent: the API's ``values`` of a model hold the inherited ones
  too (the parent's ``asset_pictures``).
"""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.sim.pam.pam_dataset import PamDataset
from daemon.sim.pam.pam_sim_auth import authorize
from daemon.sim.pam.pam_sim_products import DANGLING, item_endpoint, listing
from daemon.sim.pam.pam_sim_routes import API, base_of, dataset_of

MODEL = "model_{index:05d}"
FAMILY_VARIANT = "clothing_color"


def model_code_of(index: int) -> str:
    return MODEL.format(index=index)


def parent_of(index: int) -> int | None:
    """The index of the parent model (None: a root model)."""
    return None if index % 2 == 0 else index - 1


def _own_collections(data: PamDataset, index: int) -> dict[str, list[str]]:
    count = len(data)
    draw = random.Random(f"{data.options.seed}:model:{index}")
    if index % 2:
        return {"asset_notices": [data.code_of(draw.randrange(count))] if count else []}
    pictures: list[str] = []
    if count and index % 10 != 8:
        picks = [draw.randrange(count) for _ in range(draw.randint(1, 3))]
        pictures = list(dict.fromkeys(data.code_of(i) for i in picks))
    if data.options.pitfalls and index % 10 == 2:
        pictures.append(DANGLING)
    return {"asset_pictures": pictures}


def model_collections(data: PamDataset, index: int) -> dict[str, list[str]]:
    """The asset collections in the values of model ``index``, its parent's included."""
    parent = parent_of(index)
    found = {} if parent is None else model_collections(data, parent)
    found.update(_own_collections(data, index))
    return found


def model_json(request: Request, index: int, attributes: set[str] | None) -> dict[str, Any]:
    """The standard product-model JSON of a 2.x/3.x PIM."""
    data = dataset_of(request)
    code = model_code_of(index)
    root = index - index % 2
    values: dict[str, list[dict[str, Any]]] = {
        "name": [{"locale": "en_US", "scope": None, "data": f"Model {root}"}],
    }
    for attribute, codes in model_collections(data, index).items():
        values[attribute] = [{"locale": None, "scope": None, "data": codes}]
    if attributes is not None:
        values = {k: v for k, v in values.items() if k in attributes}
    parent = parent_of(index)
    return {
        "_links": {"self": {"href": f"{base_of(request)}{API}/product-models/{code}"}},
        "code": code,
        "family_variant": FAMILY_VARIANT,
        "parent": None if parent is None else model_code_of(parent),
        "categories": [],
        "values": dict(sorted(values.items())),
        "created": "2019-03-01T10:00:00+00:00",
        "updated": "2019-03-02T10:00:00+00:00",
    }


async def list_models(request: Request) -> Response:
    """``GET /product-models``: page (default) or search_after pagination, sorted by code."""
    authorize(request, right=None)
    total = dataset_of(request).options.product_models
    path = f"{API}/product-models"
    return listing(request, path, total, "code", model_code_of, model_json)


get_model = item_endpoint(
    "get_model",
    "/product-models",
    lambda data: data.options.product_models,
    model_code_of,
    model_json,
    "Product model",
)


__all__ = [
    "FAMILY_VARIANT",
    "get_model",
    "list_models",
    "model_code_of",
    "model_collections",
    "model_json",
    "parent_of",
]
