"""PII in responses: find it, count it per row in SQL, mask it for reports and alerts.

Interface used by the feature step and by reports/alerts (keep it when replacing the detector):
  register(con)  -> defines the `lv_pii` macro and its Python UDF on a DuckDB connection
  select_sql(response) -> SQL fragment producing `pii_count` (INTEGER) and `pii_types` (VARCHAR[],
                    sorted distinct kinds)
  find(text)     -> validated matches, as PiiMatch(kind, start, end, value)
  mask(text)     -> the text with every validated match replaced by [EMAIL], [PHONE], [CARD], [IBAN],
                    [DNI], [NIE], [CPF], [CURP] or [CEDULA]

Kinds and what makes a match (a candidate that fails its check is not PII and is left alone):
  email   local@domain.tld
  card    13-19 digits, bare or grouped 4-4-4-4(-3) / 4-6-5 / 4-6-4 with one kind of separator,
          first digit 2-6, Luhn-valid, not one repeated digit; bare digits right after an order,
          tracking or invoice word are not taken for a card unless a card word is nearer
  iban    ISO 13616: a registered country code, that country's length, mod-97 == 1; spaces allowed
  dni     Spanish DNI: 8 digits + the check letter (number mod 23)
  nie     X/Y/Z + 7 digits + the check letter
  cpf     Brazilian CPF, both check digits: 000.000.000-00 anywhere; bare or partly formatted
          only within 30 characters after the word "CPF"
  curp    Mexican CURP: the 18-character structure (name letters, a real birth date, H/M/X, a
          state code, consonants, century character, digit)
  cedula  Colombian cédula: 6-10 digits (or 1.234.567-style) right after "cédula", "C.C." or "CC"
  phone   international: +1 (NANP, 10 digits), +34 (9 digits from 6-9), +52 (10), +55 (area code +
          8 or 9 digits), +57 (10, or 8 in the old landline plan); 0034/0052/0055/0057 the same;
          any other +country code with 8-15 digits in all. National: the grouped shapes of those
          plans, e.g. (415) 555-0134, 612 34 56 78, (11) 91234-5678, 300 123 4567. Never taken
          for a phone: a shape-less run of digits (unless a phone word precedes it), a number
          after an order/tracking/invoice/ticket word or '#', a price (currency sign or code,
          decimals), a date, a number glued to letters (ORD-2024-...), or a digit group that
          continues into a longer number.

Speed: the SQL path runs a cheap RE2 prefilter (an '@', or 6+ characters of digits and
separators) and calls the Python validator only on rows that pass it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

KINDS = ("email", "phone", "card", "iban", "dni", "nie", "cpf", "curp", "cedula")
# when candidates overlap, the earlier kind wins (an IBAN's digits are not also a phone)
_PRIORITY = {k: i for i, k in enumerate(("email", "iban", "card", "cpf", "curp", "nie", "dni",
                                         "cedula", "phone"))}

_UDF = "lv_pii_udf"
# rows that cannot contain any kind: no '@' and no run of 6+ digits/separators starting and
# ending with a digit (NIE has 7 digits, the shortest cédula 6)
PREFILTER = r"@|[0-9][0-9 ().\-]{4,}[0-9]"


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    value: str


# ------------------------------------------------------------------------------------------------
# check digits
# ------------------------------------------------------------------------------------------------

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(iban: str) -> bool:
    """ISO 13616: registered country, its length, alphanumeric, mod-97 of the rearranged number is 1."""
    iban = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(number: str, letter: str) -> bool:
    return len(number) == 8 and number.isdigit() and _DNI_LETTERS[int(number) % 23] == letter.upper()


def nie_ok(prefix: str, number: str, letter: str) -> bool:
    return dni_ok(str("XYZ".index(prefix.upper())) + number, letter)


def cpf_ok(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit() or digits == digits[0] * 11:
        return False
    d = [int(c) for c in digits]
    for n in (9, 10):
        check = sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11 % 10
        if check != d[n]:
            return False
    return True


_CURP_STATES = ("AS|BC|BS|CC|CL|CM|CS|CH|DF|DG|GT|GR|HG|JC|MC|MN|MS|NT|NL|OC|PL|QT|QR|SP|SL|SR|TC|TS|"
                "TL|VZ|YN|ZS|NE")


def curp_ok(curp: str) -> bool:
    """The birth date (YYMMDD, century from the 17th character: digit 1900s, letter 2000s) is real."""
    yy, mm, dd = int(curp[4:6]), int(curp[6:8]), int(curp[8:10])
    year = (1900 if curp[16].isdigit() else 2000) + yy
    return 1 <= mm <= 12 and 1 <= dd <= calendar.monthrange(year, mm)[1]


# ------------------------------------------------------------------------------------------------
# patterns
# ------------------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

# not glued to a word, a sign or a longer number on either side
_LEFT = r"(?<![\w+.,/-])(?<![\w][.,/-])(?<!\d )"
_RIGHT = r"(?![\w/]|[.,/-]\d| \d)"

_CARD = re.compile(
    _LEFT + r"(?:\d{4}(?P<s>[ -]?)(?:\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{3})?|\d{6}(?P=s)\d{4,5})"
    r"|\d{13,19})" + _RIGHT)

_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")

_DNI = re.compile(r"(?<![\w.,/-])(\d{8}|\d{2}\.\d{3}\.\d{3})(?:([A-Z])|-?([A-Za-z]))(?!\w)|"
                  r"(?<![\w.,/-])(\d{8}|\d{2}\.\d{3}\.\d{3})[ -]([A-Z])(?!\w)")
_NIE = re.compile(r"(?<![\w.,/-])([XYZ])-?(\d{7})(?:-?([A-Z])|([a-z]))(?!\w)|"
                  r"(?<![\w.,/-])([XYZ])[ -](\d{7})[ -]([A-Z])(?!\w)")

_CPF_FORMATTED = re.compile(_LEFT + r"\d{3}\.\d{3}\.\d{3}-\d{2}" + r"(?![\w/]|[.,/-]\d)")
_CPF_LOOSE = re.compile(_LEFT + r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}" + r"(?![\w/]|[.,/-]\d)")
_CPF_WORD = re.compile(r"\bCPF\b", re.IGNORECASE)

_CURP = re.compile(
    r"(?<![A-Za-z0-9])[A-Z][AEIOUX][A-Z]{2}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[HMX]"
    rf"(?:{_CURP_STATES})[B-DF-HJ-NP-TV-Z]{{3}}[A-Z\d]\d(?![A-Za-z0-9])")

_CEDULA = re.compile(
    r"(?:\b(?i:c[ée]dula)(?:\s+(?i:de\s+(?:ciudadan[íi]a|extranjer[íi]a)))?|(?<!\w)(?i:c\.\s?c\.?)"
    r"|\bCC\b)"
    r"[^\d\n]{0,25}?"
    r"(?<![\w.,/-])(\d{1,3}(?:\.\d{3}){1,3}|\d{6,10})(?![\w/]|[.,/-]\d)")

_PHONE_INTL = re.compile(
    r"(?<![\w+])(?:\+ ?|00(?=34|52|55|57))"
    r"(\(?\d{1,5}\)?(?:(?:[ .-]|\) ?)?\(?\d{1,5}\)?){0,7})"
    r"(?![\w])")
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+.,/#$€£-])(?<![\w][.,/-])(?<!\d )"
    r"(1[ .-]\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}"
    r"|\(\d{2,3}\)[ .-]?\d{3,5}(?:[ .-]\d{2,4}){0,3}|\d{2,5}(?:[ .-]\d{2,5}){1,4}|\d{9,13})"
    r"(?![\w/]|[.,/-]\d)")

_PHONE_WORDS = re.compile(
    r"(?i:\b(?:phone|telephone|tel|tlf|tfno|teléfono|telefono|telefone|fone|móvil|movil|mobile|cell|"
    r"celular|cel|whats ?app|wa|sms|fax|call|ll[aá]m\w*|lig\w*|contact\w*|contat\w*|reach|número de contacto|"
    r"marca|marque|dial|línea|linha)\b)")
_ID_WORDS = re.compile(
    r"(?i:\b(?:order|orders|pedido|pedidos|orden|encomenda|tracking|track|rastreio|rastreamento|"
    r"seguimiento|guía|guia|invoice|factura|fatura|nota fiscal|nf|receipt|recibo|ref|reference|referencia|"
    r"referência|protocol|protocolo|ticket|chamado|incidencia|sku|id|código|codigo|"
    r"contrato|contract|serial|série|serie|lote|batch|n[º°o]\.?|no\.|núm\.?|num\.?)\b|#)")
_CARD_WORDS = re.compile(
    r"(?i:\b(?:card|tarjeta|cartão|cartao|visa|mastercard|master|amex|american express|elo|hipercard|"
    r"débito|debito|debit|crédito|credito|credit)\b)")
_CURRENCY_BEFORE = re.compile(r"(?i:(?:[$€£¥₹]|R\$|US\$|\b(?:usd|eur|mxn|brl|cop|gbp|ars|clp|pen))\s?)$")
_CURRENCY_AFTER = re.compile(
    r"(?i:^\s?(?:[$€£¥]|(?:usd|eur|mxn|brl|cop|gbp|euros?|d[óo]lares|dollars?|pesos|reais|reales)\b))")


def _nearest(rx: re.Pattern, text: str, end: int, window: int) -> int | None:
    """Distance from `end` back to the end of the last `rx` match within `window` characters."""
    best = None
    for m in rx.finditer(text, max(0, end - window), end):
        best = end - m.end()
    return best


def _id_context(text: str, start: int) -> bool:
    """An order/tracking/invoice word closer before `start` than any phone word."""
    idw = _nearest(_ID_WORDS, text, start, 30)
    if idw is None:
        return False
    ph = _nearest(_PHONE_WORDS, text, start, 30)
    return ph is None or idw < ph


def _phone_context(text: str, start: int) -> bool:
    ph = _nearest(_PHONE_WORDS, text, start, 30)
    if ph is None:
        return False
    idw = _nearest(_ID_WORDS, text, start, 30)
    return idw is None or ph <= idw


def _money_context(text: str, start: int, end: int) -> bool:
    return bool(_CURRENCY_BEFORE.search(text[max(0, start - 5):start])
                or _CURRENCY_AFTER.search(text[end:end + 10]))


# ------------------------------------------------------------------------------------------------
# phones
# ------------------------------------------------------------------------------------------------

def _nanp_ok(d: str) -> bool:
    return len(d) == 10 and d[0] in "23456789" and d[3] in "23456789"


def _national_ok(d: str, country: str) -> bool:
    if country == "1":  # after "+1" the area code alone is enough (555-01xx and 1xx exchanges too)
        return len(d) == 10 and d[0] in "23456789"
    if country == "34":
        return len(d) == 9 and d[0] in "6789"
    if country == "52":
        return len(d) == 10 and d[0] != "0" or len(d) == 11 and d[0] == "1"
    if country == "55":
        return (len(d) in (10, 11) and d[0] != "0" and d[1] != "0"
                and (len(d) == 10 and d[2] in "2345" or len(d) == 11 and d[2] == "9"))
    if country == "57":
        return len(d) == 10 and (d[0] == "3" or d[:2] == "60") or len(d) == 8 and d[0] in "12345678"
    return False


def _groups(s: str, offset: int) -> list[tuple[str, int]]:
    """Digit groups of a candidate with the absolute end offset of each."""
    return [(m.group(), offset + m.end()) for m in re.finditer(r"\d+", s)]


def _intl_phone(text: str, m: re.Match) -> tuple[int, int] | None:
    groups = _groups(m.group(1), m.start(1))
    if not groups:
        return None
    plus = text[m.start()] == "+"
    if not plus and _id_context(text, m.start()):
        return None  # "pedido 0034..." is an order number; "+34 ..." is always a phone
    # longest prefix of the digit groups that is a valid number (a phone may be followed by
    # an unrelated number: "+34 612 345 678 24 horas")
    for k in range(len(groups), 0, -1):
        digits = "".join(g for g, _ in groups[:k])
        if digits[0] == "0":
            return None
        for cc in ("1", "34", "52", "55", "57"):
            if digits.startswith(cc) and _national_ok(digits[len(cc):], cc):
                return m.start(), groups[k - 1][1]
        if (plus and 8 <= len(digits) <= 15 and not digits.startswith(("1", "34", "52", "55", "57"))
                and not digits.endswith("000000")):  # "+20 000 000" is an amount
            return m.start(), groups[k - 1][1]
    return None


_SHAPES_9 = {(3, 3, 3), (3, 2, 2, 2), (2, 3, 2, 2)}          # ES (6-9...) / PT (2.., 9..)
_SHAPES_10 = {(3, 3, 4), (2, 4, 4), (3, 7), (3, 3, 2, 2), (2, 2, 2, 2, 2)}   # NANP, MX, CO, BR landline
_SHAPES_11 = {(2, 5, 4), (2, 9), (2, 1, 4, 4)}               # BR mobile with area code


def _national_phone(text: str, m: re.Match) -> tuple[int, int] | None:
    cand = m.group(1)
    start = m.start(1)
    groups = _groups(cand, start)
    seps = set(re.sub(r"[\d()]", "", cand).replace(") ", ")").replace(")", ""))
    for k in range(len(groups), 0, -1):
        shape = tuple(len(g) for g, _ in groups[:k])
        digits = "".join(g for g, _ in groups[:k])
        end = groups[k - 1][1]
        if k < len(groups) and text[end] != " ":
            continue  # only a space may separate a phone from a following number
        if k == 1:
            ok = 9 <= len(digits) <= 13 and digits[0] != "0" and _phone_context(text, start)
        elif len(digits) == 9:
            if shape == (5, 4):            # BR mobile without area code: needs a phone word
                ok = digits[0] == "9" and _phone_context(text, start)
            else:
                ok = shape in _SHAPES_9 and digits[0] in "26789"
        elif len(digits) == 10:            # area code of 3 (NANP, MX, CO) or 2 digits (MX, BR)
            ok = shape in _SHAPES_10 and (digits[0] in "23456789" if shape[0] == 3
                                          else "0" not in (digits[0], digits[1], digits[2]))
        elif len(digits) == 11 and shape == (1, 3, 3, 4):      # 1-800-555-0199
            ok = digits[0] == "1" and _nanp_ok(digits[1:])
        elif len(digits) == 11:
            ok = shape in _SHAPES_11 and digits[0] != "0" and digits[2] == "9"
        else:
            ok = False
        if not ok:
            continue
        if "." in seps and not _phone_context(text, start) and shape[1:] == (3,) * (len(shape) - 1):
            return None  # 612.345.678 reads as 612,345,678 unless a phone word says otherwise
        if k > 1 and all(g == "000" for g, _ in groups[1:k]):
            return None  # 250 000 000
        return start, end
    return None


# ------------------------------------------------------------------------------------------------
# finding
# ------------------------------------------------------------------------------------------------

_RUN = re.compile(PREFILTER.split("|", 1)[1])
# a match reaches at most this far before / after the digit run it contains (IBAN country code
# and check digits, CURP letters, the "cédula" word; the NIE/DNI letter, CURP tail)
_BEFORE, _AFTER = 45, 30


_CURP_HINT = re.compile(r"[A-Z]{4}\d{6}")
_CEDULA_HINT = re.compile(r"(?i:dula|c\.\s?c)|CC")


def _segments(text: str) -> list[list[int]]:
    """Merged windows around each run of 6+ digits/separators (only there can a number kind
    match), with the most digits any run in the window has: [start, end, digits]."""
    out: list[list[int]] = []
    for m in _RUN.finditer(text):
        s, e = max(0, m.start() - _BEFORE), min(len(text), m.end() + _AFTER)
        digits = sum(c.isdigit() for c in m.group())
        if out and s <= out[-1][1]:
            out[-1][1] = e
            out[-1][2] = max(out[-1][2], digits)
        else:
            out.append([s, e, digits])
    return out


def _candidates(text: str):
    if "@" in text:
        for m in _EMAIL.finditer(text):
            local = m.group().split("@", 1)[0]
            if ".." not in local:
                yield "email", m.start(), m.end()
    for s, e, digits in _segments(text):
        yield from _number_candidates(text, s, e, digits)


def _number_candidates(text: str, s: int, e: int, most_digits: int):
    """Candidates inside text[s:e]; each finder runs only if the window can hold its kind."""
    window = text[s:e]
    for m in _IBAN_START.finditer(text, s, e):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        # take exactly `length` alphanumerics, allowing single spaces between them
        i, n, chars = m.start(), 0, []
        while i < len(text) and n < length:
            c = text[i]
            if c.isascii() and c.isalnum():
                chars.append(c)
                n += 1
            elif not (c == " " and n >= 4 and i + 1 < len(text) and text[i + 1].isalnum()):
                break
            i += 1
        if n == length and (i >= len(text) or not text[i].isalnum()) and iban_ok("".join(chars)):
            yield "iban", m.start(), i
    for m in _CARD.finditer(text, s, e) if most_digits >= 13 else ():
        digits = re.sub(r"\D", "", m.group())
        if not (13 <= len(digits) <= 19) or digits[0] not in "23456" or digits == digits[0] * len(digits):
            continue
        if len(digits) == 15 and digits[:2] not in ("34", "37"):
            continue
        if not luhn_ok(digits):
            continue
        if m.group().isdigit():
            idw = _nearest(_ID_WORDS, text, m.start(), 30)
            if idw is not None:
                cw = _nearest(_CARD_WORDS, text, m.start(), 40)
                if cw is None or cw > idw:
                    continue
        yield "card", m.start(), m.end()
    for m in _CPF_LOOSE.finditer(text, s, e) if most_digits >= 11 else ():
        digits = re.sub(r"\D", "", m.group())
        if not cpf_ok(digits):
            continue
        if _CPF_FORMATTED.fullmatch(m.group()) or _nearest(_CPF_WORD, text, m.start(), 30) is not None:
            yield "cpf", m.start(), m.end()
    for m in _CURP.finditer(text, s, e) if _CURP_HINT.search(window) else ():
        if curp_ok(m.group()):
            yield "curp", m.start(), m.end()
    nie_possible = most_digits >= 7 and ("X" in window or "Y" in window or "Z" in window)
    for m in _NIE.finditer(text, s, e) if nie_possible else ():
        g = m.groups()
        prefix, number, letter = (g[0], g[1], g[2] or g[3]) if g[0] else (g[4], g[5], g[6])
        if nie_ok(prefix, number, letter):
            yield "nie", m.start(), m.end()
    for m in _DNI.finditer(text, s, e) if most_digits >= 8 else ():
        g = m.groups()
        number, letter = (g[0], g[1] or g[2]) if g[0] else (g[3], g[4])
        if dni_ok(number.replace(".", ""), letter):
            yield "dni", m.start(), m.end()
    for m in _CEDULA.finditer(text, s, e) if _CEDULA_HINT.search(window) else ():
        digits = m.group(1).replace(".", "")
        if 6 <= len(digits) <= 10 and digits[0] != "0":
            yield "cedula", m.start(1), m.end(1)
    intl_possible = most_digits >= 8 and ("+" in window or "00" in window)
    for m in _PHONE_INTL.finditer(text, s, e) if intl_possible else ():
        span = _intl_phone(text, m)
        if span:
            yield "phone", span[0], span[1]
    for m in _PHONE_NATIONAL.finditer(text, s, e) if most_digits >= 9 else ():
        if _id_context(text, m.start(1)) or _money_context(text, m.start(1), m.end(1)):
            continue
        span = _national_phone(text, m)
        if span:
            yield "phone", span[0], span[1]


def find(text: str | None) -> list[PiiMatch]:
    """Validated PII in `text`, in text order; overlapping candidates resolved by kind priority."""
    if not text:
        return []
    chosen: list[tuple[int, int, str]] = []
    for kind, start, end in sorted(set(_candidates(text)), key=lambda c: (_PRIORITY[c[0]], c[1], c[2])):
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, kind))
    chosen.sort()
    return [PiiMatch(kind, s, e, text[s:e]) for s, e, kind in chosen]


def mask(text: str | None) -> str | None:
    """`text` with every validated match replaced by its placeholder ([EMAIL], [PHONE], ...)."""
    if text is None:
        return None
    out, pos = [], 0
    for m in find(text):
        out.append(text[pos:m.start])
        out.append(f"[{m.kind.upper()}]")
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def kinds(texts) -> list[list[str]]:
    """Kinds of the validated matches of each text, in text order (what the SQL path stores)."""
    return [[m.kind for m in find(t)] for t in texts]


# ------------------------------------------------------------------------------------------------
# SQL
# ------------------------------------------------------------------------------------------------

def _kinds_arrow(arr):
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pa.array(kinds(arr.to_pylist()), type=pa.list_(pa.string()))


def register(con) -> None:
    """Define `lv_pii(text)` -> VARCHAR[] of match kinds (a temporary macro: RE2 prefilter, then
    the Python validator on candidate rows only)."""
    import duckdb

    try:
        con.remove_function(_UDF)
    except Exception:  # noqa: BLE001 - not registered yet on this connection
        pass
    con.create_function(_UDF, _kinds_arrow, [duckdb.sqltypes.VARCHAR], "VARCHAR[]",
                        type="arrow", null_handling="special", side_effects=False)
    prefilter = PREFILTER.replace("'", "''")
    con.execute(
        "CREATE OR REPLACE TEMPORARY MACRO lv_pii(t) AS "
        f"CASE WHEN t IS NULL OR NOT regexp_matches(t, '{prefilter}') THEN []::VARCHAR[] "
        f"ELSE {_UDF}(t) END")


def select_sql(response: str = "response") -> str:
    return (f"len(lv_pii({response}))::INTEGER AS pii_count, "
            f"list_sort(list_distinct(lv_pii({response}))) AS pii_types")
