"""
The Akeneo PIM client: :class:`PimClient` and its typed answers.

See ``docs/pim-client.md`` for authentication, retries, the limiter and the error mapping.
"""

from __future__ import annotations

from daemon.pim.client import PimClient
from daemon.pim.media import MediaDownload
from daemon.pim.models import (
    AssetFamilyInfo,
    AssetUpsertResult,
    AttributeOption,
    ClientState,
    LineResult,
    ProductAttribute,
    RemoteAsset,
    UpsertStatus,
)
from daemon.pim.reads import UpdatedFilter
from daemon.pim.tokens import AppTokenAuth, PasswordAuth

__all__ = [
    "AppTokenAuth",
    "AssetFamilyInfo",
    "AssetUpsertResult",
    "AttributeOption",
    "ClientState",
    "LineResult",
    "MediaDownload",
    "PasswordAuth",
    "PimClient",
    "ProductAttribute",
    "RemoteAsset",
    "UpdatedFilter",
    "UpsertStatus",
]
