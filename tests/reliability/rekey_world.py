"""
The crash loop across re-keys and withdrawals: its config, its DAM edits and its final check.

The example mapping gets code templates of the test's choosing, ``delete_policy = "delete"``
with the brake opened wide (every withdrawal applied at once), and a rule condition
``metadata.withdrawn`` absent, so that setting that key makes an asset match no rule.
"""

from __future__ import annotations

import random
from typing import Any

from daemon.mapping import sanitise_code
from daemon.store import Store
from tests.reliability.conftest import Sims, config_text, mismatch

POLICY_LINE = (
    'delete_policy = "delete"          # a DAM deletion deletes the PIM asset; or "ignore"\n'
)
OPEN_BRAKE = 'delete_policy = "delete"\nmax_delete_share = 1.0\nmax_delete_count = 100000\n'
UNWITHDRAWN = 'fields = [{ field = "metadata.withdrawn", exists = false }]\n'


def rekey_config(sims: Sims, db_url: str, image_code: str, pdf_code: str) -> str:
    """The reliability config with these code templates, the open brake and the condition."""
    return config_text(
        sims.pim.url,
        sims.dam.url,
        db_url,
        **{
            POLICY_LINE: OPEN_BRAKE,
            'code = "{id}"\n[sources.mapping.families.match]\nmime_type = ["image/*"]\n': (
                f'code = "{image_code}"\n[sources.mapping.families.match]\n'
                f'mime_type = ["image/*"]\n{UNWITHDRAWN}'
            ),
            'code = "notice_{id}"\n[sources.mapping.families.match]\n'
            'mime_type = ["application/pdf"]\n': (
                f'code = "{pdf_code}"\n[sources.mapping.families.match]\n'
                f'mime_type = ["application/pdf"]\n{UNWITHDRAWN}'
            ),
        },
    )


def withdraw(sims: Sims, rng: random.Random, count: int) -> set[str]:
    """Make ``count`` live DAM assets of each type match no rule; returns their ids."""
    chosen: set[str] = set()
    live = [a for a in sims.dam_assets() if not a["deleted"] and "withdrawn" not in a["metadata"]]
    for kind in ("image", "pdf"):
        pool = sorted(a["id"] for a in live if (a["type"] == "image") == (kind == "image"))
        chosen.update(rng.sample(pool, min(count, len(pool))))
    for dam_id in sorted(chosen):
        sims.mutate(id=dam_id, metadata={"withdrawn": True})
    sims.clock.advance(60)  # past the settle delay
    return chosen


def expected_key(asset: dict[str, Any], image_code: str, pdf_code: str) -> tuple[str, str]:
    """Where the mapping with these templates puts a live DAM asset."""
    if asset["type"] == "image":
        return "packshots", sanitise_code(image_code.replace("{id}", asset["id"]))
    return "notices", sanitise_code(pdf_code.replace("{id}", asset["id"]))


def rekey_problems(
    sims: Sims, store: Store, image_code: str, pdf_code: str, withdrawn: set[str]
) -> list[str]:
    """
    Every way the PIM and the state differ from the DAM under the last templates.

    Returns:
        One line per problem (empty: converged, nothing orphaned, nothing lost).
    """
    pim = {
        (family, code): item
        for family in ("packshots", "notices")
        for code, item in sims.pim_assets(family).items()
    }
    problems: list[str] = []
    wanted: set[tuple[str, str]] = set()
    for asset in sims.dam_assets():
        if asset["deleted"] or asset["id"] in withdrawn:
            continue
        key = expected_key(asset, image_code, pdf_code)
        wanted.add(key)
        if (reason := mismatch(asset, pim.get(key))) is not None:
            problems.append(f"{asset['id']} at {key}: {reason}")
    problems += [f"{key}: in the PIM, no DAM asset maps to it" for key in sorted(set(pim) - wanted)]
    for state in store.iter_asset_states("demo"):
        if not state.deleted and (state.family, state.code) not in pim:
            problems.append(f"asset_states {state.dam_id} -> {state.family}/{state.code}: absent")
    for owned in store.owned_assets("demo"):
        key = (owned.family, owned.code)
        if (owned.action != "deleted") != (key in pim):
            problems.append(f"pim_owners {key} ({owned.action}): in the PIM: {key in pim}")
    return sorted(problems)


__all__ = ["expected_key", "rekey_config", "rekey_problems", "withdraw"]
