"""The alias tables shipped in data/: countries, US states (residents, dateline abbreviations,
capitals) and news acronyms.

Level 1 forms (demonyms, adjectives, unambiguous short names) are on by default; level 2
forms (capitals, other names) only when the subscriber asks for them with ``~``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from bot.topics.analyze import is_acronym, tokenize

# Two-letter capitals (US, UK) are matched only in capitals; longer ones also in lower case.
CASE_SENSITIVE_MAX = 2
_TABLES = ("countries.tsv", "regions.tsv", "acronyms.tsv")


@dataclass(frozen=True, slots=True)
class AliasGroup:
    """One concept: its name and its level 1 and level 2 forms, as written in the table."""

    name: str
    level1: tuple[str, ...]
    level2: tuple[str, ...]


def query_words(text: str) -> tuple[str, ...]:
    """The words of a query term: normalized, except short capitals kept as written."""
    return tuple(t.surface if is_acronym(t.surface) else t.norm for t in tokenize(text))


class AliasTable:
    """Looks up the alias group a query term belongs to."""

    def __init__(self, groups: list[AliasGroup]) -> None:
        self.groups = groups
        seen: dict[tuple[str, ...], set[int]] = {}
        for index, group in enumerate(groups):
            for form in (group.name, *group.level1):
                words = query_words(form)
                seen.setdefault(words, set()).add(index)
                if any(w.isupper() and len(w) > CASE_SENSITIVE_MAX for w in words):
                    # "ipo" typed in lower case still means IPO; "us" does not mean US.
                    seen.setdefault(tuple(w.lower() for w in words), set()).add(index)
        # A form shared by two countries (Dominican, Guinean) expands to neither.
        self._by_words = {words: ids.pop() for words, ids in seen.items() if len(ids) == 1}
        self.max_words = max((len(w) for w in self._by_words), default=1)

    def group_for(self, words: tuple[str, ...]) -> AliasGroup | None:
        """The group whose name or level 1 form these query words are, if exactly one."""
        index = self._by_words.get(words)
        return None if index is None else self.groups[index]

    def forms(self, words: tuple[str, ...], *, wide: bool) -> tuple[str, ...]:
        """The other forms a term also matches: level 1, plus level 2 when ``wide``."""
        group = self.group_for(words)
        if group is None:
            return ()
        candidates = (group.name, *group.level1, *(group.level2 if wide else ()))
        lowered = _lower(words)
        return tuple(f for f in dict.fromkeys(candidates) if _lower(query_words(f)) != lowered)

    def display_name(self, words: tuple[str, ...]) -> str | None:
        """How the table writes these words (for the echo), when it knows them."""
        group = self.group_for(words)
        if group is None:
            return None
        for form in (group.name, *group.level1):
            if _lower(query_words(form)) == _lower(words):
                return form
        return None


def _lower(words: tuple[str, ...]) -> tuple[str, ...]:
    """Words compared without case."""
    return tuple(w.lower() for w in words)


def parse_table(text: str) -> list[AliasGroup]:
    """Read the tab-separated alias table; '#' lines are comments."""
    groups = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = [*line.split("\t"), "", ""][:3]
        name, level1, level2 = (c.strip() for c in cells)
        groups.append(
            AliasGroup(
                name=name,
                level1=tuple(f.strip() for f in level1.split("|") if f.strip()),
                level2=tuple(f.strip() for f in level2.split("|") if f.strip()),
            )
        )
    return groups


@lru_cache(maxsize=1)
def default_table() -> AliasTable:
    """The table shipped with newsbot, loaded once."""
    data = resources.files("bot.topics").joinpath("data")
    groups = []
    for name in _TABLES:
        groups.extend(parse_table(data.joinpath(name).read_text(encoding="utf-8")))
    return AliasTable(groups)
