"""A second opinion for fastText lid.176, only where lid.176 is known to be unsure.

lid.176 stays the model (Llama 3's). On documents of six real sentences it is right 94 % of the
time on the 67 languages of lingua's test set it knows; its errors are confusable groups (Bosnian
/ Croatian / Serbian, Malay / Indonesian, Bokmål / Nynorsk / Danish, Afrikaans / Dutch) and weak
languages it answers with a low probability (Yoruba, Somali). A second model answers only there:

* lid.176's label is in a confusable group -> lingua, restricted to that group's languages, in its
  high-accuracy mode (its n-gram models up to five characters), picks the label;
* lid.176's probability is under ``below`` and its label is a language lingua knows -> lingua over
  every language both models know, in its low-accuracy mode (trigrams: a tenth of the memory),
  replaces the label when it is at least ``accept`` sure, else lid.176's label stays. (An unsure
  label lingua does not know stays: on the UDHR's long tail, asking lingua there replaced right
  answers such as Haitian or Interlingua with wrong ones.)

lingua (``lingua-language-detector``, Apache-2.0, Peter M. Stahl) ships its models inside its
wheel: nothing is downloaded. Its detectors load their models lazily, once per process, and only
for the languages they meet. The score a document carries is that of the model whose label it has.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# lid.176's codes (curate's convention) -> their group; "hbs" (Serbo-Croatian) is lid.176's own
# label for the macrolanguage, which lingua does not have: it joins the group, lingua decides.
CONFUSABLE_GROUPS: tuple[tuple[str, ...], ...] = (("bs", "hr", "sr", "hbs"), ("id", "ms"), ("da", "nn", "no"), ("af", "nl"))
DEFAULT_BELOW = 0.5
DEFAULT_ACCEPT = 0.5


def lingua_code(language) -> str:
    """lingua's Language -> curate's code (ISO 639-1; Bokmål is lid.176's "no")."""
    code = language.iso_code_639_1.name.lower()
    return "no" if code == "nb" else code


def lingua_languages(codes: Sequence[str]) -> dict:
    """{curate code: lingua Language} for the codes lingua knows."""
    from lingua import Language

    wanted = set(codes)
    return {lingua_code(lang): lang for lang in Language.all() if lingua_code(lang) in wanted}


@dataclass
class SecondOpinion:
    """Call ``revise(texts, predictions)`` with lid.176's ``(lang, score)`` per text."""

    known_codes: frozenset[str]  # what the first model can answer (lid.176's labels)
    groups: tuple[tuple[str, ...], ...] = CONFUSABLE_GROUPS
    below: float = DEFAULT_BELOW
    accept: float = DEFAULT_ACCEPT
    _group_of: dict = field(default_factory=dict, init=False, repr=False)
    _detectors: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for group in self.groups:
            for code in group:
                self._group_of[code] = tuple(group)

    def _detector(self, key: tuple[str, ...] | None):
        """lingua for a group (high accuracy) or, for ``None``, every shared language (low accuracy)."""
        detector = self._detectors.get(key)
        if detector is None:
            from lingua import LanguageDetectorBuilder

            languages = lingua_languages(key if key is not None else sorted(self.known_codes))
            if len(languages) < 2:
                return None
            builder = LanguageDetectorBuilder.from_languages(*languages.values())
            detector = self._detectors[key] = (builder if key is not None else builder.with_low_accuracy_mode()).build()
        return detector

    def needed(self, lang: str, score: float) -> bool:
        # an unsure label lingua does not know (Haitian, Interlingua, Kurdish...) stays: lingua could
        # only answer with another language, and on the UDHR's long tail that was wrong
        return lang in self._group_of or (score < self.below and lang in self._shared())

    def _shared(self) -> frozenset[str]:
        shared = self._detectors.get("shared-codes")
        if shared is None:
            shared = self._detectors["shared-codes"] = frozenset(lingua_languages(sorted(self.known_codes)))
        return shared

    def revise(self, texts: Sequence[str], predictions: Sequence[tuple[str, float]]) -> tuple[list[tuple[str, float]], int, int]:
        """(predictions with the second opinion applied, documents asked, labels changed)."""
        out, asked, changed = list(predictions), 0, 0
        for i, (text, (lang, score)) in enumerate(zip(texts, predictions, strict=True)):
            if not text or not self.needed(lang, score):
                continue
            group = self._group_of.get(lang)
            detector = self._detector(group)
            if detector is None:
                continue
            asked += 1
            values = detector.compute_language_confidence_values(text)
            if not values:
                continue
            best = values[0]
            if group is None and best.value < self.accept:
                continue  # lingua is unsure too: lid.176's label stays
            new = lingua_code(best.language)
            if new != lang:
                changed += 1
            out[i] = (new, float(best.value))
        return out, asked, changed
