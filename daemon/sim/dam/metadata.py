"""
Seeded, realistic asset metadata for the DAM simulator.

``generate_metadata(seed, number, version, kind)`` is a pure function: the same inputs always
give the same localized titles and descriptions (en_US, fr_FR, de_DE), tags, SKUs, colour,
photographer, nominal size, publication flag and folder. A new version gives new values.
"""

from __future__ import annotations

import random
from typing import Any

LOCALES = ("en_US", "fr_FR", "de_DE")

# (en_US, fr_FR, de_DE)
_PRODUCTS = (
    ("Running shoe", "Chaussure de course", "Laufschuh"),
    ("Leather bag", "Sac en cuir", "Ledertasche"),
    ("Rain jacket", "Veste de pluie", "Regenjacke"),
    ("Wool scarf", "Écharpe en laine", "Wollschal"),
    ("Desk lamp", "Lampe de bureau", "Schreibtischlampe"),
    ("Coffee mug", "Tasse à café", "Kaffeebecher"),
    ("Garden chair", "Chaise de jardin", "Gartenstuhl"),
    ("Sunglasses", "Lunettes de soleil", "Sonnenbrille"),
    ("Backpack", "Sac à dos", "Rucksack"),
    ("Kitchen knife", "Couteau de cuisine", "Küchenmesser"),
)
_VIEWS = (
    ("front view", "vue de face", "Vorderansicht"),
    ("side view", "vue de côté", "Seitenansicht"),
    ("detail", "détail", "Detailansicht"),
    ("lifestyle shot", "mise en situation", "Lifestyle-Aufnahme"),
    ("packshot", "packshot", "Packshot"),
)
_DOCS = (
    ("Product data sheet", "Fiche produit", "Produktdatenblatt"),
    ("Assembly instructions", "Notice de montage", "Montageanleitung"),
    ("Safety information", "Consignes de sécurité", "Sicherheitshinweise"),
)
# colour code, then its name in (en_US, fr_FR, de_DE)
_COLOURS = (
    ("red", "red", "rouge", "rot"),
    ("blue", "blue", "bleu", "blau"),
    ("green", "green", "vert", "grün"),
    ("black", "black", "noir", "schwarz"),
    ("white", "white", "blanc", "weiß"),
    ("yellow", "yellow", "jaune", "gelb"),
    ("grey", "grey", "gris", "grau"),
)
_TAGS = (
    "summer",
    "winter",
    "sale",
    "new",
    "outdoor",
    "studio",
    "bestseller",
    "eco",
    "kids",
    "premium",
)
_PHOTOGRAPHERS = (
    "Zoë Müller",
    "François Dubois",
    "Ana García",
    "Kenji Watanabe",
    "Björn Åkesson",
    "Chloé Lefèvre",
    "Sam O'Neil",
)
_FOLDERS = (
    "/catalog/shoes",
    "/catalog/bags",
    "/catalog/outerwear",
    "/catalog/home",
    "/catalog/garden",
    "/marketing/campaigns/2026",
    "/documents/datasheets",
)
_SIZES = ((1200, 800), (800, 1200), (2000, 2000), (1920, 1080), (640, 480), (3000, 2000))
_DESCRIPTION = (
    "{product} in {colour}, {view}. Photographed by {who}.",
    "{product} en {colour}, {view}. Photo : {who}.",
    "{product} in {colour}, {view}. Foto: {who}.",
)
_DOC_DESCRIPTION = (
    "{product} for the {colour} range, revision {version}.",
    "{product} pour la gamme {colour}, révision {version}.",
    "{product} für die Serie {colour}, Revision {version}.",
)


def generate_metadata(seed: int, num: int, version: int, kind: str) -> dict[str, Any]:
    """
    Build the metadata of one asset version.

    Args:
        seed: the simulator's generation seed.
        num: the asset number.
        version: the asset's metadata version (1-based).
        kind: ``png``, ``jpeg`` or ``pdf``; documents get document titles and A4 sizes.

    Returns:
        A fresh dict (callers may modify it) in the generic item's ``metadata`` shape.
    """
    base = random.Random(f"{seed}:{num}:base")  # what an edit does not change
    rng = random.Random(f"{seed}:{num}:{version}:meta")
    product = base.choice(_PRODUCTS)
    colour = rng.choice(_COLOURS)
    who = rng.choice(_PHOTOGRAPHERS)
    sku = f"SKU-{base.randrange(1, 5000):05d}"
    others = sorted({f"SKU-{rng.randrange(1, 5000):05d}" for _ in range(rng.randrange(3))} - {sku})
    if kind == "pdf":
        doc = rng.choice(_DOCS)
        titles = [f"{doc[i]} – {product[i]}" for i in range(3)]
        descriptions = [
            _DOC_DESCRIPTION[i].format(product=doc[i], colour=colour[i + 1], version=version)
            for i in range(3)
        ]
        width, height = 595, 842
    else:
        view = rng.choice(_VIEWS)
        titles = [f"{product[i]} {colour[i + 1]} – {view[i]}" for i in range(3)]
        descriptions = [
            _DESCRIPTION[i].format(product=product[i], colour=colour[i + 1], view=view[i], who=who)
            for i in range(3)
        ]
        width, height = rng.choice(_SIZES)
    return {
        "title": dict(zip(LOCALES, titles, strict=True)),
        "description": dict(zip(LOCALES, descriptions, strict=True)),
        "tags": sorted(rng.sample(_TAGS, rng.randint(1, 4))),
        "sku": sku,
        "product_skus": [sku, *others],
        "colour": colour[0],
        "photographer": who,
        "width": width,
        "height": height,
        "published": rng.random() < 0.9,
        "folder": "/documents/datasheets" if kind == "pdf" else base.choice(_FOLDERS[:-1]),
    }


__all__ = ["LOCALES", "generate_metadata"]
