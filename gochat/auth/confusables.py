"""Look-alike names (Unicode TR #39, "Security Mechanisms"): skeletons and mixed scripts.

The data is Unicode's confusables.txt and Scripts.txt as shipped by `confusable_homoglyphs` (a
maintained package, used by django-registration). It gives, for each character, the characters
that share its prototype; the skeleton maps every member of such a class to one representative
(ASCII first, then the longest, then the smallest: `m` -> `rn` as TR #39 does, `l`, `I`, `1` -> `1`),
over the NFD of the NFKC-casefolded name, as TR #39's `skeleton(X)` = NFD(map(NFD(X))).
Two names are confusable when their skeletons are equal.
"""

from __future__ import annotations

import functools
import json
import unicodedata
import uuid
from importlib import resources

from confusable_homoglyphs import categories

from .names import normalize_username

_MARKS = str.maketrans("", "", "\u200e\u200f")  # the data wraps right-to-left glyphs in LRM marks
# Scripts TR #39's "highly restrictive" level lets one name combine (CJK writing mixes them).
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_NEUTRAL = frozenset({"COMMON", "INHERITED"})
# Namespace of the per-skeleton claim streams (accounts.py): two look-alike signups race on one stream.
SKELETON_NAMESPACE = uuid.UUID("0d3c6a52-1f0e-4b8e-9c43-7a2f1d5e8b60")
#: Words a mention reads as @room and @here, so nobody may be called that.
RESERVED_NAMES = frozenset({"room", "here", "everyone", "channel"})


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each character's class representative. The data lists, per character, what it is confusable
    with, not always symmetrically (`I` lists `l`; `l` lists `I`, `1`, `|`...): classes are the
    connected components (union-find), so every member maps to the same representative."""
    raw = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key, glyphs in raw.items():
        char = key.translate(_MARKS)
        for g in glyphs:
            other = g["c"].translate(_MARKS)
            if other:
                a, b = find(char), find(other)
                if a != b:
                    parent[a] = b
    classes: dict[str, list[str]] = {}
    for member in list(parent):
        classes.setdefault(find(member), []).append(member)
    table: dict[str, str] = {}
    for members in classes.values():
        # ASCII first (the prototype TR #39 gives is usually the plain Latin form), longest (`m` -> `rn`)
        proto = unicodedata.normalize("NFD", min(members, key=lambda m: (not m.isascii(), -len(m), m)))
        table.update((m, proto) for m in members if len(m) == 1 and m != proto)
    return table


def _map(text: str) -> str:
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


def skeleton(name: str) -> str:
    """The name's skeleton: equal skeletons look alike. Mapped before case folding (`I` looks like
    `l`, which folding would hide by making it `i`) and again after it (names are unique folded)."""
    return _map(normalize_username(_map(unicodedata.normalize("NFKC", name))))


def scripts(name: str) -> set[str]:
    """The scripts of the name's characters, Common and Inherited (digits, marks, `_`) left out."""
    found = set()
    for ch in name:
        alias = categories.alias(ch)
        if alias not in _NEUTRAL:
            found.add(alias)
    return found


def is_mixed_script(name: str) -> bool:
    """More than one script, beyond the combinations CJK names legitimately use."""
    used = scripts(name)
    return len(used) > 1 and not any(used <= allowed for allowed in _ALLOWED_MIXES)


def skeleton_stream(skel: str) -> uuid.UUID:
    return uuid.uuid5(SKELETON_NAMESPACE, skel)
