"""Throughput of the language and PII features through the SQL path the feature step uses.

    python benchmarks/bench_language_pii.py [--rows N] [--data synthetic|demo] [--threads T] [--seed S]
                                            [--language-impl FILE] [--no-language-cache]

Data (--data):

* synthetic (default): N support-bot rows drawn from a few templates (prompts of 15-200 characters,
  answers of 150-900 characters in en/es/pt with a few fr/de; a third of the answers carry order
  numbers, dates or prices, about 3% carry PII). Texts repeat a lot: about 25% of the prompts and
  36% of the responses of a 2048-row DuckDB vector are distinct (printed as *_distinct_share).
* demo: the first N rows of llmvigil.demo's generator (the data of bench_cycle.py; more varied
  wording, typos, multi-line answers): about 47% of the prompts and 57% of the responses of a
  vector are distinct.

Both are loaded into an in-memory DuckDB, then it times

    SELECT {language.select_sql()} FROM staged      (two texts a row: prompt and response)
    SELECT {pii.select_sql()} FROM staged

and prints one JSON object, with wall seconds and CPU seconds (user + sys of the whole process,
all DuckDB threads) of each query and the CPU microseconds per row. The first call to the language
UDF loads the model (timed separately as model_load_s) before the timed query.

--language-impl FILE runs another version of llmvigil/language.py (e.g. a copy of the previous
one), so that before/after figures come from the same data in one session; --no-language-cache
turns off the cache of recent texts of llmvigil.language (the distinct texts of each vector are
still scored once).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

PROMPTS = {
    "en": ["Where is my order {order}?", "I want a refund for order {order}", "How do I reset my password?",
           "my package never arrived", "Can I change the delivery address?", "Why was my card declined?",
           "Cancel my subscription please", "The app keeps crashing when I open the camera, what can I do?",
           "I was charged twice this month, can you check what happened with my last invoice?"],
    "es": ["¿Dónde está mi pedido {order}?", "Quiero un reembolso del pedido {order}", "¿Cómo cambio mi contraseña?",
           "mi paquete nunca llegó", "¿Puedo cambiar la dirección de envío?", "¿Por qué rechazaron mi tarjeta?",
           "Cancelar mi suscripción por favor", "La aplicación se cierra cuando abro la cámara, ¿qué hago?",
           "Me cobraron dos veces este mes, ¿pueden revisar qué pasó con mi última factura?"],
    "pt": ["Cadê meu pedido {order}?", "Quero reembolso do pedido {order}", "Como eu troco minha senha?",
           "meu pacote nunca chegou", "Posso mudar o endereço de entrega?", "Por que meu cartão foi recusado?",
           "Cancelar minha assinatura, por favor", "O aplicativo fecha quando abro a câmera, o que eu faço?",
           "Fui cobrado duas vezes este mês, podem verificar o que aconteceu com minha última fatura?"],
    "fr": ["Où est ma commande {order} ?", "Je voudrais annuler mon abonnement, s'il vous plaît."],
    "de": ["Wo ist meine Bestellung {order}?", "Ich möchte mein Abonnement bitte kündigen."],
}
ANSWERS = {
    "en": ["Thanks for reaching out! Your order {order} shipped on {date} and should arrive within three to five "
           "business days. You can follow it from the Orders page at any time.",
           "I'm sorry to hear that. I've opened a refund for {price}; it will be credited to your original payment "
           "method within 5-10 business days. Is there anything else I can help you with today?",
           "To reset your password, open the app, tap Settings, then Account, and choose Reset password. You will "
           "receive an email with a link that stays valid for 24 hours. If it doesn't arrive, check your spam "
           "folder or ask me to send it again.",
           "I can't help with that request, but I'm happy to help with anything related to your account, orders "
           "or deliveries."],
    "es": ["¡Gracias por escribirnos! Tu pedido {order} salió el {date} y debería llegar en un plazo de tres a cinco "
           "días hábiles. Puedes seguirlo desde la página de Pedidos en cualquier momento.",
           "Lamento lo ocurrido. He abierto un reembolso de {price}; se acreditará en tu método de pago original en "
           "un plazo de 5 a 10 días hábiles. ¿Hay algo más en lo que pueda ayudarte hoy?",
           "Para restablecer tu contraseña, abre la aplicación, toca Configuración, luego Cuenta y elige "
           "Restablecer contraseña. Recibirás un correo con un enlace válido durante 24 horas. Si no llega, revisa "
           "la carpeta de spam o pídeme que lo envíe de nuevo.",
           "Lo siento, no puedo ayudarte con eso, pero con gusto te ayudo con tu cuenta, tus pedidos o tus envíos."],
    "pt": ["Obrigado pelo contato! Seu pedido {order} foi enviado em {date} e deve chegar em três a cinco dias "
           "úteis. Você pode acompanhá-lo na página de Pedidos a qualquer momento.",
           "Sinto muito pelo ocorrido. Abri um reembolso de {price}; ele será creditado no seu método de pagamento "
           "original em até 10 dias úteis. Posso ajudar com mais alguma coisa hoje?",
           "Para redefinir sua senha, abra o aplicativo, toque em Configurações, depois em Conta e escolha "
           "Redefinir senha. Você vai receber um e-mail com um link válido por 24 horas. Se não chegar, verifique "
           "a pasta de spam ou me peça para reenviar.",
           "Desculpe, não posso ajudar com isso, mas fico feliz em ajudar com sua conta, pedidos ou entregas."],
    "fr": ["Votre commande {order} a été expédiée le {date} et devrait arriver dans trois à cinq jours ouvrables."],
    "de": ["Ihre Bestellung {order} wurde am {date} versandt und sollte in drei bis fünf Werktagen ankommen."],
}
PII = ["You can also reach the courier directly at +34 6{a} {b} {c} {d}.",
       "También puedes escribir a soporte.{a}@example.com o llamar al +52 55 {a}{b} {c}{d}.",
       "Você também pode falar com o entregador pelo +55 11 9{a}{b}-{c}{d}.",
       "The card on file is 4111 1111 1111 1111 and the refund goes to ES91 2100 0418 4502 0005 1332.",
       "Tu DNI 12345678Z ya está verificado.", "O CPF 111.444.777-35 está confirmado."]
LANG_WEIGHTS = [("en", 0.4), ("es", 0.3), ("pt", 0.25), ("fr", 0.03), ("de", 0.02)]


def make_rows(n: int, seed: int) -> tuple[list[str], list[str | None]]:
    r = random.Random(seed)
    langs = [lang for lang, w in LANG_WEIGHTS for _ in range(int(w * 100))]
    prompts, responses = [], []
    for _ in range(n):
        lang = r.choice(langs)
        slots = {"order": str(r.randint(10_000, 9_999_999)),
                 "date": f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/2026",
                 "price": r.choice(["$49.90", "49,90 €", "R$ 249,90", "$1,299.00 MXN"])}
        prompts.append(r.choice(PROMPTS[lang]).format(**slots))
        k = r.random()
        if k < 0.02:
            responses.append(None)
            continue
        answer = r.choice(ANSWERS[lang]).format(**slots)
        if r.random() < 0.5:
            answer += " " + r.choice(ANSWERS[lang]).format(**slots)
        if k > 0.97:
            d = {c: f"{r.randint(10, 99)}" for c in "abcd"}
            answer += " " + r.choice(PII).format(**d)
        responses.append(answer)
    return prompts, responses


def demo_rows(n: int, seed: int) -> tuple[list[str], list[str | None]]:
    from llmvigil import demo

    prompts, responses = [], []
    for row in demo.generate_rows(n, seed=seed):
        prompts.append(row["input"])
        responses.append(row["output"])
    return prompts, responses


def distinct_share(texts: list[str | None], vector: int = 2048) -> float:
    """Mean share of distinct values among the first 200 characters of a vector's texts."""
    shares = [len({t[:200] if t else t for t in texts[i:i + vector]}) / len(texts[i:i + vector])
              for i in range(0, len(texts), vector)]
    return sum(shares) / len(shares) if shares else 0.0


def load_language(path: str | None):
    if not path:
        from llmvigil import language

        return language
    import importlib.util

    spec = importlib.util.spec_from_file_location("language_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--data", choices=("synthetic", "demo"), default="synthetic")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: DuckDB's, = cores)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--language-impl", default=None, help="path of another version of llmvigil/language.py")
    ap.add_argument("--no-language-cache", action="store_true", help="llmvigil.language: no cache of recent texts")
    args = ap.parse_args(argv)

    import duckdb
    import pyarrow as pa

    from llmvigil import pii

    language = load_language(args.language_impl)
    if args.no_language_cache:
        language._CACHE_SIZE = 0
    prompts, responses = (make_rows if args.data == "synthetic" else demo_rows)(args.rows, args.seed)
    shares = {"prompt_distinct_share": round(distinct_share(prompts), 3),
              "response_distinct_share": round(distinct_share(responses), 3)}
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads={args.threads}")
    con.register("rows_arrow", pa.table({"prompt": prompts, "response": responses}))
    con.execute("CREATE TABLE staged AS SELECT * FROM rows_arrow")
    con.unregister("rows_arrow")
    language.register(con)
    pii.register(con)

    t0 = time.perf_counter()
    con.execute("SELECT lv_lang('model warm-up text')").fetchall()
    load_s = time.perf_counter() - t0

    def timed(sql: str) -> tuple[float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE out AS {sql}")
        return time.perf_counter() - t0, time.process_time() - c0

    lang_s, lang_cpu = timed(f"SELECT {language.select_sql()} FROM staged")
    lang_mix = dict(con.execute(
        "SELECT coalesce(response_lang, 'NULL'), count(*) FROM out GROUP BY 1 ORDER BY 2 DESC LIMIT 6").fetchall())
    pii_s, pii_cpu = timed(f"SELECT {pii.select_sql()} FROM staged")
    with_pii = con.execute("SELECT count(*) FILTER (WHERE pii_count > 0) FROM out").fetchall()[0][0]
    candidates = con.execute(
        f"SELECT count(*) FILTER (WHERE regexp_matches(response, '{pii.PREFILTER}')) FROM staged").fetchall()[0][0]
    n = args.rows
    print(json.dumps({
        "rows": n,
        "data": args.data,
        **shares,
        "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
        "language_impl": args.language_impl or "llmvigil.language",
        "language_cache": getattr(language, "_CACHE_SIZE", None),
        "language_rows_per_s": round(n / lang_s),
        "language_texts_per_s": round(2 * n / lang_s),
        "language_seconds": round(lang_s, 3),
        "language_cpu_seconds": round(lang_cpu, 3),
        "language_cpu_us_per_row": round(lang_cpu / n * 1e6, 2),
        "language_model_load_s": round(load_s, 3),
        "response_lang_top": lang_mix,
        "pii_rows_per_s": round(n / pii_s),
        "pii_seconds": round(pii_s, 3),
        "pii_cpu_seconds": round(pii_cpu, 3),
        "pii_cpu_us_per_row": round(pii_cpu / n * 1e6, 2),
        "pii_prefilter_candidate_share": round(candidates / n, 3),
        "pii_rows_with_pii": with_pii,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
