"""Language-ID accuracy on lingua's labelled sentences, and the lang_id stage's speed.

Accuracy
    ``../shared/data/langid/lingua/sentences/<iso639-1>.txt``: real web sentences, one a line,
    labelled by file name (75 languages, up to 500 each; ja and zh have fewer). Each line is
    predicted alone (top 1) with ``curate.langid.LanguageIdentifier`` and counted correct when its
    ``lang`` equals the file's language under our convention (``LINGUA_TO_LANG``: the same code,
    except Norwegian Bokmål ``nb``, which lid.176 reports as ``no``). Exact match only: ``sh``/``hbs``
    is wrong for ``bs``/``hr``/``sr``, ``nn`` wrong for ``nb``. The headline is the mean of the
    per-language accuracies over the languages lid.176 knows; the eight lingua languages it has no
    label for (``LINGUA_UNKNOWN``: Ganda, Maori, Shona, Sotho, Tswana, Tsonga, Xhosa, Zulu) are
    excluded (every prediction on them is necessarily wrong). Macro-F1 over the same languages and
    the commonest confusions are reported too.

Speed
    ``bench_langid(texts, repeats)`` runs the real stage (``LangId.process``) on Arrow batches of
    the texts, as the pipeline would, and reports documents and characters per CPU-second of the
    calling thread (fastText predicts on the calling thread; CPU time keeps other load on a shared
    machine out of it) and per wall second, best of ``repeats``. ``max_chars_effect`` measures what
    a ``max_chars`` cap changes: agreement with the uncapped prediction, and speed.

``python -m evals.langid [--shared DIR] [--bench-pages N]`` prints the per-language table and,
with ``--bench-pages``, the speed on the extracted text of the sample corpus (its ground-truth
``main_text``).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from curate.langid import CODES, DEFAULT_MAX_CHARS, LanguageIdentifier
from evals.shared import SHARED

DEFAULT_SHARED = SHARED
LINGUA_SENTENCES = Path("data", "langid", "lingua", "sentences")

# lingua's 75 languages (file names, ISO 639-1).
LINGUA_LANGUAGES: tuple[str, ...] = tuple(
    """af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gu he hi hr hu hy id is it ja ka kk
    ko la lg lt lv mi mk mn mr ms nb nl nn pa pl pt ro ru sk sl sn so sq sr st sv sw ta te th tl tn tr ts
    uk ur vi xh yo zh zu""".split()
)
# lingua languages lid.176 has no label for: Ganda, Maori, Shona, Southern Sotho, Tswana, Tsonga, Xhosa, Zulu.
LINGUA_UNKNOWN: tuple[str, ...] = ("lg", "mi", "sn", "st", "tn", "ts", "xh", "zu")
# lingua file name -> the ``lang`` a correct prediction has.
LINGUA_TO_LANG: dict[str, str] = {code: ("no" if code == "nb" else code) for code in LINGUA_LANGUAGES if code not in LINGUA_UNKNOWN}
assert set(LINGUA_TO_LANG.values()) <= CODES


def load_lingua(folder: Path, languages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """lingua file code -> its non-empty lines (one sample each)."""
    folder = Path(folder)
    languages = languages if languages is not None else sorted(LINGUA_TO_LANG)
    out = {}
    for code in languages:
        lines = (folder / f"{code}.txt").read_text(encoding="utf-8").split("\n")
        out[code] = [line.strip() for line in lines if line.strip()]
    return out


def lingua_accuracy(folder: Path, identifier: LanguageIdentifier | None = None, languages: Sequence[str] | None = None) -> dict:
    """Per-language accuracy (and macro-F1) of ``identifier`` on lingua's sentences in ``folder``.

    Returns ``{"per_language": {code: {"expected", "n", "correct", "accuracy", "f1",
    "confusions": [(lang, n), ...]}}, "mean_accuracy", "macro_f1", "sentences", "seconds",
    "excluded": LINGUA_UNKNOWN}``.
    """
    identifier = identifier if identifier is not None else LanguageIdentifier()
    data = load_lingua(folder, languages)
    per_language, predicted_as = {}, Counter()
    seconds = 0.0
    for code, lines in data.items():
        expected = LINGUA_TO_LANG[code]
        start = time.perf_counter()
        predictions = [lang for lang, _ in identifier.predict(lines)]
        seconds += time.perf_counter() - start
        predicted_as.update(predictions)
        correct = sum(lang == expected for lang in predictions)
        per_language[code] = {
            "expected": expected,
            "n": len(lines),
            "correct": correct,
            "accuracy": correct / len(lines) if lines else 0.0,
            "confusions": Counter(lang for lang in predictions if lang != expected).most_common(3),
        }
    for row in per_language.values():
        # Precision of the expected label over every sentence of the set predicted as it.
        precision = row["correct"] / predicted_as[row["expected"]] if predicted_as[row["expected"]] else 0.0
        recall = row["accuracy"]
        row["f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(per_language)
    return {
        "per_language": per_language,
        "mean_accuracy": sum(r["accuracy"] for r in per_language.values()) / n if n else 0.0,
        "macro_f1": sum(r["f1"] for r in per_language.values()) / n if n else 0.0,
        "sentences": sum(r["n"] for r in per_language.values()),
        "seconds": seconds,
        "excluded": LINGUA_UNKNOWN,
        "model": identifier.model_path,
    }


def predictor(second_opinion: bool = True, identifier: LanguageIdentifier | None = None):
    """``predict(texts) -> [(lang, score)]`` as the lang_id stage labels (lid.176, then lingua's
    second opinion where the stage would ask it); also returns how many texts lingua was asked."""
    from curate.langid import prepare
    from curate.langid_second import SecondOpinion

    identifier = identifier if identifier is not None else LanguageIdentifier()
    second = SecondOpinion(frozenset(identifier.labels)) if second_opinion else None
    asked = [0]

    def predict(texts: Sequence[str]) -> list[tuple[str, float]]:
        lines = [prepare(t, identifier.max_chars) for t in texts]
        predictions = identifier.predict_lines(lines)
        if second is not None:
            predictions, n, _ = second.revise(lines, predictions)
            asked[0] += n
        return predictions

    predict.asked = asked
    return predict


def _scored(per_language: dict[str, list[tuple[str, str]]]) -> dict:
    """{code: [(expected, predicted), ...]} -> per-language accuracy, mean, worst."""
    rows = {}
    for code, pairs in per_language.items():
        if not pairs:  # e.g. a UDHR file of three lines holds no six-line document: no score, not a zero
            continue
        correct = sum(e == p for e, p in pairs)
        rows[code] = {"n": len(pairs), "accuracy": correct / len(pairs),
                      "confusions": Counter(p for e, p in pairs if e != p).most_common(3)}
    n = len(rows)
    return {"per_language": rows, "mean_accuracy": sum(r["accuracy"] for r in rows.values()) / n if n else 0.0,
            "documents": sum(r["n"] for r in rows.values())}


def lingua_documents_accuracy(folder: Path, predict, sentences_per_document: int = 6) -> dict:
    """Accuracy on documents of ``sentences_per_document`` consecutive lingua sentences (joined by
    spaces; the remainder that does not fill a document is left out), per language, with the CPU
    seconds of ``predict``."""
    data = load_lingua(folder)
    pairs, seconds = {}, 0.0
    for code, lines in data.items():
        n = sentences_per_document
        docs = [" ".join(lines[i:i + n]) for i in range(0, len(lines) - n + 1, n)]
        started = time.process_time()
        predicted = [lang for lang, _ in predict(docs)]
        seconds += time.process_time() - started
        pairs[code] = [(LINGUA_TO_LANG[code], p) for p in predicted]
    result = _scored(pairs)
    result["cpu_seconds"] = seconds
    result["sentences_per_document"] = sentences_per_document
    return result


UDHR_TEXTS = Path("data", "langid", "udhr", "udhr2")
# UDHR file names whose ISO 639-3 code langcodes does not fold into lid.176's code
_UDHR_FIXES = {"nb": "no", "mly": "ms", "zlm": "ms"}


def udhr_code(stem: str) -> str | None:
    """``deu_1901`` -> de, ``cmn_hans`` -> zh, ``nob`` -> no: the lang of a UDHR file (None when unlabelled)."""
    import langcodes

    base = stem.split("_", 1)[0]
    if not base.isalpha():
        return None  # 007.txt ... 011.txt: unknown varieties
    code = langcodes.standardize_tag(base, macro=True)
    return _UDHR_FIXES.get(code, code)


def udhr_accuracy(folder: Path, predict, lines_per_document: int = 6) -> dict:
    """Accuracy on the UDHR translations of the languages lid.176 labels: documents of
    ``lines_per_document`` consecutive non-empty lines (an article or two), per language (several
    files of one language, e.g. two scripts, pool their documents)."""
    pairs: dict[str, list] = {}
    per_file: dict[str, dict] = {}
    seconds = 0.0
    for path in sorted(Path(folder).glob("*.txt")):
        code = udhr_code(path.stem)
        if code is None or code not in CODES:
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        n = lines_per_document
        docs = [" ".join(lines[i:i + n]) for i in range(0, len(lines) - n + 1, n)]
        started = time.process_time()
        predicted = [lang for lang, _ in predict(docs)]
        seconds += time.process_time() - started
        pairs.setdefault(code, []).extend((code, p) for p in predicted)
        if docs:  # per file too: a language's scripts differ (Cyrillic Uzbek, Arabic-script Malay)
            per_file[path.stem] = {"lang": code, "n": len(docs), "accuracy": sum(p == code for p in predicted) / len(docs)}
    result = _scored(pairs)
    result["per_file"] = per_file
    result["cpu_seconds"] = seconds
    return result


def _batches(texts: Sequence[str], batch_size: int) -> list[pa.Table]:
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        ids = [str(start + i) for i in range(len(chunk))]
        out.append(pa.table({"id": ids, "url": [f"http://bench.invalid/{i}" for i in ids], "text": pa.array(chunk, pa.string())}))
    return out


def bench_langid(texts: Sequence[str], repeats: int = 3, *, batch_size: int = 1000, max_chars: int | None = DEFAULT_MAX_CHARS,
                 model_path: str | None = None) -> dict:
    """Speed of the lang_id stage on ``texts`` on one core: best of ``repeats`` passes.

    Returns documents, characters (of the input and as read by the model), ``docs_per_cpu_s``,
    ``chars_per_cpu_s``, ``docs_per_wall_s``, ``setup_s`` (model load) and the language counts.
    """
    from curate.stages.lang_id import LangId, LangIdParams

    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    stage = LangId(LangIdParams(model_path=model_path, max_chars=max_chars))
    start = time.perf_counter()
    stage.ensure_setup()
    setup_s = time.perf_counter() - start
    batches = _batches(texts, batch_size)
    best_cpu = best_wall = float("inf")
    counters: dict[str, float] = {}
    for _ in range(repeats):
        counters = Counter()
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for batch in batches:
            counters.update(stage.process(batch).counters)
        best_cpu = min(best_cpu, time.thread_time() - cpu0)
        best_wall = min(best_wall, time.perf_counter() - wall0)
    documents = len(texts)
    chars_in = sum(len(t or "") for t in texts)
    chars_scanned = int(counters.get("chars_scanned", 0))
    languages = {k[len("lang_"):]: int(v) for k, v in sorted(counters.items(), key=lambda kv: -kv[1]) if k.startswith("lang_")}
    return {
        "documents": documents,
        "chars": chars_in,
        "chars_scanned": chars_scanned,
        "max_chars": max_chars,
        "repeats": repeats,
        "batch_size": batch_size,
        "cpu_s": best_cpu,
        "wall_s": best_wall,
        "docs_per_cpu_s": documents / best_cpu if best_cpu > 0 else float("inf"),
        "chars_per_cpu_s": chars_scanned / best_cpu if best_cpu > 0 else float("inf"),
        "docs_per_wall_s": documents / best_wall if best_wall > 0 else float("inf"),
        "setup_s": setup_s,
        "languages": languages,
    }


def max_chars_effect(texts: Sequence[str], caps: Sequence[int | None], identifier: LanguageIdentifier | None = None) -> list[dict]:
    """For each cap: how many predictions differ from reading the whole text, and the speed."""
    identifier = identifier if identifier is not None else LanguageIdentifier(max_chars=None)
    model_path = identifier.model_path

    def run(cap):
        li = identifier if cap == identifier.max_chars else LanguageIdentifier(model_path, max_chars=cap)
        cpu0 = time.thread_time()
        out = li.predict(texts)
        return out, time.thread_time() - cpu0

    reference, _ = run(None)
    rows = []
    for cap in caps:
        predictions, cpu = run(cap)
        changed = sum(a[0] != b[0] for a, b in zip(predictions, reference, strict=True))
        rows.append({
            "max_chars": cap,
            "changed": changed,
            "changed_rate": changed / len(texts) if texts else 0.0,
            "docs_per_cpu_s": len(texts) / cpu if cpu > 0 else float("inf"),
            "mean_score_delta": sum(a[1] - b[1] for a, b in zip(predictions, reference, strict=True)) / len(texts) if texts else 0.0,
        })
    return rows


def sample_texts(pages: int = 3000, seed: int = 0, out_dir: Path | None = None) -> list[str]:
    """The sample corpus's extracted main texts (ground truth), non-empty ones."""
    from curate.sample import generate_sample_corpus, read_ground_truth

    def texts_in(root: Path) -> list[str]:
        generate_sample_corpus(root, seed=seed, pages=pages)
        return [row["main_text"] for row in read_ground_truth(root) if row.get("main_text")]

    if out_dir is not None:
        return texts_in(Path(out_dir))
    with tempfile.TemporaryDirectory(prefix="langid_bench_") as tmp:
        return texts_in(Path(tmp))


def _print_accuracy(result: dict) -> None:
    rows = sorted(result["per_language"].items(), key=lambda kv: kv[1]["accuracy"])
    print(f"{'lingua':<7}{'lang':<6}{'n':>5}{'acc':>8}{'f1':>8}  confusions")
    for code, r in rows:
        confusions = ", ".join(f"{lang}:{n}" for lang, n in r["confusions"])
        print(f"{code:<7}{r['expected']:<6}{r['n']:>5}{r['accuracy']:>8.3f}{r['f1']:>8.3f}  {confusions}")
    print(f"\n{len(rows)} languages, {result['sentences']} sentences in {result['seconds']:.2f}s; "
          f"mean accuracy {result['mean_accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}")
    print(f"excluded (no lid.176 label): {' '.join(result['excluded'])}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the ../shared folder")
    parser.add_argument("--model", default=None, help="fastText model file (default: bundled lid.176.ftz)")
    parser.add_argument("--bench-pages", type=int, default=0, help="also time the stage on this many sample-corpus pages")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    folder = args.shared / LINGUA_SENTENCES
    if folder.is_dir():
        _print_accuracy(lingua_accuracy(folder, LanguageIdentifier(args.model)))
    else:
        print(f"{folder} missing: no accuracy figures")
    if args.bench_pages:
        texts = sample_texts(args.bench_pages)
        result = bench_langid(texts, args.repeats, model_path=args.model)
        print(f"\nlang_id stage, {result['documents']} sample documents ({result['chars'] / result['documents']:.0f} chars mean): "
              f"{result['docs_per_cpu_s']:.0f} docs/CPU-s, {result['chars_per_cpu_s'] / 1e6:.2f} M chars/CPU-s, "
              f"{result['docs_per_wall_s']:.0f} docs/wall-s; model load {result['setup_s']:.2f}s")
        print("languages:", ", ".join(f"{k}={v}" for k, v in result["languages"].items()))


if __name__ == "__main__":
    main()
