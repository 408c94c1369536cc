"""The live catalog as words: product types and option values a customer may name.

Built from the store's products (τ² db.json "products" shape) plus the everyday words in
`crew/config/catalog_synonyms.yaml`, so a new product or option value is recognised as soon as
the store has it. Matching is by compiled regexes; overlapping hits keep the longest one.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from crew.intent.models import OptionMention, ProductMention

SYNONYMS_PATH = Path(__file__).resolve().parents[1] / "config" / "catalog_synonyms.yaml"

# Unit spellings: a catalog value "13-inch" also matches "13 inch", '13"' and "13 inches".
_UNIT_FORMS = {
    "ml": r"(?:ml|mls|millilit(?:er|re)s?)",
    "l": r"(?:l|ltrs?|lit(?:er|re)s?)",
    "inch": r'(?:inch(?:es)?|")',
    "ft": r"(?:ft|feet|foot|')",
    "gb": r"(?:gb|gigs?|gigabytes?)",
    "tb": r"(?:tb|terabytes?)",
    "hour": r"(?:hours?|hrs?|h)",
    "lb": r"(?:lbs?|pounds?)",
    "mm": r"(?:mm|millimet(?:er|re)s?)",
    "mp": r"(?:mp|megapixels?)",
    "degree": r"(?:degrees?|°)",
    "cup": r"cups?",
    "w": r"(?:w|watts?)",
    "piece": r"(?:pieces?|pcs?)",
}
_UNIT_ALIASES = {
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "inches": "inch",
    "hours": "hour",
    "lbs": "lb",
    "degrees": "degree",
    "cups": "cup",
    "pieces": "piece",
}
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|[^\w\s-]")
_GAP = r"[\s-]*"
_WORD_START, _WORD_END = r"(?<![\w.])", r"(?!\w)"
# What may follow a context-only value for it to count: an option name, a product, "one"...
_AFTER_WORDS = r"ones?|versions?|models?|variants?|options?|editions?|colou?rs?|sizes?"
_VERB_BEFORE = re.compile(r"\b(?:to|i|we|they|gonna|wanna)\s+$", re.I)


@dataclass(frozen=True)
class Found:
    """One hit in the message: where it is and what it means."""

    start: int
    end: int
    mention: ProductMention | OptionMention


@dataclass(frozen=True)
class _Surface:
    text: str
    pattern: re.Pattern[str]  # the surface alone, with word boundaries
    meaning: tuple[str, ...]  # product ids, or canonical option values (lowercase)
    context_only: bool = False

    @property
    def body(self) -> str:
        return self.pattern.pattern[len(_WORD_START) : -len(_WORD_END)]


def _number(value: float) -> str:
    return f"{value:g}"


def _quantity(number: str, unit: str) -> str:
    """Regex for a number with a unit, including the other volume unit (1L == 1000 ml)."""
    amount = float(number)
    forms = [(number, _UNIT_FORMS[unit])]
    if unit == "l":
        forms.append((_number(amount * 1000), _UNIT_FORMS["ml"]))
    elif unit == "ml" and amount >= 100:
        forms.append((_number(amount / 1000), _UNIT_FORMS["l"]))
    return "(?:" + "|".join(re.escape(n) + _GAP + u for n, u in forms) + ")"


def _plural(word: str) -> str:
    stem = re.escape(word)
    if word.endswith(("ss", "ch", "sh", "x")):
        return stem + "(?:es)?"
    if word.endswith("s"):
        return re.escape(word[:-1]) + "s?"
    if word.endswith("f"):
        return re.escape(word[:-1]) + "(?:f|ves)"
    if re.search(r"[^aeiou]y$", word):
        return re.escape(word[:-1]) + "(?:y|ies)"
    return stem + "s?"


def value_regex(value: str) -> str:
    """Regex (no word boundaries) for an option value: any spacing, unit spelling, l or ml."""
    tokens = _TOKEN.findall(value.lower())
    parts: list[str] = []
    i = 0
    while i < len(tokens):
        token, following = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        unit = _UNIT_ALIASES.get(following, following)
        if token[0].isdigit() and unit in _UNIT_FORMS:
            parts.append(_quantity(token, unit))
            i += 2
            continue
        parts.append(re.escape(token))
        i += 1
    return _GAP.join(parts)


def product_regex(surface: str) -> str:
    """Regex (without word boundaries) for a product word, singular or plural."""
    words = [w for w in re.split(r"[\s-]+", surface.lower()) if w]
    body = _GAP.join([*(re.escape(w) for w in words[:-1]), _plural(words[-1])])
    return body


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, Any]:
    return yaml.safe_load(SYNONYMS_PATH.read_text(encoding="utf-8"))


class Catalog:
    """Product types and option values of one catalog, ready to be found in messages."""

    def __init__(
        self,
        names: dict[str, str],
        products: list[_Surface],
        values: list[_Surface],
        value_keys: dict[str, tuple[str, tuple[str, ...]]],
    ) -> None:
        self.names = names  # product id -> product name
        # One alternation per kind, longest surface first: a single scan per message, and at
        # any position "rose gold" is tried before "gold".
        self._products = sorted(products, key=lambda s: -len(s.text))
        self._values = sorted(values, key=lambda s: -len(s.text))
        self._product_re = _alternation(self._products)
        self._value_re = _alternation(self._values)
        self._seen: dict[tuple[int, str], _Surface] = {}
        self._value_keys = value_keys  # canonical value (lowercase) -> (display, option names)
        keys = {k for _, option_names in value_keys.values() for k in option_names}
        keys |= {"colour"} if "color" in keys else set()
        key_alt = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) or "(?!)"
        product_alt = self._product_re.pattern
        self._key_before = re.compile(rf"(?:{key_alt})\s*(?:is|of|:|=|-)?\s*$", re.I)
        self._in_before = re.compile(r"\bin\s+$", re.I)
        self._after = re.compile(rf"^[\s-]*(?:{key_alt}|{product_alt}|{_AFTER_WORDS})(?!\w)", re.I)

    # construction ------------------------------------------------------------------------

    @classmethod
    def from_products(cls, products: Mapping[str, Mapping[str, Any]]) -> Catalog:
        """Build from `{product_id: {name, product_id, variants: {item_id: {options}}}}`."""
        synonyms = _synonyms()
        names = {pid: str(p["name"]) for pid, p in products.items()}
        return cls(
            names,
            _product_surfaces(names, synonyms),
            *_value_surfaces(products, synonyms),
        )

    @classmethod
    def from_db_json(cls, path: Path) -> Catalog:
        return cls.from_products(json.loads(Path(path).read_text(encoding="utf-8"))["products"])

    @classmethod
    def empty(cls) -> Catalog:
        return cls.from_products({})

    # matching ----------------------------------------------------------------------------

    def find_products(self, text: str) -> list[Found]:
        found: list[Found] = []
        for m in self._product_re.finditer(text):
            if _VERB_BEFORE.search(text, 0, m.start()):  # "to watch a film"
                continue
            meaning = self._all_meanings(m.group(0), self._products).meaning
            ids = sorted(meaning, key=lambda pid: self.names[pid])
            mention = ProductMention(
                text=m.group(0), names=sorted({self.names[pid] for pid in ids}), product_ids=ids
            )
            found.append(Found(m.start(), m.end(), mention))
        return found

    def find_options(self, text: str, taken: Sequence[Found] = ()) -> list[Found]:
        """Option values in `text`, ignoring words inside the spans in `taken` (products)."""
        found: list[Found] = []
        for m in self._value_re.finditer(text):
            surface = self._all_meanings(m.group(0), self._values)
            if any(m.start() < t.end and m.end() > t.start for t in taken):
                continue
            if surface.context_only and not self._in_context(text, m, surface):
                continue
            for canonical in surface.meaning:
                display, options = self._value_keys[canonical]
                mention = OptionMention(text=m.group(0), value=display, options=list(options))
                found.append(Found(m.start(), m.end(), mention))
        return found

    def _all_meanings(self, words: str, surfaces: list[_Surface]) -> _Surface:
        """Every surface these words fit ("1 litre" is "1L", "1 liter" and "1000ml"), cached."""
        key = (id(surfaces), words.lower())
        if key not in self._seen:
            fits = [s for s in surfaces if s.pattern.fullmatch(words)]
            meaning = tuple(sorted({m for s in fits for m in s.meaning}))
            context_only = all(s.context_only for s in fits)
            self._seen[key] = _Surface(words.lower(), fits[0].pattern, meaning, context_only)
        return self._seen[key]

    def _in_context(self, text: str, m: re.Match[str], surface: _Surface) -> bool:
        before, after = text[max(0, m.start() - 30) : m.start()], text[m.end() : m.end() + 40]
        if self._key_before.search(before) or self._after.match(after):
            return True
        keys = {k for c in surface.meaning for k in self._value_keys[c][1]}
        return any("color" in k for k in keys) and bool(self._in_before.search(before))


def _bounded(body: str) -> re.Pattern[str]:
    return re.compile(_WORD_START + body + _WORD_END, re.I)


def _alternation(surfaces: list[_Surface]) -> re.Pattern[str]:
    """One regex for all surfaces, dispatched on the first character: a message is scanned
    once, and at each word start only the surfaces with that initial are tried."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for surface in surfaces:
        initial = surface.text[:1].lower()
        # "500ml" also matches "0.5 l": any surface starting with a digit may start with any
        buckets[r"\d" if initial.isdigit() else re.escape(initial)].append(surface.body)
    body = "|".join(f"(?={key})(?:{'|'.join(bodies)})" for key, bodies in buckets.items())
    return re.compile(_WORD_START + f"(?:{body or '(?!)'})" + _WORD_END, re.I)


def _product_surfaces(names: dict[str, str], synonyms: dict[str, Any]) -> list[_Surface]:
    by_name = {name.lower(): pid for pid, name in names.items()}
    vague = {w.lower() for w in synonyms.get("not_product_words", [])}
    surfaces: dict[str, set[str]] = defaultdict(set)
    for pid, name in names.items():
        surfaces[name.lower()].add(pid)
        words = name.lower().split()
        if len(words) > 1 and words[-1] not in vague:
            surfaces[words[-1]].add(pid)  # "shoes" may mean "Running Shoes"
    for name, extra in (synonyms.get("products") or {}).items():
        pid = by_name.get(name.lower())
        for word in extra if pid else ():
            surfaces[word.lower()].add(pid)
    return [
        _Surface(s, _bounded(product_regex(s)), tuple(sorted(ids))) for s, ids in surfaces.items()
    ]


def _value_surfaces(
    products: Mapping[str, Mapping[str, Any]], synonyms: dict[str, Any]
) -> tuple[list[_Surface], dict[str, tuple[str, tuple[str, ...]]]]:
    keys: dict[str, set[str]] = defaultdict(set)
    display: dict[str, str] = {}
    for product in products.values():
        for variant in product.get("variants", {}).values():
            for option, value in variant.get("options", {}).items():
                keys[str(value).lower()].add(str(option))
                display.setdefault(str(value).lower(), str(value))
    surfaces: dict[str, set[str]] = defaultdict(set)
    for canonical in keys:
        surfaces[canonical].add(canonical)
    for canonical, extra in (synonyms.get("values") or {}).items():
        for word in extra if canonical.lower() in keys else ():
            surfaces[word.lower()].add(canonical.lower())
    context_only = {w.lower() for w in synonyms.get("context_only", [])}
    product_words = {w.lower() for w in synonyms.get("products", {}) or {}}
    product_words |= {w.lower() for ws in (synonyms.get("products") or {}).values() for w in ws}

    def needs_context(surface: str) -> bool:
        return (
            surface in context_only
            or surface in product_words
            or len(surface) == 1
            or re.fullmatch(r"[\d.%]+", surface) is not None
        )

    compiled = [
        _Surface(s, _bounded(value_regex(s)), tuple(sorted(c)), needs_context(s))
        for s, c in surfaces.items()
    ]
    value_keys = {c: (display[c], tuple(sorted(k))) for c, k in keys.items()}
    return compiled, value_keys
