"""Language of prompts and responses, offline and vectorised.

Interface used by the feature step (keep it when replacing the detector):
  register(con)  -> defines the `lv_lang` macro and its Python UDF on a DuckDB connection
  select_sql(prompt, response) -> SQL fragment producing `prompt_lang` and `response_lang`
                    (ISO 639-1 code, or NULL when the text is too short to tell)
  detect(texts)  -> the same results as the SQL path, for Python callers and tests

How it works. The model is py3langid's (a naive Bayes over byte n-grams for 142 languages, about
4.5 MB, shipped inside the wheel: nothing is downloaded). py3langid itself scores one text at a
time in a Python loop (about 11,000 texts/s here); this module runs the same model over a whole
DuckDB vector at once with numpy: the byte-level automaton advances every text by one byte per
step, n-gram counts are collected in a CSR matrix and scored with one sparse matrix product.
The raw scores are exactly py3langid's (tests check this), then two decisions are ours:

* a prior: FOCUS_PRIOR nats for en, es and pt, the languages this tool is mostly used on, and
  MINOR_PRIOR for regional varieties and small languages (MINOR). It only changes the answer when
  the evidence is thin (a few words, typos, no accents), where the model alone takes Spanish for
  Extremaduran, Galician or Italian, Portuguese for Galician, English for Nigerian Pidgin; a
  sentence really written in another language still wins (tests check 40 of them, Galician and
  Catalan included);
* NULL when the text has fewer than MIN_LETTERS letters ("ok", "?", "12345", an emoji), when the
  best class is py3langid's `zxx` (no linguistic content: numbers, URLs), or when py3langid's
  calibrated confidence (softmax at temperature sqrt(bytes)) is below MIN_CONFIDENCE: identifiers,
  code and one-word interjections ("SKU-4432-AB", "SELECT * FROM t", "lol") fall there, while
  every real sentence of the tests, even three words long, scores 0.28 or more.

Only the first MAX_CHARS characters are read: language is settled long before that, and it keeps
every row's cost bounded.

Runs on numpy, pyarrow and scipy.sparse (scipy comes with evidently and great-expectations). The model
is loaded once per process on first use (about 1 s; about 100 MB of arrays).
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence

MAX_CHARS = 200
MIN_LETTERS = 3
MIN_CONFIDENCE = 0.15
FOCUS = ("en", "es", "pt")
FOCUS_PRIOR = 4.0    # nats added to the scores of FOCUS
MINOR_PRIOR = -4.0   # nats added to the scores of MINOR
# regional varieties and small languages (py3langid 0.4's additions to langid.py's 97) that win
# short en/es/pt texts by a few nats: 'ext', 'an', 'oc', 'lij', 'vec' over Spanish and Portuguese,
# 'pcm' over English. Text that really is in one of them still wins by far more.
MINOR = ("ace", "an", "ary", "arz", "ba", "bcl", "crh", "dz", "ext", "fo", "fuv", "gcf", "gcr", "gom",
         "grc", "gug", "guw", "hbo", "kab", "kik", "lb", "lij", "ltg", "mt", "nn", "nso", "oc", "pcm",
         "rw", "sdh", "se", "sn", "st", "tg", "tk", "tt", "uzs", "vec", "vo", "wa", "wuu", "yue")

_UDF = "lv_lang_udf"

# model labels without an ISO 639-1 code of their own that have a macrolanguage with one;
# other three-letter labels (e.g. 'ext', 'lij', 'kab') are returned as they are.
_LABEL_TO_CODE = {
    "ary": "ar", "arz": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "nn": "no", "gug": "gn",
    "hbo": "he", "grc": "el", "ltg": "lv", "sdh": "ku", "fuv": "ff", "kik": "ki",
}
_NO_LANGUAGE = "zxx"


class _Model:
    """py3langid's model, rearranged for batch scoring."""

    def __init__(self) -> None:
        import numpy as np
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE)
        # byte automaton: next state = nextmove[rowbase[state] + byte]; each state emits at most
        # one n-gram feature (out + 1, 0 = none)
        self.nextmove = np.frombuffer(ident.tk_nextmove, dtype=_uint_dtype(ident.tk_nextmove))
        self.rowbase = (np.asarray(ident.tk_row, dtype=np.int64) << 8).astype(np.int32)
        self.feature = (np.asarray(ident.tk_output, dtype=np.int64) + 1).astype(np.int32)
        ptc = np.asarray(ident.nb_ptc, dtype=np.float32)
        self.table = np.vstack([np.zeros((1, ptc.shape[1]), np.float32), ptc])  # row 0: no feature
        self.classes = list(ident.nb_classes)
        self.prior = np.asarray(ident.nb_pc, dtype=np.float32) + np.array(
            [FOCUS_PRIOR if c in FOCUS else MINOR_PRIOR if c in MINOR else 0.0 for c in self.classes],
            dtype=np.float32)
        self.codes = [None if c == _NO_LANGUAGE else _LABEL_TO_CODE.get(c, c) for c in self.classes]
        first: dict[str, int] = {}  # a label with two columns (scripts of 'sr', 'uz'): keep the max
        self.aliases: list[tuple[int, int]] = []
        for i, c in enumerate(self.classes):
            if c in first:
                self.aliases.append((first[c], i))
            else:
                first[c] = i
        letter = np.zeros(256, np.int32)  # ASCII letters and lead bytes of non-ASCII letters
        letter[ord("A"):ord("Z") + 1] = 1
        letter[ord("a"):ord("z") + 1] = 1
        letter[0xC3:0xF0] = 1
        letter[0xE2] = 0  # U+2000-U+2FFF: punctuation, symbols, arrows
        self.letter = letter

    def raw_scores(self, texts: list[str]):
        """py3langid's raw naive-Bayes scores (before our prior), byte lengths, letter counts and
        whether any n-gram of the model occurs, one row per text."""
        import numpy as np
        import scipy.sparse as sp

        encoded = [_normalise(t) for t in texts]
        n = len(encoded)
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        data = np.frombuffer(b"".join(encoded) + b"\0", dtype=np.uint8)
        starts = np.zeros(n, np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        order = np.argsort(-lens, kind="stable")  # longest first: active texts are a prefix
        slen, sstart = lens[order], starts[order]
        ostart = np.zeros(n + 1, np.int64)
        np.cumsum(slen, out=ostart[1:])
        total, maxlen = int(ostart[-1]), int(slen[0]) if n else 0
        active = np.searchsorted(-slen, -np.arange(1, maxlen + 1), side="right")
        features = np.empty(total, np.int32)
        nextmove, rowbase, feature = self.nextmove, self.rowbase, self.feature
        rb = np.full(n, rowbase[0], np.int32)  # all texts start in state 0; byte p of all at once
        for p in range(maxlen):
            k = active[p]
            state = nextmove[rb[:k] + data[sstart[:k] + p]]
            rb[:k] = rowbase[state]
            features[ostart[:k] + p] = feature[state]
        counts = sp.csr_matrix((np.ones(total, np.float32), features, ostart),
                               shape=(n, self.table.shape[0]))
        counts.sum_duplicates()
        seen = np.zeros(len(counts.indices) + 1, np.int64)
        np.cumsum(counts.indices > 0, out=seen[1:])
        has_feature = seen[counts.indptr[1:]] > seen[counts.indptr[:-1]]
        np.log1p(counts.data, out=counts.data)
        scores = np.asarray(counts @ self.table)
        cum = np.zeros(total + 1, np.int64)
        np.cumsum(self.letter[data[np.repeat(sstart - ostart[:-1], slen) + np.arange(total)]],
                  out=cum[1:])
        letters = cum[ostart[1:]] - cum[ostart[:-1]]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        return scores[inverse], lens, letters[inverse], has_feature[inverse]

    def detect(self, texts: list[str | None]) -> list[str | None]:
        result: list[str | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t]
        if not todo:
            return result
        import numpy as np

        scores, nbytes, letters, has_feature = self.raw_scores([texts[i] for i in todo])
        scores += self.prior
        for i, j in self.aliases:
            np.maximum(scores[:, i], scores[:, j], out=scores[:, i])
            scores[:, j] = -np.inf
        best = scores.argmax(axis=1)
        # py3langid's calibrated confidence: softmax at temperature sqrt(bytes)
        z = scores - scores[np.arange(len(best)), best][:, None]
        z /= np.sqrt(np.maximum(nbytes, 1))[:, None]
        confidence = 1.0 / np.exp(z).sum(axis=1)
        keep = has_feature & (letters >= MIN_LETTERS) & (confidence >= MIN_CONFIDENCE)
        codes = self.codes
        for i, b, ok in zip(todo, best.tolist(), keep.tolist()):
            if ok:
                result[i] = codes[b]
        return result


def _uint_dtype(arr) -> str:
    return {2: "uint16", 4: "uint32", 8: "uint64"}[arr.itemsize]


def _normalise(text: str) -> bytes:
    """py3langid's own text preparation (lower-case when all upper, NFC, UTF-8)."""
    text = text[:MAX_CHARS]
    if text.isupper():
        text = text.lower()
    if text.isascii():
        return text.encode("ascii")
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


_model: _Model | None = None
_model_lock = threading.Lock()


def _get_model() -> _Model:
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = _Model()
    return _model


def detect(texts: Sequence[str | None]) -> list[str | None]:
    """Language code of each text (None when too short or not language); same as the SQL path."""
    import pyarrow as pa

    return _detect_arrow(pa.array(list(texts), type=pa.string())).to_pylist()


def _detect_arrow(arr):
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())  # e.g. string_view, which Arrow's string kernels do not take
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    # cut in Arrow before making Python strings: long responses cost nothing extra
    texts = pc.utf8_slice_codeunits(arr, 0, MAX_CHARS).to_pylist()
    return pa.array(_get_model().detect(texts), type=pa.string())


def register(con) -> None:
    """Define `lv_lang(text)` (a temporary macro over a vectorised Python UDF) on `con`."""
    import duckdb

    try:
        con.remove_function(_UDF)
    except Exception:  # noqa: BLE001 - not registered yet on this connection
        pass
    con.create_function(_UDF, _detect_arrow, [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.VARCHAR,
                        type="arrow", null_handling="special", side_effects=False)
    con.execute(f"CREATE OR REPLACE TEMPORARY MACRO lv_lang(t) AS {_UDF}(t)")


def select_sql(prompt: str = "prompt", response: str = "response") -> str:
    return f"lv_lang({prompt}) AS prompt_lang, lv_lang({response}) AS response_lang"
