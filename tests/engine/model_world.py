"""
A world for the asset model's details: the simulators in-process, the demo seed with more
attributes on ``notices`` (a localizable and a scopable media_file, a single option, a record),
and the example config with a first rule for PDFs that carry ``metadata.manuals``.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT, Clock, World, opened_world

UPLOAD = "POST /api/rest/v1/asset-media-files"

#: Tried first: a PDF the test gives `manuals` goes to notices with per-locale and per-channel
#: files; every other asset follows the example rules.
RULE = """
[[sources.mapping.families]]
family = "notices"
code = "manual_{id}"
[sources.mapping.families.match]
fields = [{ field = "metadata.manuals", exists = true }]
[sources.mapping.families.attributes]
media = { binary = true, required = true }
title = { path = "metadata.title" }
manual = { file = "metadata.manuals", file_keys = { checksum = "sha256" } }
finish = { path = "metadata.finish", locale = "en_US", option_labels = "metadata.finish" }
brand = { path = "metadata.brand", options = { "Acme Inc." = "acme" } }
[sources.mapping.families.attributes.preview.channels]
ecommerce = { file = "metadata.previews.web", file_keys = { checksum = "sha256" } }
print = { file = "metadata.previews.print", file_keys = { checksum = "sha256" } }

"""
FIRST_RULE = '[[sources.mapping.families]]\nfamily = "packshots"'


def _seed() -> dict[str, Any]:
    """The demo seed, with a localizable and a scopable media_file and an option on notices."""
    seed = copy.deepcopy(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    packshots = next(f for f in seed["asset_families"] if f["code"] == "packshots")
    packshots["attributes"].append(
        {"code": "preview", "type": "media_file", "media_type": "image", "value_per_channel": True}
    )
    notices = next(f for f in seed["asset_families"] if f["code"] == "notices")
    notices["attributes"] += [
        {
            "code": "manual",
            "type": "media_file",
            "media_type": "pdf",
            "allowed_extensions": ["pdf"],
            "value_per_locale": True,
        },
        {
            "code": "preview",
            "type": "media_file",
            "media_type": "image",
            "allowed_extensions": ["png", "jpg"],
            "value_per_channel": True,
        },
        {"code": "finish", "type": "single_option"},
        {"code": "brand", "type": "record", "reference_entity": "brand"},
    ]
    return seed


#: With the DAM simulator's own files (``localized_files``): images' per-channel renditions too.
PREVIEWS = """
[sources.mapping.families.attributes.preview.channels]
ecommerce = { file = "metadata.renditions.web", file_keys = { checksum = "sha256" } }
print = { file = "metadata.renditions.print", file_keys = { checksum = "sha256" } }
"""
LAST_PACKSHOT_LINE = (
    'published = { path = "metadata.published", transform = [{ default = false }] }\n'
)


@asynccontextmanager
async def open_model_world(
    tmp_path: Path, *, localized_files: bool = False
) -> AsyncIterator[World]:
    """
    The world of this module's docstring; with ``localized_files`` the DAM simulator gives every
    PDF its ``manuals`` and every image its ``renditions``, which packshots' ``preview`` maps.
    """
    clock = Clock()
    options = DamSimOptions(
        assets=24,
        seed=7,
        history_days=2,
        base_url="http://127.0.0.1:8082",
        localized_files=localized_files,
    )
    dam_app = create_dam_app(options, clock=clock)
    pim_app = create_pim_app(_seed())
    text = EXAMPLE.read_text()
    assert text.count(FIRST_RULE) == 1 and text.count(LAST_PACKSHOT_LINE) == 1
    text = text.replace(FIRST_RULE, RULE + FIRST_RULE)
    if localized_files:
        text = text.replace(LAST_PACKSHOT_LINE, LAST_PACKSHOT_LINE + PREVIEWS)
    config = tmp_path / "damsync.toml"
    config.write_text(text)
    environ = {
        "DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
        "DAMSYNC_RUNTIME__PID_FILE": str(tmp_path / "damsync.pid"),
    }
    settings = load_settings(config, environ)
    async with opened_world(settings, dam_app, pim_app, clock) as world:
        yield world


@pytest.fixture(name="world")
async def model_world(tmp_path: Path) -> AsyncIterator[World]:
    """The world of this module's docstring, with files the tests give."""
    async with open_model_world(tmp_path) as world:
        yield world
