"""
Endpoint templates and how their path parameters are filled.

Every request names its endpoint *template* (``/api/rest/v1/asset-families/{family}``) for
metrics, logs and errors, and the filled path for the wire. Parameters are percent-encoded as
the official PHP client does (``rawurlencode``) except ``/``, which stays as is: media file
codes (``0/0/9/d/..._file.png``) and some product identifiers contain slashes.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

TOKEN = "/api/oauth/v1/token"
ASSET_FAMILIES = "/api/rest/v1/asset-families"
ASSET_FAMILY = "/api/rest/v1/asset-families/{family}"
ASSET_ATTRIBUTES = "/api/rest/v1/asset-families/{family}/attributes"
ASSET_ATTRIBUTE = "/api/rest/v1/asset-families/{family}/attributes/{attribute}"
ASSET_OPTIONS = "/api/rest/v1/asset-families/{family}/attributes/{attribute}/options"
ASSET_OPTION = "/api/rest/v1/asset-families/{family}/attributes/{attribute}/options/{code}"
ASSETS = "/api/rest/v1/asset-families/{family}/assets"
ASSET = "/api/rest/v1/asset-families/{family}/assets/{code}"
MEDIA_FILES = "/api/rest/v1/asset-media-files"
MEDIA_FILE = "/api/rest/v1/asset-media-files/{code}"
CHANNELS = "/api/rest/v1/channels"
PRODUCT_ATTRIBUTES = "/api/rest/v1/attributes"
PRODUCT_ATTRIBUTE = "/api/rest/v1/attributes/{code}"


def path(template: str, **params: str) -> str:
    """
    Fill ``template`` with percent-encoded parameters, keeping ``/`` unencoded.

    Returns:
        The path to request.
    """
    return _filled(template, tuple(params.items()))


@lru_cache(maxsize=1024)
def _filled(template: str, params: tuple[tuple[str, str], ...]) -> str:
    # The same few paths (a family's bulk endpoint, the media upload) are filled per request.
    return template.format(**{k: quote(v, safe="/") for k, v in params})


__all__ = [
    "ASSET",
    "ASSETS",
    "ASSET_ATTRIBUTE",
    "ASSET_ATTRIBUTES",
    "ASSET_FAMILIES",
    "ASSET_FAMILY",
    "ASSET_OPTION",
    "ASSET_OPTIONS",
    "CHANNELS",
    "MEDIA_FILE",
    "MEDIA_FILES",
    "PRODUCT_ATTRIBUTE",
    "PRODUCT_ATTRIBUTES",
    "TOKEN",
    "path",
]
