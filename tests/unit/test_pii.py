"""PII: every kind with positives and look-alikes that must not match, masking, SQL == Python."""

from __future__ import annotations

import random
import re

import duckdb
import pyarrow as pa
import pytest

from llmvigil import pii
from llmvigil.pii import PiiMatch, find, mask

# (text, expected [(kind, value)]) -------------------------------------------------------------------
POSITIVES = [
    # email
    ("Escríbeme a laura.garcia@hotmail.es cuando puedas.", [("email", "laura.garcia@hotmail.es")]),
    ("Contact: ana_souza+loja@uol.com.br.", [("email", "ana_souza+loja@uol.com.br")]),
    ("Mail JOHN.DOE@Example.CO.UK or j@x.io", [("email", "JOHN.DOE@Example.CO.UK"), ("email", "j@x.io")]),
    # phones, international
    ("Llama al +34 612 34 56 78.", [("phone", "+34 612 34 56 78")]),
    ("Llama al +34 612 345 678 las 24 horas", [("phone", "+34 612 345 678")]),
    ("Spain: +34612345678, 0034 912 345 678", [("phone", "+34612345678"), ("phone", "0034 912 345 678")]),
    ("Call +1 (415) 555-0134 now", [("phone", "+1 (415) 555-0134")]),
    ("US office +1 212-555-0199", [("phone", "+1 212-555-0199")]),
    ("Fale pelo +55 11 91234-5678 ou +55 (21) 3456-7890", [("phone", "+55 11 91234-5678"),
                                                           ("phone", "+55 (21) 3456-7890")]),
    ("WhatsApp +5511987654321", [("phone", "+5511987654321")]),
    ("Llámanos al +52 55 1234 5678 o al +52 1 33 1234 5678", [("phone", "+52 55 1234 5678"),
                                                              ("phone", "+52 1 33 1234 5678")]),
    ("Colombia: +57 300 123 4567, fijo +57 601 234 5678, antiguo +57 1 234 5678",
     [("phone", "+57 300 123 4567"), ("phone", "+57 601 234 5678"), ("phone", "+57 1 234 5678")]),
    ("London +44 20 7946 0958", [("phone", "+44 20 7946 0958")]),
    # phones, national shapes
    ("Call (415) 555-0134 or 415.555.0134 or 212 555 0199", [("phone", "(415) 555-0134"), ("phone", "415.555.0134"),
                                                           ("phone", "212 555 0199")]),
    ("Toll-free 1-800-555-0199 or 1 (800) 555-0199", [("phone", "1-800-555-0199"), ("phone", "1 (800) 555-0199")]),
    ("Mi móvil es 612 34 56 78 y el fijo 91 123 45 67", [("phone", "612 34 56 78"), ("phone", "91 123 45 67")]),
    ("Teléfono: 912 345 678", [("phone", "912 345 678")]),
    ("Ligue (11) 91234-5678 ou 11 3456-7890", [("phone", "(11) 91234-5678"), ("phone", "11 3456-7890")]),
    ("Escríbenos al 55 1234 5678 o al 222 123 4567", [("phone", "55 1234 5678"), ("phone", "222 123 4567")]),
    ("Support: +1 (555) 123-4567", [("phone", "+1 (555) 123-4567")]),
    ("Mi celular 300 123 4567", [("phone", "300 123 4567")]),
    ("Llámame al 612345678 por favor", [("phone", "612345678")]),             # bare: a phone word before it
    ("whatsapp 91234-5678", [("phone", "91234-5678")]),                       # BR mobile without area code
    ("tel. 612.345.678", [("phone", "612.345.678")]),                         # dots: a phone word before it
    # cards
    ("Tarjeta 4111 1111 1111 1111 guardada", [("card", "4111 1111 1111 1111")]),
    ("card 5555-5555-5555-4444", [("card", "5555-5555-5555-4444")]),
    ("Amex 3782 822463 10005 e 378282246310005", [("card", "3782 822463 10005"), ("card", "378282246310005")]),
    ("Diners 3056 930902 5904", [("card", "3056 930902 5904")]),
    ("Visa antigua 4222222222222", [("card", "4222222222222")]),
    ("Cartão 6011111111111117 e 2223 0031 2200 3222", [("card", "6011111111111117"),
                                                      ("card", "2223 0031 2200 3222")]),
    ("Paid with card 4111111111111111 for order 48213", [("card", "4111111111111111")]),
    # IBAN
    ("IBAN: ES91 2100 0418 4502 0005 1332.", [("iban", "ES91 2100 0418 4502 0005 1332")]),
    ("Transfiere a ES9121000418450200051332 hoy", [("iban", "ES9121000418450200051332")]),
    ("UK GB82 WEST 1234 5698 7654 32 and DE89 3704 0044 0532 0130 00",
     [("iban", "GB82 WEST 1234 5698 7654 32"), ("iban", "DE89 3704 0044 0532 0130 00")]),
    ("FR14 2004 1010 0505 0001 3M02 606 y NL91ABNA0417164300", [("iban", "FR14 2004 1010 0505 0001 3M02 606"),
                                                                ("iban", "NL91ABNA0417164300")]),
    ("Conta BR1800360305000010009795493C1", [("iban", "BR1800360305000010009795493C1")]),
    ("IBAN ES91 2100 0418 4502 0005 1332 ABCD", [("iban", "ES91 2100 0418 4502 0005 1332")]),
    # Spanish DNI / NIE
    ("Mi DNI es 12345678Z.", [("dni", "12345678Z")]),
    ("DNI 12345678-Z, 12.345.678-Z y 00000000T", [("dni", "12345678-Z"), ("dni", "12.345.678-Z"),
                                                  ("dni", "00000000T")]),
    ("dni 87654321x", [("dni", "87654321x")]),
    ("NIE X1234567L, Y-1234567-X y Z 7654321 H", [("nie", "X1234567L"), ("nie", "Y-1234567-X"),
                                                  ("nie", "Z 7654321 H")]),
    # CPF
    ("CPF 111.444.777-35 confirmado", [("cpf", "111.444.777-35")]),
    ("Os CPFs 123.456.789-09 e 529.982.247-25", [("cpf", "123.456.789-09"), ("cpf", "529.982.247-25")]),
    ("Meu CPF é 11144477735", [("cpf", "11144477735")]),
    ("CPF do titular: 529982247-25", [("cpf", "529982247-25")]),
    # CURP
    ("Tu CURP es GODE561231HDFRRN09.", [("curp", "GODE561231HDFRRN09")]),
    ("CURP: HEGG560427MVZRRL04, BADD110313HCMLNS09", [("curp", "HEGG560427MVZRRL04"), ("curp", "BADD110313HCMLNS09")]),
    # Colombian cédula
    ("Identificado con cédula de ciudadanía No. 1.020.304.050", [("cedula", "1.020.304.050")]),
    ("C.C. 79123456 de Bogotá", [("cedula", "79123456")]),
    ("CC: 52.123.456", [("cedula", "52.123.456")]),
    ("su cedula 1020304050", [("cedula", "1020304050")]),
    # several kinds in one answer
    ("Cliente ana.souza@gmail.com, CPF 111.444.777-35, celular +55 11 91234-5678, cartão 4111 1111 1111 1111.",
     [("email", "ana.souza@gmail.com"), ("cpf", "111.444.777-35"), ("phone", "+55 11 91234-5678"),
      ("card", "4111 1111 1111 1111")]),
]

NEGATIVES = [
    # emails that are not addresses
    "Write to support at example dot com", "user@localhost", "@mention me", "price@ 5", "a..b@example.com",
    # cards: bad Luhn, wrong length or shape, order numbers
    "Tarjeta 4111 1111 1111 1112", "card 5555-5555-5555-4445", "Amex 378282246310006",
    "Card 0000 0000 0000 0000", "Card 1234 5678 9012 3456", "Tarjeta 4111 1111 1111 111",
    "Order number 4111111111111111 is on its way", "Pedido nº 5555555555554444 enviado",
    "Tracking number 9400 1000 0000 0000 0000 00", "NF-e 3524 0512 3456 7800 0190 5500 1000 0012 3410 0000 1234",
    # IBAN with a bad checksum, unknown country or wrong length
    "IBAN inválido ES00 2100 0418 4502 0005 1332", "IBAN ES91 2100 0418 4502 0005 1333",
    "Cuenta XX91 2100 0418 4502 0005 1332", "IBAN ES91 2100 0418 4502 0005 133",
    # DNI / NIE with the wrong letter, or digits only
    "DNI 12345678A", "DNI 12345678", "NIE X1234567A", "NIE X123456L", "Ref 12345678 A-stock",
    # CPF with bad check digits, repeated digits, or bare without the word CPF
    "CPF 123.456.789-00", "CPF 111.111.111-11", "Protocolo 11144477735", "Pedido 52998224725 enviado",
    # CURP with an impossible date, an unknown state, or vowels where consonants go
    "CURP GODE561331HDFRRN09", "CURP GODE560230HDFRRN09", "CURP GODE561231HXXRRN09", "CURP GODE561231HDFAAN09",
    # cédula needs its word; short or zero-led numbers are not one
    "Pedido 1020304050 enviado", "C.C. 12345", "cédula 0123456",
    # phones: order numbers, tracking, dates, prices, plain long IDs, ZIP codes, versions, IPs
    "Your order 1234567890 shipped.", "Order no. 612 345 678", "Pedido nº 612345678", "Pedido #48213-7789-0012",
    "Order #415-555-0134 is ready", "Número de seguimiento 123 456 7890", "invoice 415 555 0134",
    "Protocolo 2024 5551 2345", "Factura 2024-000123-45 y ticket 20240512-001", "Tu pedido ORD-2024-123456789",
    "Tracking: 1Z999AA10123456784", "Código de rastreio: LB123456789BR", "Guía 7845 1234 5678",
    "Due 2024-05-12, paid 12/05/2024, moved to 12.05.2024 14:30", "Horario: 09:00-18:00",
    "Total: R$ 1.234.567,89", "Total: $ 1,234,567.00", "Precio 1.234.567 €", "Son 612 345 678 €",
    "Price: 612 345 678 MXN", "Precio: $612 345 678", "Population 250 000 000", "We have 1 234 567 890 users",
    "between 10 000 and 20 000 units", "ZIP 94105-1234", "ISBN 978-3-16-148410-0", "IP 192.168.100.254",
    "Version 10.2.3-4567", "ID de transacción 20240512123456", "Account 000123456789", "612345678",
    "UUID 123e4567-e89b-12d3-a456-426614174000", "Coordenadas 40.416775, -3.703790", "Serial 2024 0000 1234",
    "Llega entre el 12 y el 15 de mayo, 3 a 5 días", "+15% this month", "+1 234 567", "Ticket CS-123456 opened",
    "Call 123 456 7890", "Call 123 456 78 90",   # area codes never start with 0 or 1
    "1 (800) 123 4567 8",
]


def _kv(matches):
    return [(m.kind, m.value) for m in matches]


@pytest.mark.parametrize(("text", "expected"), POSITIVES, ids=[t[:40] for t, _ in POSITIVES])
def test_positives(text, expected):
    assert _kv(find(text)) == expected


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_do_not_match(text):
    assert find(text) == []
    assert mask(text) == text


def test_every_kind_is_covered_by_positives_and_look_alikes():
    kinds = {k for _, exp in POSITIVES for k, _ in exp}
    assert kinds == set(pii.KINDS)


def test_match_fields():
    text = "Mi DNI es 12345678Z."
    assert find(text) == [PiiMatch("dni", 10, 19, "12345678Z")]
    for t, _ in POSITIVES:
        for m in find(t):
            assert t[m.start:m.end] == m.value


def test_mask_replaces_every_match_with_its_placeholder():
    text = ("Hola Ana: tu DNI 12345678Z y NIE X1234567L. Escribe a ana@example.com o llama al +34 612 34 56 78. "
            "Tarjeta 4111 1111 1111 1111, IBAN ES91 2100 0418 4502 0005 1332, CPF 111.444.777-35, "
            "CURP GODE561231HDFRRN09, C.C. 79123456. Pedido 48213.")
    assert mask(text) == (
        "Hola Ana: tu DNI [DNI] y NIE [NIE]. Escribe a [EMAIL] o llama al [PHONE]. "
        "Tarjeta [CARD], IBAN [IBAN], CPF [CPF], CURP [CURP], C.C. [CEDULA]. Pedido 48213.")


def test_mask_null_and_empty():
    assert mask(None) is None
    assert mask("") == ""
    assert mask("nothing to hide, order 48213") == "nothing to hide, order 48213"
    assert find(None) == [] and find("") == []


def test_validators():
    assert pii.luhn_ok("4111111111111111") and not pii.luhn_ok("4111111111111112")
    assert pii.iban_ok("ES91 2100 0418 4502 0005 1332") and not pii.iban_ok("ES91 2100 0418 4502 0005 1333")
    assert not pii.iban_ok("ES91 2100 0418 4502 0005 13")  # Spain is 24 characters
    assert pii.dni_ok("12345678", "Z") and not pii.dni_ok("12345678", "A")
    assert pii.nie_ok("X", "1234567", "L") and pii.nie_ok("Y", "1234567", "X") and not pii.nie_ok("Z", "1234567", "L")
    assert pii.cpf_ok("11144477735") and not pii.cpf_ok("11144477736") and not pii.cpf_ok("00000000000")


# --- SQL path --------------------------------------------------------------------------------------

def _sql(con, texts):
    con.register("r_arrow", pa.table({"response": pa.array(texts, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE staged AS SELECT row_number() OVER () AS i, * FROM r_arrow")
    con.unregister("r_arrow")
    return con.execute(f"SELECT {pii.select_sql()} FROM staged ORDER BY i").fetchall()


def test_sql_path_equals_find():
    texts = [t for t, _ in POSITIVES] + NEGATIVES + [None, "", "no digits at all"]
    rng = random.Random(5)
    texts = texts + [rng.choice(texts) for _ in range(5000)]  # several DuckDB vectors
    con = duckdb.connect()
    pii.register(con)
    pii.register(con)  # twice on one connection is fine
    rows = _sql(con, texts)
    for t, (count, types) in zip(texts, rows):
        found = find(t)
        assert count == len(found), t
        assert types == sorted({m.kind for m in found}), t
    con.close()


def test_sql_types_are_sorted_and_distinct_and_count_is_integer():
    con = duckdb.connect()
    pii.register(con)
    rows = _sql(con, ["card 4111 1111 1111 1111, mail a@b.co, mail c@d.co", None, ""])
    assert rows == [(3, ["card", "email"]), (0, []), (0, [])]
    assert con.execute(f"SELECT typeof(pii_count), typeof(pii_types) FROM (SELECT {pii.select_sql('s.x')} "
                       "FROM (SELECT 'x' AS x) s)").fetchall() == [("INTEGER", "VARCHAR[]")]


def test_prefilter_never_hides_a_match():
    """Rows the RE2 prefilter drops never reach the validator: it must pass every real match."""
    prefilter = re.compile(pii.PREFILTER)
    for text, expected in POSITIVES:
        for _, value in expected:
            assert prefilter.search(value), value
    rng = random.Random(11)
    alphabet = "0123456789 .-()+@XYZabcCPF"
    for _ in range(20000):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 40)))
        if find(t):
            assert prefilter.search(t), t


def test_validator_runs_only_on_prefiltered_rows(monkeypatch):
    seen = []
    original = pii._kinds_arrow

    def spy(arr):
        seen.extend(arr.to_pylist())
        return original(arr)

    monkeypatch.setattr(pii, "_kinds_arrow", spy)
    con = duckdb.connect()
    pii.register(con)
    _sql(con, ["no pii here", "mail me at a@b.co", None, "order 48213 ships on 12/05/2026", "+34 612 34 56 78"])
    assert sorted(seen) == ["+34 612 34 56 78", "mail me at a@b.co"]


def test_macro_is_temporary(tmp_path):
    path = str(tmp_path / "store.duckdb")
    con = duckdb.connect(path)
    pii.register(con)
    con.close()
    con = duckdb.connect(path)
    names = {r[0] for r in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    con.close()
    assert "lv_pii" not in names
