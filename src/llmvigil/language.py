"""Language of prompts and responses, offline and vectorised.

Interface used by the feature step (keep it when replacing the detector):
  register(con)  -> defines the `lv_lang` macro and its Python UDF on a DuckDB connection
  select_sql(prompt, response) -> SQL fragment producing `prompt_lang` and `response_lang`
                    (ISO 639-1 code, or NULL when the text is too short to tell)
  detect(texts)  -> the same results as the SQL path, for Python callers and tests

How it works. The model is py3langid's (a naive Bayes over byte n-grams for 142 languages, about
4.5 MB, shipped inside the wheel: nothing is downloaded). py3langid itself scores one text at a
time in a Python loop (about 11,000 texts/s here); this module runs the same model over a whole
DuckDB vector at once with numpy, on the Arrow buffers of the texts: py3langid's byte automaton is
an Aho-Corasick automaton of n-grams of at most _CONTEXT bytes, so the n-gram it emits at a byte
depends on the last _CONTEXT bytes only, and every byte of every text is stepped at once; counts of
(text, n-gram) are scored with one sparse matrix product. Each distinct text of a vector is scored
once, and recent texts are remembered (templated answers repeat a lot).
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
is loaded once per process on first use: its arrays (about 135 MB) are derived from py3langid's file
once (about 1 s) and kept in llmvigil's cache folder (see llmvigil.cache), from where later
processes map them in a few milliseconds.
"""

from __future__ import annotations

import os
import shutil
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path

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
_CONTEXT = 6          # bytes of the longest n-gram of the model: they fix the automaton's state
_CHUNK = 8192         # texts scored at once (bounds memory; keeps (feature, text) keys in int32)
_CACHE_SIZE = 1 << 15  # distinct texts remembered between vectors, per generation (two of them)

# model labels without an ISO 639-1 code of their own that have a macrolanguage with one;
# other three-letter labels (e.g. 'ext', 'lij', 'kab') are returned as they are.
_LABEL_TO_CODE = {
    "ary": "ar", "arz": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "nn": "no", "gug": "gn",
    "hbo": "he", "grc": "el", "ltg": "lv", "sdh": "ku", "fuv": "ff", "kik": "ki",
}
_NO_LANGUAGE = "zxx"


class _Model:
    """py3langid's model, rearranged for batch scoring, and the texts seen last."""

    def __init__(self) -> None:
        import numpy as np
        import pyarrow as pa

        arrays = _load_arrays()
        self.step, self.emit, self.pair, self.table = (arrays[k] for k in ("step", "emit", "pair", "table"))
        self.start = int(arrays["start"][0])
        self.classes = [str(c) for c in arrays["classes"]]
        nb_pc = arrays["nb_pc"]
        self.log1p = np.log1p(np.arange(1 << 16, dtype=np.float32))  # weight of a feature count
        self.prior = np.asarray(nb_pc, dtype=np.float32) + np.array(
            [FOCUS_PRIOR if c in FOCUS else MINOR_PRIOR if c in MINOR else 0.0 for c in self.classes],
            dtype=np.float32)
        self.codes = [None if c == _NO_LANGUAGE else _LABEL_TO_CODE.get(c, c) for c in self.classes]
        self.code_array = pa.array(self.codes, type=pa.string())
        first: dict[str, int] = {}  # a label with two columns (scripts of 'sr', 'uz'): keep the max
        self.aliases: list[tuple[int, int]] = []
        for i, c in enumerate(self.classes):
            if c in first:
                self.aliases.append((first[c], i))
            else:
                first[c] = i
        letter = np.zeros(256, np.uint64)  # ASCII letters and lead bytes of non-ASCII letters
        letter[ord("A"):ord("Z") + 1] = 1
        letter[ord("a"):ord("z") + 1] = 1
        letter[0xC3:0xF0] = 1
        letter[0xE2] = 0  # U+2000-U+2FFF: punctuation, symbols, arrows
        # What _encode counts per byte, in four 16-bit fields, indexed by previous byte << 8 |
        # byte: letters (as above); bytes of characters beyond U+00FF (lead byte 0xC4 or more);
        # Latin-1 characters that Python's str.isupper, and str.islower, take for upper, and
        # lower, case (an ASCII byte, or the second byte of a character with lead 0xC2 or 0xC3).
        prev, byte = np.divmod(np.arange(1 << 16), 256)
        code = np.where(byte < 0x80, byte, 256)
        latin = (byte >= 0x80) & (byte < 0xC0) & ((prev == 0xC2) | (prev == 0xC3))
        code[latin] = (prev[latin] & 0x1F) << 6 | (byte[latin] & 0x3F)
        upper = np.array([chr(c).isupper() for c in range(256)] + [False], np.uint64)[code]
        lower = np.array([chr(c).islower() for c in range(256)] + [False], np.uint64)[code]
        self.counted = letter[byte] | (byte >= 0xC4).astype(np.uint64) << 16 | upper << 32 | lower << 48
        # label of texts seen last (text cut to MAX_CHARS -> column in `classes`, -1: none), in
        # two generations: a text found in the older one moves to the recent one; when the recent
        # one is full it becomes the older one (and the older one is dropped)
        self.recent: dict[str, int] = {}
        self.older: dict[str, int] = {}

    def detect_arrow(self, arr):
        """Language code of each string of `arr` (an Arrow string array already cut to MAX_CHARS
        characters; null gives null). Each distinct text is looked up once."""
        import pyarrow as pa

        encoded = arr.dictionary_encode()
        distinct = encoded.dictionary
        if _CACHE_SIZE:
            label = self._remembered_labels(distinct)
        else:
            label = self._labels(distinct)
        label = pa.array(label, mask=label < 0)
        return self.code_array.take(label.take(encoded.indices))

    def _remembered_labels(self, distinct):
        import numpy as np

        texts = distinct.to_pylist()
        recent, older = self.recent, self.older
        unknown = -2
        label = np.fromiter((recent.get(t, unknown) for t in texts), np.int32, len(texts))
        todo = np.flatnonzero(label == unknown)
        if len(todo) and older:
            found = np.fromiter((older.get(texts[i], unknown) for i in todo), np.int32, len(todo))
            label[todo] = found
            recent.update(zip([texts[i] for i in todo[found != unknown]], found[found != unknown].tolist()))
            todo = todo[found == unknown]
        if len(todo):
            import pyarrow as pa

            new = self._labels(distinct.take(pa.array(todo)))
            label[todo] = new
            if len(recent) + len(todo) > _CACHE_SIZE:
                self.older, self.recent = recent, {}
                recent = self.recent
            recent.update(zip([texts[i] for i in todo], new.tolist()))
        return label

    def _labels(self, arr):
        """Column in `classes` of the language of each string of `arr` (no nulls), -1 for none."""
        import numpy as np

        if len(arr) > _CHUNK:
            return np.concatenate([self._labels(arr.slice(lo, _CHUNK)) for lo in range(0, len(arr), _CHUNK)])
        scores, nbytes, letters, has_feature = self._score(*self._encode(arr))
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
        return np.where(keep, best, -1).astype(np.int32)

    def raw_scores(self, texts: list[str]):
        """py3langid's raw naive-Bayes scores (before our prior), byte lengths, letter counts and
        whether any n-gram of the model occurs, one row per text (cut to MAX_CHARS characters)."""
        import pyarrow as pa

        return self._score(*self._encode(_cut(pa.array(texts, type=pa.string()))))

    def ngram_counts(self, texts: list[str]) -> list[dict[int, int]]:
        """Count of each n-gram feature (py3langid's index) in each text (cut to MAX_CHARS)."""
        import pyarrow as pa

        data, pairs, starts, lens, letters, owner, runs = self._encode(_cut(pa.array(texts, type=pa.string())))
        text, column, counts = self._counts(self._features(data, pairs, starts, lens), len(texts), owner, runs)
        out: list[dict[int, int]] = [{} for _ in texts]
        for t, c, k in zip(text.tolist(), column.tolist(), counts.tolist()):
            out[t][c - 1] = k
        return out

    def _encode(self, arr):
        """py3langid's text preparation of each string of `arr` (no nulls), as UTF-8 in one byte
        buffer. Returns the buffer, its byte pairs (_pairs), the start and length of each text in
        it, the letters of each text, and which text owns each run of the buffer's bytes (len(arr):
        none) with the runs' lengths."""
        import numpy as np

        n = len(arr)
        offsets = np.frombuffer(arr.buffers()[1], np.int32, n + 1, arr.offset * 4)
        base, end = int(offsets[0]), int(offsets[-1])
        data = (np.frombuffer(arr.buffers()[2], np.uint8, end - base, base) if end > base
                else np.zeros(0, np.uint8))
        starts, lens = (offsets[:-1] - base).astype(np.int64), np.diff(offsets).astype(np.int64)
        pairs = _pairs(data)
        counts = _segment_sums(self.counted[pairs[:-1]], starts, lens)  # fields < 2**16 (short texts)
        letters = (counts & 0xFFFF).astype(np.int64)
        beyond, upper, lower = counts >> 16 & 0xFFFF, counts >> 32 & 0xFFFF, counts >> 48
        owner, runs = np.arange(n), lens
        # Text of Latin-1 characters only is already NFC, and changes only when all its cased
        # characters are upper case. The other texts (other scripts, typographic quotes, emoji)
        # and the all-caps ones go through _normalise: their new bytes are appended to the
        # buffer, and their old bytes are left to no text.
        slow = np.flatnonzero((beyond > 0) | ((upper > 0) & (lower == 0)))
        if len(slow):
            import pyarrow as pa

            encoded = [_normalise(t) for t in arr.take(pa.array(slow)).to_pylist()]
            extra = np.frombuffer(b"".join(encoded), np.uint8)
            new_lens = np.fromiter(map(len, encoded), np.int64, len(encoded))
            new_starts = np.cumsum(new_lens) - new_lens
            owner = owner.copy()
            owner[slow] = n
            owner = np.concatenate([owner, slow])
            runs = np.concatenate([lens, new_lens])
            starts, lens = starts.copy(), lens.copy()
            starts[slow] = len(data) + new_starts
            lens[slow] = new_lens
            extra_pairs = _pairs(extra)
            letters[slow] = _segment_sums(self.counted[extra_pairs[:-1]], new_starts, new_lens) & 0xFFFF
            pairs = np.concatenate([pairs[:-1], extra_pairs])
            if len(data):
                pairs[len(data)] |= np.uint16(data[-1]) << np.uint16(8)
            data = np.concatenate([data, extra])
        return data, pairs, starts, lens, letters, owner, runs

    def _features(self, data, pairs, starts, lens):
        """The n-gram feature (0: none) the automaton emits at each byte of each text."""
        import numpy as np

        size, w = len(data), _CONTEXT
        step, emit = self.step, self.emit
        # The automaton is Aho-Corasick's for n-grams of at most _CONTEXT bytes (tests check):
        # its state after a byte depends only on the last _CONTEXT bytes. So every byte's feature
        # comes from its window, all bytes at once (the window's first two bytes through `pair`) ...
        feature = np.zeros(size, np.int32)
        if size >= w:
            base = self.pair[pairs[1: size - w + 2]]
            for j in range(2, w - 1):
                base += data[j: size - w + 1 + j]
                base = step[base]
            base += data[w - 1:]
            feature[w - 1:] = emit[base]
        # ... except for the first _CONTEXT - 1 bytes of each text (their window would reach into
        # the bytes before the text): those are walked from the start state, all texts at once.
        base = np.full(len(starts), self.start, np.int32)
        for k in range(w - 1):
            on = np.flatnonzero(lens > k)
            if not len(on):
                break
            at = base[on] + data[starts[on] + k]
            feature[starts[on] + k] = emit[at]
            base[on] = step[at]
        return feature

    def _counts(self, feature, n, owner, runs):
        """(text, feature, count) of each feature found in each of the n texts, by feature then
        text. Bytes owned by text n (bytes of no text) are left out."""
        import numpy as np

        bits = n.bit_length()
        wide = (int(self.table.shape[0]) << bits) >= 1 << 31
        key = feature.astype(np.int64) if wide else feature.copy()
        key <<= bits
        key |= np.repeat(owner.astype(key.dtype), runs)
        key.sort()
        key = key[np.searchsorted(key, 1 << bits):]  # feature 0: none
        new = np.ones(len(key), bool)
        np.not_equal(key[1:], key[:-1], out=new[1:])
        first = np.flatnonzero(new)
        counts = np.diff(first, append=len(key))
        key = key[first]
        column, text = key >> bits, key & ((1 << bits) - 1)
        keep = text < n
        return text[keep], column[keep], counts[keep]

    def _score(self, data, pairs, starts, lens, letters, owner, runs):
        import numpy as np
        import scipy.sparse as sp

        n, ncols = len(starts), self.table.shape[0]
        text, column, counts = self._counts(self._features(data, pairs, starts, lens), n, owner, runs)
        has_feature = np.zeros(n, bool)
        has_feature[text] = True
        indptr = np.zeros(ncols + 1, np.int64)
        np.cumsum(np.bincount(column, minlength=ncols), out=indptr[1:])
        # weights log1p(count) in float32 as py3langid's; one column per feature, so that the
        # product reads each row of the table once and adds a text's features in feature order
        weights = sp.csc_matrix((self.log1p[counts], text, indptr), shape=(n, ncols))
        return np.asarray(weights @ self.table), lens, letters, has_feature


# Version of the arrays _derive_arrays makes: bump it when their meaning changes, and older cached
# copies are ignored.
_ARRAYS_VERSION = 1
_ARRAY_NAMES = ("step", "emit", "pair", "table", "start", "nb_pc", "classes")


def _derive_arrays() -> dict:
    """py3langid's model, rearranged for batch scoring (about 1 s of work: the model file is
    xz-compressed and the automaton is rebuilt for one lookup a step)."""
    import numpy as np
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE)
    # py3langid's byte automaton: next state = nextmove[rowbase[state] + byte], and each state
    # emits at most one n-gram feature (out + 1 here; 0 = none). Rearranged so that one step
    # is one lookup: at base + byte (base: the state's row of moves, rows shared between
    # states with the same moves), `step` holds the next state's base and `emit` its feature.
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=_uint_dtype(ident.tk_nextmove))
    rowbase = (np.asarray(ident.tk_row, dtype=np.int64) << 8).astype(np.int32)
    feature = (np.asarray(ident.tk_output, dtype=np.int64) + 1).astype(np.int32)
    step = rowbase[nextmove]
    start = int(rowbase[0])
    # base after two bytes read from the start, indexed by byte1 << 8 | byte2
    pair = step[step[start + np.arange(256)][:, None] + np.arange(256)].ravel()
    ptc = np.asarray(ident.nb_ptc, dtype=np.float32)
    return {
        "step": step, "emit": feature[nextmove], "pair": pair,
        "table": np.vstack([np.zeros((1, ptc.shape[1]), np.float32), ptc]),  # row 0: no feature
        "start": np.array([start], np.int64), "nb_pc": np.asarray(ident.nb_pc, dtype=np.float32),
        "classes": np.array(list(ident.nb_classes), dtype="U8"),
    }


def _arrays_key() -> str:
    """What the derived arrays depend on: the content of py3langid's model file (hashed, ~10 ms:
    every virtual environment with the same model shares one cache entry) and _ARRAYS_VERSION."""
    import hashlib

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from llmvigil import cache

    model_file = Path(MODEL_FILE)
    if not model_file.is_absolute():  # resolved the way py3langid's from_model_file does
        model_file = MODEL_DIR / model_file
    return cache.key_of(_ARRAYS_VERSION, hashlib.sha256(model_file.read_bytes()).hexdigest())


def _load_arrays() -> dict:
    """The derived arrays, memory-mapped from the cache (written on first use, atomically: a folder
    renamed into place when complete; then the entries no process read for cache.STALE_DAYS go).
    Without a writable cache they are derived in memory."""
    import numpy as np

    from llmvigil import cache

    try:
        folder = cache.cache_dir() / f"langid-{_arrays_key()}"
    except (OSError, RuntimeError):  # RuntimeError: no home folder to find
        return _derive_arrays()
    try:
        if folder.is_dir():
            arrays = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in _ARRAY_NAMES}
            cache.touch(folder)
            return arrays
    except (OSError, ValueError):  # incomplete or damaged: derive again and replace it
        pass
    arrays = _derive_arrays()
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for k in _ARRAY_NAMES:
            np.save(tmp / f"{k}.npy", arrays[k])
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    except OSError:  # read-only home, full disk, or another process won the rename: fine either way
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        cache.prune(folder.parent, "langid-", folder)  # entries of models no process used lately
    return arrays


def _uint_dtype(arr) -> str:
    return {2: "uint16", 4: "uint32", 8: "uint64"}[arr.itemsize]


def _segment_sums(values, starts, lens):
    """Sum of uint64 `values` over each [start, start + len) range (modulo 2**64)."""
    import numpy as np

    cum = np.zeros(len(values) + 1, np.uint64)
    np.cumsum(values, out=cum[1:])
    return cum[starts + lens] - cum[starts]


def _pairs(data):
    """Each byte of `data` with the one before it, as previous << 8 | byte, and a last entry for
    the end (last byte << 8)."""
    import numpy as np

    pairs = np.zeros(len(data) + 1, np.uint16)
    pairs[:-1] = data
    pairs[1:] |= data.astype(np.uint16) << 8
    return pairs


def _cut(arr):
    """The first MAX_CHARS characters of each string of `arr` (an Arrow string array)."""
    import pyarrow.compute as pc

    return pc.utf8_slice_codeunits(arr, 0, MAX_CHARS)


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

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())  # large_string, string_view: the scorer reads 32-bit offsets
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    # cut in Arrow before anything else: long responses cost nothing extra
    return _get_model().detect_arrow(_cut(arr))


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
