"""The error tree: markers, fields, and messages without secrets."""

from __future__ import annotations

import pytest

from daemon.core.errors import (
    ConfigError,
    FieldError,
    MappingError,
    PermanentError,
    PimRejected,
    PimThrottled,
    SourceAssetError,
    SourceUnavailable,
    TransientError,
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (PimThrottled("x"), True),
        (SourceUnavailable("x"), True),
        (PimRejected("x"), False),
        (ConfigError("x"), False),
        (MappingError(asset_id="a", field="f", reason="r"), False),
    ],
)
def test_markers(error, transient):
    """Each error is exactly one of transient or permanent."""
    assert transient == isinstance(error, TransientError)
    assert (not transient) == isinstance(error, PermanentError)


def test_rejected_lists_field_errors():
    """A rejection names each failing property."""
    error = PimRejected(
        "The asset has data that does not comply with the business rules.",
        errors=[FieldError("values.title[0].data", "too long")],
        endpoint="/api/rest/v1/asset-families/{family}/assets/{code}",
        method="PATCH",
        status_code=422,
    )
    assert "values.title[0].data: too long" in str(error)
    assert str(error).startswith("PATCH /api/rest/v1/asset-families/{family}/assets/{code} -> 422")


def test_source_asset_error_names_asset_field_path():
    """A bad DAM record names the source, asset, field and path."""
    error = SourceAssetError(
        asset_id="42", field="updated_at", path="items[3].modified", reason="bad date", source="s"
    )
    assert "source 's', asset '42', field 'updated_at' at 'items[3].modified': bad date" == str(
        error
    )
