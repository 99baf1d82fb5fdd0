"""The legacy PAM simulator answers as pam-migration.md §2-§3 says the 2.1-3.2 EE server does."""

from __future__ import annotations

import pytest

from daemon.sim.pam import PamDataset, PamSimOptions
from tests.pam.helpers import BASE, BASIC, sim_app, sim_client

API = "/api/rest/v1"


async def test_asset_json_has_the_servers_keys_in_order_and_file_links():
    """An asset: code..reference_files in order, `_link` on file entries, null empty description."""
    async with sim_client(sim_app(assets=10)) as (client, auth):
        page = (await client.get(f"{API}/assets?limit=1", headers=auth)).json()
        item = page["_embedded"]["items"][0]
        one = (await client.get(f"{API}/assets/pam_000000", headers=auth)).json()
    assert [
        "_links",
        "code",
        "localizable",
        "description",
        "end_of_use",
        "tags",
        "categories",
        "variation_files",
        "reference_files",
    ] == list(item)
    assert "_links" not in one
    assert (None, "2028-01-01T00:00:00+00:00") == (item["description"], item["end_of_use"])
    ref = item["reference_files"][0]
    assert ["_link", "locale", "code"] == list(ref)
    assert (
        f"{BASE}{API}/assets/pam_000000/reference-files/no-locale/download"
        == (ref["_link"]["download"]["href"])
    )
    assert ["_link", "locale", "scope", "code"] == list(item["variation_files"][0])


async def test_search_after_pages_follow_next_until_a_short_page():
    """search_after: sorted by code, the cursor is the last code, next only on a full page."""
    async with sim_client(sim_app(assets=7)) as (client, auth):
        codes, url, pages = [], f"{API}/assets?pagination_type=search_after&limit=3", 0
        while url:
            page = (await client.get(url, headers=auth)).json()
            pages += 1
            codes += [item["code"] for item in page["_embedded"]["items"]]
            url = page["_links"].get("next", {}).get("href")
    assert sorted(codes) == codes
    assert (7, 3) == (len(codes), pages)
    assert "pam_000004-old" in codes


async def test_page_pagination_counts_and_caps_the_limit():
    """page: with_count gives items_count; a limit over 100 is a 422."""
    async with sim_client(sim_app(assets=12)) as (client, auth):
        page = (
            await client.get(f"{API}/assets?page=2&limit=5&with_count=true", headers=auth)
        ).json()
        over = await client.get(f"{API}/assets?limit=101", headers=auth)
    assert (12, 2, 5) == (
        page["items_count"],
        page["current_page"],
        len(page["_embedded"]["items"]),
    )
    assert "previous" in page["_links"]
    assert (422, "You cannot request more than 100 items.") == (
        over.status_code,
        over.json()["message"],
    )


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("assets/nope", 404, 'Asset "nope" does not exist.'),
        (
            "assets/pam_000001/reference-files/no-locale/download",
            422,
            'The asset "pam_000001" is localizable, you must provide an existing locale code. '
            '"no-locale" is only allowed when the asset is not localizable.',
        ),
        (
            "assets/pam_000000/reference-files/en_US",
            422,
            'The asset "pam_000000" is not localizable, you must provide the string "no-locale" '
            "as a locale.",
        ),
        (
            "assets/pam_000001/reference-files/xx_XX",
            404,
            'Locale "xx_XX" does not exist or is not activated.',
        ),
        (
            "assets/pam_000001/variation-files/mobile/fr_FR",
            404,
            'You cannot have a variation file for the locale "fr_FR" and the channel "mobile" as '
            'the locale "fr_FR" is not activated for the channel "mobile".',
        ),
        ("assets/pam_000000/variation-files/web/no-locale", 404, 'Channel "web" does not exist.'),
        (
            "assets/pam_000006/reference-files/no-locale/download",
            404,
            'Reference file for the asset "pam_000006" does not exist.',
        ),
        (
            "assets/pam_000003/variation-files/mobile/no-locale/download",
            404,
            'Variation file for the asset "pam_000003" and the channel "mobile" does not exist.',
        ),
    ],
)
async def test_errors_carry_the_exact_messages(path, status, message):
    """Each documented 404/422 of §3.4, word for word."""
    async with sim_client(sim_app(assets=10)) as (client, auth):
        answer = await client.get(f"{API}/{path}", headers=auth)
    assert (status, {"code": status, "message": message}) == (answer.status_code, answer.json())


async def test_pam_000006_lists_a_reference_whose_binary_is_gone():
    """A file_info row without its binary is listed, and its download answers 404."""
    async with sim_client(sim_app(assets=10)) as (client, auth):
        asset = (await client.get(f"{API}/assets/pam_000006", headers=auth)).json()
    assert [None] == [ref["locale"] for ref in asset["reference_files"]]


async def test_download_streams_the_binary_with_type_and_original_name():
    """200, the stored mime type, Content-Disposition with the original file name."""
    async with sim_client(sim_app(assets=5)) as (client, auth):
        answer = await client.get(
            f"{API}/assets/pam_000001/reference-files/en_US/download", headers=auth
        )
        stats = (await client.get("/_sim/stats")).json()
    assert 200 == answer.status_code
    assert ("image/jpeg", 'attachment; filename="Tshirt 1 en_US.jpg"') == (
        answer.headers["content-type"],
        answer.headers["content-disposition"],
    )
    assert [1] == list(stats["downloads"].values())


async def test_sub_resource_metadata_has_no_self_link():
    """GET .../variation-files/{channel}/{locale}: _link.download only, and scope."""
    async with sim_client(sim_app(assets=5)) as (client, auth):
        meta = (
            await client.get(
                f"{API}/assets/pam_000001/variation-files/ecommerce/fr_FR", headers=auth
            )
        ).json()
    assert ["download"] == list(meta["_link"])
    assert ("fr_FR", "ecommerce") == (meta["locale"], meta["scope"])


async def test_pre_release_spelling_and_channel_key():
    """locale_word no_locale: no-locale is an unknown locale; channel_key channel replaces scope."""
    app = sim_app(
        assets=3, locale_word="no_locale", channel_key="channel", end_of_use_offset="+0000"
    )
    async with sim_client(app) as (client, auth):
        item = (await client.get(f"{API}/assets/pam_000000", headers=auth)).json()
        refused = await client.get(
            f"{API}/assets/pam_000000/reference-files/no-locale", headers=auth
        )
    assert "channel" in item["variation_files"][0]
    assert item["end_of_use"].endswith("+0000")
    assert item["reference_files"][0]["_link"]["download"]["href"].endswith("/no_locale/download")
    assert 'Locale "no-locale" does not exist or is not activated.' == refused.json()["message"]


@pytest.mark.parametrize(
    ("username", "status", "message"),
    [
        ("no_api", 403, "You are not allowed to access the web API."),
        ("no_list", 403, "Access forbidden. You are not allowed to list assets."),
    ],
)
async def test_rights_are_checked(username, status, message):
    """A user without web API access, or without the asset list right, gets the 403 of §2."""
    async with sim_client(sim_app(assets=3)) as (client, _):
        token = await client.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": username, "password": username},
            headers={"Authorization": BASIC},
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = await client.get(f"{API}/assets", headers=headers)
    assert (status, message) == (answer.status_code, answer.json()["message"])


async def test_no_token_is_401_and_bad_credentials_422():
    """No bearer: 401; a wrong password at the token endpoint: Akeneo's 422."""
    async with sim_client(sim_app(assets=3)) as (client, _):
        anonymous = await client.get(f"{API}/assets")
        refused = await client.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "admin", "password": "nope"},
            headers={"Authorization": BASIC},
        )
    assert (401, 422) == (anonymous.status_code, refused.status_code)
    assert "No user found for the given username and password" == refused.json()["message"]


async def test_categories_and_tags_page_and_include_a_bad_tag():
    """Categories keep parents and labels; tags are sorted and include one that breaks the rule."""
    async with sim_client(sim_app(assets=3, tags=5)) as (client, auth):
        cats = (await client.get(f"{API}/asset-categories?limit=100", headers=auth)).json()
        tags = (await client.get(f"{API}/asset-tags?limit=100", headers=auth)).json()
        one = await client.get(f"{API}/asset-tags/nope", headers=auth)
    front = next(c for c in cats["_embedded"]["items"] if c["code"] == "front_views")
    assert ("pictures", "Vues de face") == (front["parent"], front["labels"]["fr_FR"])
    codes = [t["code"] for t in tags["_embedded"]["items"]]
    assert sorted(codes) == codes and "summer-2019" in codes and len(codes) == 6
    assert 'Tag "nope" does not exist.' == one.json()["message"]


def test_the_dataset_is_deterministic_and_built_on_demand():
    """Same seed, same assets; another seed, other tags; codes sort in index order."""
    first, again = PamDataset(PamSimOptions(assets=50)), PamDataset(PamSimOptions(assets=50))
    other = PamDataset(PamSimOptions(assets=50, seed=1))
    assert [first.asset(i) for i in range(50)] == [again.asset(i) for i in range(50)]
    assert [first.asset(i).tags for i in range(50)] != [other.asset(i).tags for i in range(50)]
    codes = [first.code_of(i) for i in range(50)]
    assert sorted(codes) == codes
    assert (4, None, 5) == (
        first.index_of("pam_000004-old"),
        first.index_of("pam_000004"),
        first.after("pam_000004-old"),
    )


def test_localizable_assets_have_variations_only_where_the_locale_is_active():
    """§1: a (locale, channel) pair exists only if the locale is activated for the channel."""
    asset = PamDataset(PamSimOptions(assets=5, pitfalls=False)).asset(1)
    pairs = {(channel, locale) for channel, locale, _ in asset.variations}
    assert asset.localizable
    assert ("mobile", "en_US") in pairs and ("mobile", "fr_FR") not in pairs
    assert {"de_DE", "en_US", "fr_FR"} == {locale for locale, _ in asset.references}


def test_the_sim_command_refuses_bad_options_before_serving():
    """``damsync sim pam --assets -1``: a usage error, no server started."""
    from click.testing import CliRunner

    from daemon.sim.pam import pam_command

    result = CliRunner().invoke(pam_command, ["--assets", "-1"])
    assert 2 == result.exit_code
    assert "assets must be 0..999999" in result.output
