"""
The legacy PAM simulator's data: N assets built deterministically from ``(seed, index)``.

Nothing is held per asset: :meth:`PamDataset.asset` builds asset ``i`` on demand from a
``random.Random`` seeded with ``"{seed}:{i}"``, and codes sort in index order
(``pam_000007`` < ``pam_000007-old`` < ``pam_000008``), so a listing, a ``search_after`` cursor and
a look-up by code cost the same whatever N (``pam-migration.md`` §3.1: sorted by ``code ASC``).

The model is the one of ``pam-migration.md`` §1: an asset is localizable or not; one reference
per activated locale (or one with no locale); one variation per (reference, channel), a
(locale, channel) pair existing only where the locale is activated for the channel. With
``pitfalls`` on, the field problems of §9 that the API shows are spread over the assets by index:

- a variation whose generation failed (no file: absent from the JSON);
- a reference with no file (``file_info_id`` NULL), hence no variation file either;
- a file_info row whose binary is gone from storage (listed, but its download answers 404);
- an asset with no reference row at all;
- a tag that breaks ``^[a-zA-Z0-9_]+$`` (created on the fly by the legacy updater);
- an asset code that breaks the rule (legacy 1.x data);
- the same binary stored under two keys (same checksum, different file keys);
- PDFs, whose image variations are never generated.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

#: Channel -> activated locales (the source PIM's configuration).
CHANNELS: dict[str, tuple[str, ...]] = {
    "ecommerce": ("de_DE", "en_US", "fr_FR"),
    "mobile": ("en_US",),
    "print": ("en_US", "fr_FR"),
}
LOCALES: tuple[str, ...] = ("de_DE", "en_US", "fr_FR")
#: (code, parent, labels): two roots, any depth (§3.5).
CATEGORIES: tuple[tuple[str, str | None, dict[str, str]], ...] = (
    ("asset_main_catalog", None, {"en_US": "Asset main catalog"}),
    ("pictures", "asset_main_catalog", {"en_US": "Pictures", "fr_FR": "Images"}),
    ("front_views", "pictures", {"en_US": "Front views", "fr_FR": "Vues de face"}),
    ("back_views", "pictures", {"en_US": "Back views", "fr_FR": "Vues de dos"}),
    ("documents", "asset_main_catalog", {"en_US": "Documents"}),
    ("manuals", "documents", {"en_US": "Manuals", "fr_FR": "Notices"}),
    ("marketing", None, {"en_US": "Marketing"}),
    ("banners", "marketing", {"en_US": "Banners"}),
)
LEAF_CATEGORIES = ("front_views", "back_views", "manuals", "banners", "pictures")
WORDS = ("bridge", "tshirt", "jacket", "boots", "mug", "lamp", "chair", "sofa", "desk", "cap")
BAD_TAG = "summer-2019"
SHARED_CONTENT = b"\x89PNG\r\n\x1a\n" + b"shared company logo " * 16
CODE = re.compile(r"^pam_(\d{6})(-old)?$")
SANITISE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class PamSimOptions:
    """
    What the simulated legacy PIM holds and how it speaks.

    Args:
        assets: How many assets.
        seed: Same seed, same data.
        tags: How many distinct valid tag codes the assets draw from (over 100: no options).
        pitfalls: Spread the API-visible field problems of §9 over the assets.
        locale_word: ``no-locale`` (released 2.1-3.2) or ``no_locale`` (pre-release 2.x, §3.4).
        channel_key: ``scope`` (released) or ``channel`` (older 2.x code) in variation entries.
        end_of_use_offset: ``+00:00`` (standard normalizer) or ``+0000`` (the doc examples).
        fault_rate: Share of API requests answered 500 (seeded by ``rng_seed``).
        latency: Seconds added to every API request.
        rng_seed: Seed of the fault draw.
        base_url: The URL links are built on.
        products: How many legacy products with asset collections
            (:mod:`daemon.sim.pam.pam_sim_products`).
        product_models: How many legacy product models with asset collections
            (:mod:`daemon.sim.pam.pam_sim_models`); none by default, as the tests written
            before they were served expect (``damsync sim pam`` serves a few).
    """

    assets: int = 40
    seed: int = 0
    tags: int = 12
    pitfalls: bool = True
    locale_word: Literal["no-locale", "no_locale"] = "no-locale"
    channel_key: Literal["scope", "channel"] = "scope"
    end_of_use_offset: Literal["+00:00", "+0000"] = "+00:00"
    fault_rate: float = 0.0
    latency: float = 0.0
    rng_seed: int = 0
    base_url: str = "http://localhost"
    products: int = 12
    product_models: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.assets <= 999_999:
            raise ValueError(f"assets must be 0..999999, got {self.assets}")
        if not 1 <= self.tags <= 10_000:
            raise ValueError(f"tags must be 1..10000, got {self.tags}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be 0..1, got {self.fault_rate}")
        if not 0 <= self.products <= 99_999:
            raise ValueError(f"products must be 0..99999, got {self.products}")
        if not 0 <= self.product_models <= 99_999:
            raise ValueError(f"product_models must be 0..99999, got {self.product_models}")
        if self.latency < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency}")


@dataclass(frozen=True, slots=True)
class SimFile:
    """A row of ``akeneo_file_storage_file_info``; ``stored`` False: the binary is gone."""

    key: str
    original_name: str
    mime_type: str
    content: bytes
    stored: bool = True


@dataclass(frozen=True, slots=True)
class SimAsset:
    """
    One PAM asset.

    ``references``: (locale or None, file or None: a reference row without a file);
    ``variations``: (channel, locale or None, file or None: generation failed).
    """

    code: str
    localizable: bool
    description: str | None
    end_of_use: datetime | None
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    references: tuple[tuple[str | None, SimFile | None], ...]
    variations: tuple[tuple[str, str | None, SimFile | None], ...]

    def reference(self, locale: str | None) -> tuple[bool, SimFile | None]:
        """(whether the reference row exists, its file)."""
        for ref_locale, file in self.references:
            if ref_locale == locale:
                return True, file
        return False, None

    def variation(self, channel: str, locale: str | None) -> SimFile | None:
        """The variation's file (None: no row or no file)."""
        for var_channel, var_locale, file in self.variations:
            if (var_channel, var_locale) == (channel, locale):
                return file
        return None


def _file(seed: int, index: int, role: str, name: str, content: bytes | None) -> SimFile:
    digest = hashlib.sha1(f"{seed}:{index}:{role}".encode()).hexdigest()
    key = f"{digest[0]}/{digest[1]}/{digest[2]}/{digest[3]}/{digest}_{SANITISE.sub('_', name)}"
    pdf = name.endswith(".pdf")
    body = content
    if body is None:
        head = b"%PDF-1.4\n" if pdf else b"\xff\xd8\xff\xe0JFIF"
        body = head + hashlib.sha256(f"{seed}:{index}:{role}".encode()).digest() * 8
    mime = "application/pdf" if pdf else ("image/png" if name.endswith(".png") else "image/jpeg")
    return SimFile(key=key, original_name=name, mime_type=mime, content=body)


class PamDataset:
    """The assets, categories and tags of the simulated legacy PIM."""

    def __init__(self, options: PamSimOptions) -> None:
        self.options = options
        self.tags = tuple(f"tag_{n:04d}" for n in range(options.tags))

    def __len__(self) -> int:
        return self.options.assets

    def code_of(self, index: int) -> str:
        """The code of asset ``index`` (codes sort in index order)."""
        legacy = self.options.pitfalls and index % 23 == 4
        return f"pam_{index:06d}{'-old' if legacy else ''}"

    def index_of(self, code: str) -> int | None:
        """The index of ``code``, or None when no asset has it."""
        match = CODE.match(code)
        if match is None:
            return None
        index = int(match.group(1))
        if index >= len(self) or self.code_of(index) != code:
            return None
        return index

    def after(self, code: str) -> int:
        """The index of the first asset whose code sorts after ``code``."""
        low, high = 0, len(self)
        while low < high:  # bisect over codes built on demand
            middle = (low + high) // 2
            if self.code_of(middle) <= code:
                low = middle + 1
            else:
                high = middle
        return low

    def asset(self, index: int) -> SimAsset:
        """Build asset ``index``."""
        seed, pit = self.options.seed, self.options.pitfalls
        rng = random.Random(f"{seed}:{index}")
        word = WORDS[index % len(WORDS)]
        localizable = index % 3 == 1
        pdf = index % 10 == 7
        ext = "pdf" if pdf else "jpg"
        locales: tuple[str | None, ...] = LOCALES if localizable else (None,)
        no_reference_row = pit and index % 29 == 2
        null_reference = pit and index % 11 == 5
        gone_binary = pit and index % 13 == 6
        shared = pit and index % 17 == 0 and not pdf
        references: list[tuple[str | None, SimFile | None]] = []
        variations: list[tuple[str, str | None, SimFile | None]] = []
        for locale in () if no_reference_row else locales:
            suffix = f" {locale}" if locale else ""
            name = f"{word.title()} {index}{suffix}.{ext}"
            ref: SimFile | None = _file(
                seed, index, f"ref:{locale}", name, SHARED_CONTENT if shared else None
            )
            if null_reference and locale in (None, "en_US"):
                ref = None
            elif gone_binary and ref is not None and locale in (None, "en_US"):
                ref = SimFile(ref.key, ref.original_name, ref.mime_type, ref.content, False)
            references.append((locale, ref))
            for channel, active in CHANNELS.items():
                if locale is not None and locale not in active:
                    continue  # no variation where the locale is not activated (§1)
                failed = ref is None or pdf or (pit and index % 7 == 3 and channel == "mobile")
                var_name = f"{word}_{index}_{channel}.jpg"
                var = (
                    None
                    if failed
                    else _file(seed, index, f"var:{channel}:{locale}", var_name, None)
                )
                variations.append((channel, locale, var))
        tags = sorted(set(rng.sample(self.tags, k=min(len(self.tags), rng.randint(0, 3)))))
        if pit and index % 19 == 9:
            tags.append(BAD_TAG)
        categories = sorted(set(rng.sample(LEAF_CATEGORIES, k=rng.randint(0, 2))))
        description: str | None = f"{word.title()} number {index}"
        if index % 5 == 0:
            description = None
        elif index % 8 == 3:
            description = f'{word}; "quoted"\nsecond line'
        end_of_use = datetime(2028, 1 + index % 12, 1 + index % 28, tzinfo=UTC)
        return SimAsset(
            code=self.code_of(index),
            localizable=localizable,
            description=description,
            end_of_use=end_of_use if index % 4 == 0 else None,
            tags=tuple(tags),
            categories=tuple(categories),
            references=tuple(references),
            variations=tuple(variations),
        )


__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "LOCALES",
    "PamDataset",
    "PamSimOptions",
    "SimAsset",
    "SimFile",
]
