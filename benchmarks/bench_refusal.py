"""Throughput of the refusal detector through the SQL path the feature step uses.

    python benchmarks/bench_refusal.py [--rows N] [--mix support|dev] [--threads T] [--seed S]

Builds N responses in an in-memory DuckDB table `staged` (response, finish_reason, provider_refusal),
then times, after a warm-up on 10,000 rows,

    refusal.register(con)
    CREATE TABLE out AS SELECT {refusal.select_sql()} FROM staged

and prints one JSON object (rows, seconds, rows_per_second, cpu_seconds, label counts).

Mixes (the texts are real or hand-written, sampled with replacement):
  support  (default) ~55% English, 25% Spanish, 20% Portuguese: 20% XSTest dev responses (long, dense
           with refusal vocabulary), the rest short support-bot answers (templates below, the es/pt test set
           and the seed examples); 1% NULL responses, 1% provider refusals (content_filter / refusal field).
  dev      only the XSTest dev responses (1,175 texts of 40-1,400 characters): the worst case measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

DEV = REPO.parent / "shared" / "data" / "xstest_dev.jsonl"
MULTI = REPO / "tests" / "unit" / "refusal_multilingual.jsonl"

SUPPORT = {   # short support-bot answers: mostly help, some with an empathy opener, a few refusals
    "en": ["Thanks for reaching out! Your order {n} shipped on Monday and should arrive within three to five "
           "business days. You can follow it from the Orders page at any time.",
           "To reset your password, open the app, tap Settings, then Account, and choose Reset password. You'll "
           "get an email with a link that stays valid for 24 hours.",
           "I'm sorry to hear that the package arrived damaged. I've started a replacement for order {n}; it "
           "ships tomorrow and you don't need to return the damaged item.",
           "Your current plan includes 20 GB of data and unlimited calls. You can switch plans at any time under "
           "Account > My plan, and the change applies from your next bill.",
           "Sure! Here's how to update your delivery address:\n\n1. Open Orders\n2. Choose order {n}\n3. Tap "
           "Change address before it ships.",
           "I'm sorry, but I can't help with that request.",
           "I can't share information about other customers, but if this is your account, sign in and I'll "
           "help you right away."],
    "es": ["¡Gracias por escribirnos! Tu pedido {n} salió el lunes y llegará en tres a cinco días hábiles.",
           "Lamento las molestias. He abierto un reembolso del pedido {n}; lo verás en tu tarjeta en 5 a 10 días.",
           "Para cambiar tu contraseña, entra en Cuenta > Seguridad y pulsa Cambiar contraseña. Te enviaremos un "
           "código por SMS para confirmarlo.",
           "Tu factura de este mes es de 34,90 € e incluye el cargo de la línea adicional. Puedes descargarla en "
           "Facturas.",
           "Lo siento, no puedo ayudarte con eso.",
           "No puedo cambiar la dirección de un pedido que ya salió, pero puedes redirigirlo desde el enlace de "
           "seguimiento."],
    "pt": ["Obrigado pelo contato! Seu pedido {n} foi enviado na segunda e chega em três a cinco dias úteis.",
           "Sinto muito pelo transtorno! Já pedi o reembolso do pedido {n} e o valor volta em até 7 dias.",
           "Para trocar a senha, acesse Conta > Segurança e toque em Alterar senha. Você vai receber um código "
           "por SMS.",
           "Sua fatura deste mês ficou em R$ 89,90 e já inclui o pacote de dados extra. Dá para baixar o PDF em "
           "Faturas.",
           "Desculpe, mas não posso ajudar com isso.",
           "Não posso passar dados de outros clientes, mas se a conta for sua posso ajudar com seus pedidos."],
}


def build_texts(mix: str, n: int, seed: int) -> list[tuple[str | None, str | None, str | None]]:
    rng = random.Random(seed)
    dev = [json.loads(line)["response"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    if mix == "dev":
        return [(rng.choice(dev), "stop", None) for _ in range(n)]
    multi = [json.loads(line) for line in MULTI.read_text(encoding="utf-8").splitlines() if line.strip()]
    from llmvigil import refusal

    seeds = refusal.load_seeds()
    by_lang: dict[str, list[str]] = {"en": [], "es": [], "pt": []}
    for row in multi + seeds:
        by_lang[row["lang"]].append(row["response"])
    out: list[tuple[str | None, str | None, str | None]] = []
    for _ in range(n):
        u = rng.random()
        if u < 0.01:
            out.append((None, "error", None))
        elif u < 0.015:
            out.append((None, "content_filter", None))
        elif u < 0.02:
            out.append((None, "stop", "I'm sorry, I can't help with that."))
        elif u < 0.22:
            out.append((rng.choice(dev), "stop", None))
        else:
            lang = "en" if u < 0.55 else "es" if u < 0.80 else "pt"
            pool = SUPPORT[lang] if rng.random() < 0.75 else by_lang[lang]
            out.append((rng.choice(pool).replace("{n}", f"#{rng.randrange(10**6, 10**7)}"), "stop", None))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--mix", choices=["support", "dev"], default="support")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not DEV.exists():
        print(f"error: {DEV} not found", file=sys.stderr)
        return 2

    import duckdb
    import pyarrow as pa

    from llmvigil import refusal

    texts = build_texts(args.mix, min(args.rows, 200_000), args.seed)
    reps = -(-args.rows // len(texts))
    src = pa.table({"response": [t[0] for t in texts], "finish_reason": [t[1] for t in texts],  # noqa: F841
                    "provider_refusal": [t[2] for t in texts]})
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    con.execute(f"CREATE TABLE staged AS SELECT s.* FROM src s, range({reps}) LIMIT {args.rows}")
    chars = con.execute("SELECT avg(strlen(response)) FROM staged").fetchone()[0]

    refusal.register(con)                               # warm-up: imports, model load, phrase table
    con.execute(f"SELECT count({refusal.select_sql().split(' AS ')[0]}) FROM (SELECT * FROM staged LIMIT 10000)")

    t0, c0 = time.perf_counter(), time.process_time()
    refusal.register(con)
    con.execute(f"CREATE OR REPLACE TABLE out AS SELECT {refusal.select_sql()} FROM staged")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    labels = dict(con.execute("SELECT coalesce(refusal_label, 'NULL'), count(*) FROM out GROUP BY 1 ORDER BY 1")
                  .fetchall())
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({
        "rows": args.rows, "mix": args.mix, "seconds": round(seconds, 3),
        "rows_per_second": round(args.rows / seconds), "cpu_seconds": round(cpu, 3),
        "threads": threads, "cpus": os.cpu_count(), "avg_response_bytes": round(chars or 0, 1),
        "labels": labels,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
