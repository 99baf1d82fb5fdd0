"""
The first read of a PAM migration: what each target family will receive, in bounded memory.

:class:`PamSurvey` sees every asset once, with the family the strategy gave it, and keeps per
family only counts and small sets: the channels, locales and file extensions seen, and the tag
and category codes up to one past the option limit (past 100 distinct codes the decision is
"text" whatever follows, ``pam-migration.md`` §7), so memory stays flat whatever the number of
assets. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from daemon.pam.pam_records import CODE_RULE, PamAsset

#: Options per option attribute in the Asset Manager (the reason for CsvToAsset's threshold).
OPTION_LIMIT = 100
#: Examples of refused codes kept for the report.
EXAMPLES = 5


@dataclass(slots=True)
class CodeTally:
    """Distinct codes in first-seen order, capped at ``OPTION_LIMIT + 1``; refused codes counted."""

    codes: dict[str, None] = field(default_factory=dict)
    overflow: bool = False
    refused: dict[str, None] = field(default_factory=dict)

    def add(self, code: str) -> None:
        if not CODE_RULE.match(code) or len(code) > 255:
            if len(self.refused) <= OPTION_LIMIT:
                self.refused[code] = None
            return
        if code in self.codes:
            return
        if len(self.codes) > OPTION_LIMIT:
            self.overflow = True
            return
        self.codes[code] = None

    @property
    def examples(self) -> list[str]:
        """A few of the refused codes, for the report."""
        return list(self.refused)[:EXAMPLES]

    @property
    def distinct(self) -> int:
        """Distinct valid codes seen, capped at ``OPTION_LIMIT + 1``."""
        return len(self.codes)


@dataclass(slots=True)
class FamilySurvey:
    """What one target family receives."""

    code: str
    assets: int = 0
    localizable: int = 0
    not_localizable: int = 0
    without_reference: int = 0
    with_end_of_use: int = 0
    with_description: int = 0
    references: int = 0
    variations: int = 0
    tags: CodeTally = field(default_factory=CodeTally)
    categories: CodeTally = field(default_factory=CodeTally)
    channels: set[str] = field(default_factory=set)
    locales: set[str] = field(default_factory=set)
    extensions: Counter[str] = field(default_factory=Counter)

    def add(self, asset: PamAsset) -> None:
        self.assets += 1
        if asset.localizable is True:
            self.localizable += 1
        elif asset.localizable is False:
            self.not_localizable += 1
        if not asset.references:
            self.without_reference += 1
        self.with_end_of_use += asset.end_of_use is not None
        self.with_description += asset.description is not None
        self.references += len(asset.references)
        self.variations += len(asset.variations)
        for code in asset.tags:
            self.tags.add(code)
        for code in asset.categories:
            self.categories.add(code)
        for locale, file in asset.references.items():
            if locale is not None:
                self.locales.add(locale)
            if file.extension:
                self.extensions[file.extension] += 1
        for channel, locale in asset.variations:
            self.channels.add(channel)
            if locale is not None:
                self.locales.add(locale)


@dataclass(slots=True)
class PamSurvey:
    """Every family's survey, and the assets no family was found for."""

    families: dict[str, FamilySurvey] = field(default_factory=dict)
    unplaced: int = 0

    def add(self, family: str | None, asset: PamAsset) -> None:
        """Count ``asset`` for ``family`` (None: the strategy found none; it will be skipped)."""
        if family is None:
            self.unplaced += 1
            return
        survey = self.families.get(family)
        if survey is None:
            survey = self.families[family] = FamilySurvey(family)
        survey.add(asset)


__all__ = ["OPTION_LIMIT", "CodeTally", "FamilySurvey", "PamSurvey"]
