"""Demo data: seeded JSONL logs of a customer-support assistant (e-commerce + telecom).

The generator writes what a real application would log, one JSON object per model call, with *source*
field names (a profile maps them onto the canonical interaction):

    request_id, created_at, app, model, model_version, prompt_version, session_id, user, locale, channel,
    input, output, latency_ms, ttft_ms, usage{prompt_tokens, completion_tokens}, cost_usd, status,
    error_type, finish_reason, refusal, attempt, retry_of, feedback

Traffic: ~50% English (en-US), ~30% Spanish (es-ES, es-MX), ~20% Portuguese (pt-BR); a daily cycle;
sessions of 1-4 turns; explicit client retries after errors/timeouts (``attempt``/``retry_of``) and
implicit retries after refusals (same session, same or near-same prompt, ``retry_of`` null).

With ``regression=True`` the main model (``gpt-4o-mini``, ~60% of sessions) gets a new ``model_version``
from 00:00 UTC of the last day: refusals jump to ~15% (safe questions too), latency doubles and ~35% of
its answers to Spanish questions come back in English. Everything else stays healthy.

Only the standard library is used; everything is driven by ``random.Random(seed)``, never the clock, so
the same arguments give byte-identical files.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from statistics import NormalDist
from typing import Callable, Iterable, Iterator

__all__ = [
    "APP",
    "CONTENT_FILTER_MODELS",
    "DemoData",
    "MAIN_MODEL",
    "MODELS",
    "PARTIAL_REFUSALS",
    "PROVIDER_REFUSALS",
    "REFUSAL_OPENERS",
    "REGRESSED_VERSION",
    "generate",
    "generate_rows",
    "write_jsonl",
]

APP = "support-bot"
MAIN_MODEL = "gpt-4o-mini"
REGRESSED_VERSION = "gpt-4o-mini-2026-11-28"
_MS_DAY = 86_400_000
_MS_HOUR = 3_600_000
_POOL = 1024                                    # pre-drawn slot sets per (locale, language)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class DemoData:
    """What :func:`generate` wrote."""

    files: list[Path]
    rows: int
    first_day: date
    last_day: date
    regression_day: date | None


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Model:
    name: str
    version: str
    share: float            # share of sessions routed to this model
    in_price: float         # USD per 1M prompt tokens
    out_price: float        # USD per 1M completion tokens
    ttft_ms: float          # median time to first token
    ttft_sigma: float
    tpot_ms: float          # median time per output token
    tpot_sigma: float
    errors: tuple[tuple[str, float], ...]   # error types and their weights


MODELS: tuple[_Model, ...] = (
    _Model("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0.60, 0.15, 0.60, 380, 0.65, 6.0, 0.65,
           (("RateLimitError", 0.5), ("InternalServerError", 0.3), ("APIConnectionError", 0.2))),
    _Model("claude-3-5-haiku", "claude-3-5-haiku-20241022", 0.25, 0.80, 4.00, 520, 0.6, 6.4, 0.6,
           (("RateLimitError", 0.35), ("OverloadedError", 0.35), ("InternalServerError", 0.3))),
    _Model("llama-3.1-70b", "llama-3.1-70b-instruct-turbo", 0.15, 0.88, 0.88, 340, 0.7, 6.2, 0.65,
           (("RateLimitError", 0.4), ("ServiceUnavailableError", 0.35), ("InternalServerError", 0.25))),
)
# Models whose provider signals a blocked answer with finish_reason="content_filter" (empty output);
# the main model signals it with the `refusal` field instead (OpenAI `message.refusal`, output null).
CONTENT_FILTER_MODELS = ("claude-3-5-haiku", "llama-3.1-70b")

_SYSTEM_TOKENS = {"v3": 236, "v4": 281}           # system prompt size per prompt version
_MAX_TOKENS = 400                                  # max_tokens the app sends
_TIMEOUT_MS = 30_000                               # client timeout

# --------------------------------------------------------------------------------------------------
# Locales and slot values
# --------------------------------------------------------------------------------------------------

_LOCALES = (("en-US", 0.50), ("es-ES", 0.13), ("es-MX", 0.17), ("pt-BR", 0.20))
_CHANNELS = (("web", 0.45), ("app", 0.35), ("whatsapp", 0.20))

_PRODUCTS = {
    "en": ["wireless headphones", "phone case", "smartwatch", "router", "charger", "running shoes",
           "coffee maker", "backpack", "tablet", "bluetooth speaker", "USB-C cable", "air fryer",
           "gaming mouse", "baby monitor", "electric toothbrush"],
    "es": ["auriculares inalámbricos", "funda protectora", "reloj inteligente", "router", "cargador",
           "zapatillas deportivas", "cafetera", "mochila", "tablet", "altavoz bluetooth", "cable USB-C",
           "freidora de aire", "ratón gaming", "vigilabebés", "cepillo de dientes eléctrico"],
    "pt": ["fones de ouvido sem fio", "capinha", "relógio inteligente", "roteador", "carregador",
           "tênis de corrida", "cafeteira", "mochila", "tablet", "caixa de som bluetooth", "cabo USB-C",
           "fritadeira elétrica", "mouse gamer", "babá eletrônica", "escova de dentes elétrica"],
}
_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
           "octubre", "noviembre"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
           "outubro", "novembro"],
}
_PLANS = ["Basic 10GB", "Plus 30GB", "Max 60GB", "Unlimited", "Family 100GB"]

_LOCALE_SLOTS = {
    "en-US": {"carriers": ["UPS", "FedEx", "USPS"], "device": "phone",
              "countries": ["Mexico", "Canada", "Spain", "France", "Italy", "Japan", "the UK", "Brazil"],
              "prices": ("$15", "$30", "$45"), "pass": "$10"},
    "es-ES": {"carriers": ["Correos", "SEUR", "MRW", "GLS"], "device": "móvil",
              "countries": ["Francia", "Portugal", "Italia", "Marruecos", "Estados Unidos", "Reino Unido",
                            "México", "Alemania"],
              "prices": ("10 €", "20 €", "30 €"), "pass": "8 €"},
    "es-MX": {"carriers": ["Estafeta", "DHL", "FedEx", "Paquetexpress"], "device": "celular",
              "countries": ["Estados Unidos", "Canadá", "España", "Guatemala", "Colombia", "Perú"],
              "prices": ("$199", "$349", "$499"), "pass": "$150"},
    "pt-BR": {"carriers": ["Correios", "Jadlog", "Loggi", "Total Express"], "device": "celular",
              "countries": ["Portugal", "Argentina", "Estados Unidos", "Chile", "Espanha", "Uruguai"],
              "prices": ("R$ 49,90", "R$ 79,90", "R$ 119,90"), "pass": "R$ 39,90"},
}
# English names of the countries above, for answers given in English to a Spanish question.
_COUNTRY_EN = {
    "Francia": "France", "Portugal": "Portugal", "Italia": "Italy", "Marruecos": "Morocco",
    "Estados Unidos": "the United States", "Reino Unido": "the UK", "México": "Mexico",
    "Alemania": "Germany", "Canadá": "Canada", "España": "Spain", "Guatemala": "Guatemala",
    "Colombia": "Colombia", "Perú": "Peru",
}


def _amount(locale: str, x: float) -> str:
    if locale == "en-US":
        return f"${x:.2f}"
    if locale == "es-ES":
        return f"{x:.2f} €".replace(".", ",")
    if locale == "es-MX":
        return f"${x * 18:,.2f} MXN"
    return "R$ " + f"{x * 5.2:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


_NAMES = {
    "en-US": ["jessica.miller", "mike.johnson", "ashley.davis", "chris.brown", "sarah.wilson", "kevin.moore"],
    "es-ES": ["laura.garcia", "javier.martin", "marta.lopez", "david.sanchez", "lucia.fernandez"],
    "es-MX": ["alejandra.hernandez", "jose.ramirez", "fernanda.torres", "luis.flores", "daniela.cruz"],
    "pt-BR": ["ana.souza", "joao.silva", "mariana.oliveira", "pedro.santos", "juliana.costa"],
}
_MAIL_DOMAINS = {
    "en-US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com"],
    "es-ES": ["gmail.com", "hotmail.es", "outlook.es", "yahoo.es"],
    "es-MX": ["gmail.com", "hotmail.com", "outlook.com", "prodigy.net.mx"],
    "pt-BR": ["gmail.com", "hotmail.com", "uol.com.br", "yahoo.com.br"],
}


def _phone(locale: str, r: random.Random) -> str:
    d = r.randint
    if locale == "en-US":
        return f"+1 ({d(201, 989)}) {d(200, 999)}-{d(0, 9999):04d}"
    if locale == "es-ES":
        return f"+34 6{d(10, 99)} {d(10, 99)} {d(10, 99)} {d(10, 99)}"
    if locale == "es-MX":
        return f"+52 55 {d(1000, 9999)} {d(1000, 9999)}"
    return f"+55 11 9{d(1000, 9999)}-{d(1000, 9999)}"


# --------------------------------------------------------------------------------------------------
# Texts. Prompts use {order_p} (order number as the user typed it); answers use {order}.
# --------------------------------------------------------------------------------------------------

# intent -> lang -> (prompt templates, answer templates). Complaint intents get an empathy opener
# ("I'm sorry to hear..."/"Lamento que..."/"Sinto muito que...") half of the time: hard negatives for a
# refusal detector, since the answer then helps.
_INTENTS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "order_status": {
        "en": ([
            "Where is my order {order_p}?",
            "Hi, can you tell me the status of order {order_p}? It still says processing.",
            "i ordered the {product} last week and haven't received any tracking info",
            "Has my order {order_p} shipped yet?",
            "How can I track my package? Order number {order_p}",
            "hello, when will the {product} I bought arrive?",
        ], [
            "Your order {order} left our warehouse yesterday and is now with {carrier}. The estimated delivery "
            "is in {days} business days.\n\nYou can follow it in real time from My Orders > Track package. "
            "You'll also get a notification when it's out for delivery.",
            "I checked order {order}: it's currently being prepared and should ship within 24 hours. As soon "
            "as it ships, we'll send you an email with the tracking number.\n\nIf you need it sooner, you can "
            "upgrade to express shipping from the order page while it's still in preparation.",
            "Here's the latest on order {order}:\n\n- Status: shipped\n- Carrier: {carrier}\n- Estimated "
            "delivery: {days} business days\n\nYou can track it from the link in your confirmation email or in "
            "the app under My Orders.",
        ]),
        "es": ([
            "¿Dónde está mi pedido {order_p}?",
            "Hola, ¿me puedes decir el estado del pedido {order_p}? Sigue apareciendo en preparación.",
            "hice un pedido de {product} la semana pasada y todavía no tengo número de seguimiento",
            "¿Ya se envió mi pedido {order_p}?",
            "¿Cómo puedo rastrear mi paquete? El número de pedido es {order_p}",
            "hola, ¿cuándo llega mi pedido de {product}?",
        ], [
            "Tu pedido {order} salió ayer de nuestro almacén y ya está con {carrier}. La entrega estimada es "
            "en {days} días hábiles.\n\nPuedes seguirlo en tiempo real desde Mis pedidos > Seguir envío. "
            "También recibirás una notificación cuando esté en reparto.",
            "He revisado el pedido {order}: ahora mismo se está preparando y debería enviarse en menos de 24 "
            "horas. En cuanto salga, te enviaremos un correo con el número de seguimiento.\n\nSi lo necesitas "
            "antes, puedes cambiar a envío exprés desde la página del pedido mientras siga en preparación.",
            "Esta es la información más reciente del pedido {order}:\n\n- Estado: enviado\n- Transportista: "
            "{carrier}\n- Entrega estimada: {days} días hábiles\n\nPuedes rastrearlo con el enlace del correo "
            "de confirmación o en la app, en Mis pedidos.",
        ]),
        "pt": ([
            "Cadê meu pedido {order_p}?",
            "Oi, pode me dizer o status do pedido {order_p}? Ainda aparece como em processamento.",
            "fiz um pedido de {product} semana passada e até agora não recebi o código de rastreio",
            "Meu pedido {order_p} já foi enviado?",
            "Como faço para rastrear minha encomenda? O número do pedido é {order_p}",
            "olá, quando chega meu pedido de {product}?",
        ], [
            "Seu pedido {order} saiu do nosso centro de distribuição ontem e já está com a {carrier}. A "
            "previsão de entrega é de {days} dias úteis.\n\nVocê pode acompanhar em tempo real em Meus pedidos "
            "> Rastrear entrega. Você também vai receber uma notificação quando ele sair para entrega.",
            "Verifiquei o pedido {order}: ele está em separação e deve ser enviado em até 24 horas. Assim que "
            "for despachado, enviaremos um e-mail com o código de rastreio.\n\nSe precisar com mais urgência, "
            "você pode mudar para entrega expressa na página do pedido enquanto ele ainda estiver em separação.",
            "Aqui estão as informações mais recentes do pedido {order}:\n\n- Status: enviado\n- "
            "Transportadora: {carrier}\n- Previsão de entrega: {days} dias úteis\n\nVocê pode rastrear pelo "
            "link do e-mail de confirmação ou no app, em Meus pedidos.",
        ]),
    },
    "late_delivery": {
        "en": ([
            "My order {order_p} was supposed to arrive {days} days ago and it's still not here",
            "The delivery date for the {product} I ordered has passed and nothing arrived. What is going on?",
            "its been over a week and my package still hasnt arrived, order {order_p}",
            "Why is my order late? The tracking hasn't updated in {days} days.",
            "I need the {product} by Friday and the order is delayed. Can you do something?",
        ], [
            "I checked order {order}, and the carrier reports a delay at their sorting center. The new "
            "estimated delivery is in {days} business days.\n\nIf it hasn't arrived by then, reply here and I'll "
            "open a claim with the carrier so we can send a replacement or refund you in full.",
            "Your package is in transit but it has been held up at the carrier's regional hub. Here's what I can "
            "do:\n\n- Open an investigation with {carrier} today\n- Upgrade the shipment to priority at no cost\n"
            "- If it doesn't move in 48 hours, issue a full refund\n\nI've already opened the investigation for "
            "order {order}; you'll get an update by email.",
            "Thanks for your patience. The tracking for order {order} hasn't updated because a scan was missed, "
            "but the package is already on the delivery route for your area. It should arrive within {days} "
            "business days.",
        ]),
        "es": ([
            "Mi pedido {order_p} tenía que llegar hace {days} días y todavía no ha llegado",
            "Ya pasó la fecha de entrega de mi pedido de {product} y no ha llegado nada. ¿Qué pasa?",
            "hace mas de una semana y mi paquete no llega, pedido {order_p}",
            "¿Por qué se retrasa mi pedido? El seguimiento no se actualiza desde hace {days} días.",
            "Necesito mi pedido de {product} para el viernes y va con retraso, ¿pueden hacer algo?",
        ], [
            "He revisado el pedido {order} y la empresa de transporte indica un retraso en su centro de "
            "clasificación. La nueva fecha estimada de entrega es en {days} días hábiles.\n\nSi para entonces no "
            "ha llegado, escríbeme por aquí y abriré una reclamación con el transportista para enviarte un "
            "reemplazo o devolverte el importe completo.",
            "Tu paquete está en tránsito, pero se ha quedado retenido en el centro regional del transportista. "
            "Esto es lo que puedo hacer:\n\n- Abrir hoy una investigación con {carrier}\n- Pasar el envío a "
            "prioritario sin coste\n- Si no se mueve en 48 horas, hacerte el reembolso completo\n\nYa he abierto "
            "la investigación del pedido {order}; recibirás la actualización por correo.",
            "Gracias por tu paciencia. El seguimiento del pedido {order} no se ha actualizado porque faltó un "
            "escaneo, pero el paquete ya está en la ruta de reparto de tu zona. Debería llegar en {days} días "
            "hábiles.",
        ]),
        "pt": ([
            "Meu pedido {order_p} era pra chegar há {days} dias e até agora nada",
            "Já passou a data de entrega do meu pedido de {product} e não chegou nada. O que aconteceu?",
            "faz mais de uma semana e minha encomenda nao chegou, pedido {order_p}",
            "Por que meu pedido está atrasado? O rastreio não atualiza há {days} dias.",
            "Preciso do meu pedido de {product} até sexta e ele está atrasado, vocês podem fazer alguma coisa?",
        ], [
            "Verifiquei o pedido {order} e a transportadora informa um atraso no centro de triagem. A nova "
            "previsão de entrega é de {days} dias úteis.\n\nSe não chegar até lá, me chame aqui que eu abro uma "
            "reclamação com a transportadora para enviarmos outro produto ou reembolsarmos o valor total.",
            "Sua encomenda está em trânsito, mas ficou retida no centro regional da transportadora. Veja o que eu "
            "posso fazer:\n\n- Abrir hoje uma investigação com a {carrier}\n- Mudar o envio para prioritário sem "
            "custo\n- Se não houver movimentação em 48 horas, fazer o reembolso integral\n\nJá abri a "
            "investigação do pedido {order}; você vai receber a atualização por e-mail.",
            "Obrigado pela paciência. O rastreio do pedido {order} não atualizou porque faltou uma leitura, mas a "
            "encomenda já está na rota de entrega da sua região. Ela deve chegar em {days} dias úteis.",
        ]),
    },
    "refund": {
        "en": ([
            "How long does a refund take?",
            "I returned the {product} {days} days ago and still haven't got my money back",
            "When will I get my refund for order {order_p}?",
            "can i get a refund instead of store credit?",
            "I was promised a refund of {amount} but I don't see it on my card",
        ], [
            "Refunds are issued to the original payment method as soon as the warehouse receives and checks the "
            "item, usually within 2 business days of arrival. After that, your bank may take 5-10 business days "
            "to show it on your statement.",
            "I can see the refund of {amount} for order {order} was processed on our side. Depending on your "
            "bank it can take up to 10 business days to appear.\n\nIf it still isn't there after that, send us a "
            "bank statement from the refund date and we'll trace the payment for you.",
            "Yes, you can choose a refund to your original payment method instead of store credit. Here's how:"
            "\n\n1. Go to My Orders and select the order\n2. Tap Return or refund\n3. Choose \"Refund to original "
            "payment method\"\n\nOnce we receive the item, the refund is processed within 2 business days.",
        ]),
        "es": ([
            "¿Cuánto tarda un reembolso?",
            "Devolví el pedido de {product} hace {days} días y todavía no me han devuelto el dinero",
            "¿Cuándo me llega el reembolso del pedido {order_p}?",
            "puedo pedir el reembolso en vez de un vale de compra?",
            "Me dijeron que me devolverían {amount} pero no lo veo en mi tarjeta",
        ], [
            "Los reembolsos se hacen al método de pago original en cuanto el almacén recibe y revisa el "
            "artículo, normalmente en 2 días hábiles desde su llegada. Después, tu banco puede tardar entre 5 y "
            "10 días hábiles en mostrarlo en tu cuenta.",
            "Veo que el reembolso de {amount} del pedido {order} ya está procesado por nuestra parte. Según tu "
            "banco, puede tardar hasta 10 días hábiles en aparecer.\n\nSi pasado ese plazo no lo ves, envíanos "
            "un extracto bancario desde la fecha del reembolso y rastrearemos el pago.",
            "Sí, puedes elegir el reembolso a tu método de pago original en lugar de un vale. Así se hace:\n\n"
            "1. Entra en Mis pedidos y selecciona el pedido\n2. Pulsa Devolver o reembolsar\n3. Elige "
            "\"Reembolso al método de pago original\"\n\nCuando recibamos el artículo, el reembolso se procesa "
            "en 2 días hábiles.",
        ]),
        "pt": ([
            "Quanto tempo demora o reembolso?",
            "Devolvi o pedido de {product} há {days} dias e ainda não recebi meu dinheiro de volta",
            "Quando vou receber o reembolso do pedido {order_p}?",
            "posso pedir reembolso em vez de crédito na loja?",
            "Me prometeram um reembolso de {amount} mas não aparece no meu cartão",
        ], [
            "Os reembolsos são feitos na forma de pagamento original assim que o centro de distribuição recebe e "
            "confere o produto, normalmente em até 2 dias úteis após a chegada. Depois disso, o banco pode levar "
            "de 5 a 10 dias úteis para mostrar o valor na fatura.",
            "Vejo que o reembolso de {amount} do pedido {order} já foi processado do nosso lado. Dependendo do "
            "banco, pode levar até 10 dias úteis para aparecer.\n\nSe depois desse prazo ainda não aparecer, "
            "envie o extrato a partir da data do reembolso e vamos rastrear o pagamento.",
            "Sim, você pode escolher o reembolso na forma de pagamento original em vez do crédito na loja. É "
            "assim:\n\n1. Acesse Meus pedidos e selecione o pedido\n2. Toque em Devolver ou reembolsar\n3. "
            "Escolha \"Reembolso na forma de pagamento original\"\n\nQuando recebermos o produto, o reembolso é "
            "processado em até 2 dias úteis.",
        ]),
    },
    "return_item": {
        "en": ([
            "How do I return the {product}? It's not what I expected",
            "I want to return an item from order {order_p}, what are the steps?",
            "is return shipping free?",
            "The {product} arrived damaged, can I send it back?",
            "what's your return policy for opened items",
        ], [
            "You can return most items within 30 days of delivery. To start a return:\n\n1. Open My Orders and "
            "choose order {order}\n2. Select the item and the reason for the return\n3. Print the prepaid label "
            "or show the QR code at a drop-off point\n\nReturn shipping is free for damaged or wrong items.",
            "I've set up a free return for order {order}: you'll receive a prepaid label by email in a few "
            "minutes. Once the carrier scans the package, we'll ship the replacement right away, so you don't "
            "need to wait for it to reach our warehouse.",
            "Opened items can be returned within 30 days as long as they're complete and in good condition. "
            "Return shipping is free when you use a drop-off point; home pickup has a small fee.\n\nPersonal "
            "care items can only be returned if the seal is intact.",
        ]),
        "es": ([
            "¿Cómo devuelvo mi pedido de {product}? No es lo que esperaba",
            "Quiero devolver un artículo del pedido {order_p}, ¿qué tengo que hacer?",
            "¿la devolución es gratis?",
            "Mi pedido de {product} llegó dañado, ¿puedo devolverlo?",
            "cual es la politica de devoluciones si ya abri el producto",
        ], [
            "Puedes devolver la mayoría de los artículos en los 30 días siguientes a la entrega. Para empezar "
            "la devolución:\n\n1. Abre Mis pedidos y elige el pedido {order}\n2. Selecciona el artículo y el "
            "motivo de la devolución\n3. Imprime la etiqueta prepagada o muestra el código QR en un punto de "
            "entrega\n\nEl envío de la devolución es gratis si el artículo llegó dañado o no es el correcto.",
            "He preparado una devolución gratuita para el pedido {order}: en unos minutos recibirás por correo "
            "una etiqueta prepagada. En cuanto el transportista escanee el paquete, te enviaremos el reemplazo, "
            "sin esperar a que llegue a nuestro almacén.",
            "Los artículos abiertos se pueden devolver en 30 días siempre que estén completos y en buen estado. "
            "La devolución es gratis si usas un punto de entrega; la recogida a domicilio tiene un pequeño "
            "coste.\n\nLos artículos de cuidado personal solo se aceptan con el precinto intacto.",
        ]),
        "pt": ([
            "Como devolvo meu pedido de {product}? Não era o que eu esperava",
            "Quero devolver um item do pedido {order_p}, como faço?",
            "a devolução é grátis?",
            "Meu pedido de {product} chegou danificado, posso devolver?",
            "qual a politica de devolucao pra produto aberto",
        ], [
            "Você pode devolver a maioria dos produtos em até 30 dias após a entrega. Para iniciar a devolução:"
            "\n\n1. Abra Meus pedidos e escolha o pedido {order}\n2. Selecione o item e o motivo da devolução\n"
            "3. Imprima a etiqueta pré-paga ou mostre o QR code em um ponto de coleta\n\nO frete da devolução é "
            "grátis para produtos danificados ou errados.",
            "Preparei uma devolução gratuita para o pedido {order}: em alguns minutos você recebe por e-mail uma "
            "etiqueta pré-paga. Assim que a transportadora registrar o pacote, enviamos a troca, sem esperar ele "
            "chegar ao nosso centro de distribuição.",
            "Produtos abertos podem ser devolvidos em até 30 dias, desde que estejam completos e em bom estado. "
            "A devolução é grátis em um ponto de coleta; a retirada em casa tem uma pequena taxa.\n\nItens de "
            "cuidado pessoal só são aceitos com o lacre intacto.",
        ]),
    },
    "cancel_order": {
        "en": ([
            "I want to cancel my order {order_p}",
            "Can I still cancel the {product}? I ordered it by mistake",
            "how do i cancel an order that already shipped",
            "Please cancel order {order_p}, I found it cheaper elsewhere",
        ], [
            "Done! Order {order} has been cancelled before shipping. You'll receive a confirmation email shortly, "
            "and the refund of {amount} will go back to your original payment method within 3-5 business days.",
            "Order {order} has already shipped, so it can't be cancelled anymore. You have two options:\n\n- "
            "Refuse the delivery when the carrier arrives, and it will come back to us automatically\n- Accept it "
            "and start a free return from My Orders within 30 days\n\nEither way, you'll get a full refund once "
            "it's back at our warehouse.",
            "You can cancel an order yourself while it's still in \"Preparing\" status: go to My Orders, open the "
            "order and tap Cancel order. If the button isn't there, the order has already been handed to the "
            "carrier.",
        ]),
        "es": ([
            "Quiero cancelar mi pedido {order_p}",
            "¿Todavía puedo cancelar mi pedido de {product}? Lo pedí por error",
            "como cancelo un pedido que ya se envio",
            "Cancelen el pedido {order_p} por favor, lo encontré más barato en otro sitio",
        ], [
            "¡Listo! El pedido {order} se ha cancelado antes del envío. Recibirás un correo de confirmación en "
            "breve y el reembolso de {amount} volverá a tu método de pago original en 3-5 días hábiles.",
            "El pedido {order} ya se ha enviado, así que no se puede cancelar. Tienes dos opciones:\n\n- "
            "Rechazar la entrega cuando llegue el repartidor; el paquete volverá a nosotros automáticamente\n- "
            "Aceptarlo y hacer una devolución gratuita desde Mis pedidos en 30 días\n\nEn ambos casos recibirás "
            "el reembolso completo cuando llegue a nuestro almacén.",
            "Puedes cancelar un pedido tú mismo mientras esté \"En preparación\": entra en Mis pedidos, abre el "
            "pedido y pulsa Cancelar pedido. Si no aparece el botón, el pedido ya se entregó al transportista.",
        ]),
        "pt": ([
            "Quero cancelar meu pedido {order_p}",
            "Ainda dá pra cancelar meu pedido de {product}? Comprei sem querer",
            "como cancelo um pedido que ja foi enviado",
            "Cancelem o pedido {order_p} por favor, achei mais barato em outro lugar",
        ], [
            "Pronto! O pedido {order} foi cancelado antes do envio. Você vai receber um e-mail de confirmação em "
            "instantes e o reembolso de {amount} volta para a forma de pagamento original em 3 a 5 dias úteis.",
            "O pedido {order} já foi enviado, então não é mais possível cancelar. Você tem duas opções:\n\n- "
            "Recusar a entrega quando o entregador chegar; o pacote volta para nós automaticamente\n- Receber e "
            "fazer uma devolução grátis em Meus pedidos em até 30 dias\n\nNos dois casos, você recebe o "
            "reembolso integral quando o produto voltar ao nosso centro de distribuição.",
            "Você mesmo pode cancelar um pedido enquanto ele estiver \"Em separação\": acesse Meus pedidos, abra "
            "o pedido e toque em Cancelar pedido. Se o botão não aparecer, o pedido já foi entregue à "
            "transportadora.",
        ]),
    },
    "change_address": {
        "en": ([
            "Can I change the delivery address for order {order_p}?",
            "I moved, how do I update my shipping address?",
            "wrong address on my order, pls help",
            "Can you send the package to my office instead of my home?",
        ], [
            "Yes, as long as the order hasn't shipped. I've unlocked the address for order {order}; go to My "
            "Orders > Change address and enter the new one within the next 2 hours.\n\nIf the order has already "
            "shipped, you can redirect it from the carrier's tracking page.",
            "To update your saved address, go to Account > Addresses, edit the default address and save. New "
            "orders will use it automatically. Orders already placed keep the address they were created with, "
            "so check them under My Orders.",
            "I can't change the address on an order that's already with the carrier, but you can redirect it for "
            "free from the {carrier} tracking page using your tracking number. You can also choose a pickup "
            "point near your office.",
        ]),
        "es": ([
            "¿Puedo cambiar la dirección de entrega del pedido {order_p}?",
            "Me he mudado, ¿cómo actualizo mi dirección de envío?",
            "puse mal la direccion en mi pedido, ayuda porfa",
            "¿Me pueden enviar el paquete a la oficina en vez de a mi casa?",
        ], [
            "Sí, siempre que el pedido no se haya enviado. He desbloqueado la dirección del pedido {order}; "
            "entra en Mis pedidos > Cambiar dirección e introduce la nueva en las próximas 2 horas.\n\nSi el "
            "pedido ya salió, puedes redirigirlo desde la página de seguimiento del transportista.",
            "Para actualizar tu dirección guardada, ve a Cuenta > Direcciones, edita la dirección principal y "
            "guarda. Los pedidos nuevos la usarán automáticamente; los que ya hiciste mantienen la dirección "
            "original, así que revísalos en Mis pedidos.",
            "No puedo cambiar la dirección de un pedido que ya está con el transportista, pero puedes "
            "redirigirlo gratis desde la página de seguimiento de {carrier} con tu número de seguimiento. "
            "También puedes elegir un punto de recogida cerca de tu oficina.",
        ]),
        "pt": ([
            "Posso mudar o endereço de entrega do pedido {order_p}?",
            "Me mudei, como atualizo meu endereço de entrega?",
            "coloquei o endereço errado no pedido, me ajuda",
            "Vocês podem mandar o pacote pro meu trabalho em vez de casa?",
        ], [
            "Sim, desde que o pedido ainda não tenha sido enviado. Liberei a alteração do endereço do pedido "
            "{order}; acesse Meus pedidos > Alterar endereço e informe o novo nas próximas 2 horas.\n\nSe o "
            "pedido já saiu, você pode redirecioná-lo pela página de rastreio da transportadora.",
            "Para atualizar seu endereço salvo, acesse Conta > Endereços, edite o endereço principal e salve. Os "
            "próximos pedidos vão usar o novo endereço automaticamente; os que já foram feitos mantêm o endereço "
            "original, então confira em Meus pedidos.",
            "Não consigo mudar o endereço de um pedido que já está com a transportadora, mas você pode "
            "redirecioná-lo de graça pela página de rastreio da {carrier}. Você também pode escolher um ponto de "
            "retirada perto do seu trabalho.",
        ]),
    },
    "password_reset": {
        "en": ([
            "I forgot my password",
            "How do I reset my password? The reset email never arrives",
            "cant remember my password and the app keeps saying invalid credentials",
            "how to change my password",
        ], [
            "No problem! To reset your password:\n\n1. Tap \"Forgot password?\" on the sign-in screen\n2. Enter "
            "the email address on your account\n3. Open the link we send you (it's valid for 30 minutes) and "
            "choose a new password\n\nIf the email doesn't arrive within 5 minutes, check your spam folder.",
            "If the reset email isn't arriving, first check the spam or promotions folder. Make sure you're "
            "using the same email you signed up with; if you registered with your phone number, choose \"Reset "
            "by SMS\" instead.\n\nStill nothing? I can send the link again from here; it may take a couple of "
            "minutes.",
            "You can change your password anytime from Account > Security > Change password. You'll need your "
            "current password; if you don't remember it, use \"Forgot password?\" on the sign-in screen.",
        ]),
        "es": ([
            "Olvidé mi contraseña",
            "¿Cómo restablezco la contraseña? No me llega el correo para cambiarla",
            "no me acuerdo de la contraseña y la app dice credenciales incorrectas",
            "como cambio mi contraseña",
        ], [
            "¡Sin problema! Para restablecer tu contraseña:\n\n1. Pulsa \"¿Olvidaste tu contraseña?\" en la "
            "pantalla de inicio de sesión\n2. Escribe el correo de tu cuenta\n3. Abre el enlace que te enviamos "
            "(vale 30 minutos) y elige una contraseña nueva\n\nSi el correo no llega en 5 minutos, revisa la "
            "carpeta de spam.",
            "Si no te llega el correo, revisa primero la carpeta de spam o promociones. Comprueba que usas el "
            "mismo correo con el que te registraste; si te registraste con tu número, elige \"Restablecer por "
            "SMS\".\n\n¿Sigue sin llegar? Puedo enviarte el enlace de nuevo desde aquí; puede tardar un par de "
            "minutos.",
            "Puedes cambiar tu contraseña cuando quieras desde Cuenta > Seguridad > Cambiar contraseña. "
            "Necesitarás la contraseña actual; si no la recuerdas, usa \"¿Olvidaste tu contraseña?\" al iniciar "
            "sesión.",
        ]),
        "pt": ([
            "Esqueci minha senha",
            "Como redefino minha senha? O e-mail de redefinição não chega",
            "nao lembro a senha e o app fica falando credenciais inválidas",
            "como troco minha senha",
        ], [
            "Sem problemas! Para redefinir sua senha:\n\n1. Toque em \"Esqueceu a senha?\" na tela de login\n2. "
            "Informe o e-mail da sua conta\n3. Abra o link que enviamos (vale por 30 minutos) e escolha uma nova "
            "senha\n\nSe o e-mail não chegar em 5 minutos, confira a pasta de spam.",
            "Se o e-mail não está chegando, confira primeiro a pasta de spam ou promoções. Verifique se está "
            "usando o mesmo e-mail do cadastro; se você se cadastrou com o número do celular, escolha "
            "\"Redefinir por SMS\".\n\nAinda nada? Posso reenviar o link daqui; pode levar alguns minutos.",
            "Você pode trocar sua senha quando quiser em Conta > Segurança > Alterar senha. Vai precisar da "
            "senha atual; se não lembrar, use \"Esqueceu a senha?\" na tela de login.",
        ]),
    },
    "login_problem": {
        "en": ([
            "I can't log in to the app, it says my account is locked",
            "The verification code never arrives on my {device}",
            "app keeps logging me out every 5 minutes",
            "I get an error when I try to sign in with Google",
        ], [
            "Your account is temporarily locked after several failed attempts; it unlocks automatically after 30 "
            "minutes. If you need access sooner, reset your password with \"Forgot password?\" and the lock is "
            "removed right away.",
            "Let's try a few things:\n\n- Check that your {device} has signal and that messages from short "
            "numbers aren't blocked\n- Wait 60 seconds and tap \"Resend code\"\n- Choose \"Send code by email\" "
            "instead\n\nIf none of these work, I can update the phone number on your account after verifying "
            "your identity.",
            "Being logged out repeatedly usually means the app is out of date. Update it from the store, then "
            "sign in again. If it keeps happening, clear the app's cache in your {device}'s settings and try "
            "once more.",
            "Google sign-in errors usually come from an outdated app or a browser that blocks cookies. Update the "
            "app, or sign in with your email and password instead; it's the same account. If you never set a "
            "password, use \"Forgot password?\" to create one.",
        ]),
        "es": ([
            "No puedo entrar en la app, dice que mi cuenta está bloqueada",
            "Nunca me llega el código de verificación al {device}",
            "la app me cierra la sesion cada 5 minutos",
            "Me sale un error al iniciar sesión con Google",
        ], [
            "Tu cuenta se bloquea temporalmente tras varios intentos fallidos y se desbloquea sola a los 30 "
            "minutos. Si necesitas entrar antes, restablece la contraseña con \"¿Olvidaste tu contraseña?\" y el "
            "bloqueo se quita al momento.",
            "Probemos varias cosas:\n\n- Comprueba que tu {device} tiene cobertura y que no bloqueas los SMS de "
            "números cortos\n- Espera 60 segundos y pulsa \"Reenviar código\"\n- Elige \"Enviar código por "
            "correo\"\n\nSi nada funciona, puedo actualizar el número de tu cuenta después de verificar tu "
            "identidad.",
            "Que se cierre la sesión una y otra vez suele significar que la app no está actualizada. Actualízala "
            "desde la tienda y vuelve a iniciar sesión. Si sigue pasando, borra la caché de la app en los ajustes "
            "del {device} y prueba otra vez.",
            "Los errores al entrar con Google suelen deberse a una app desactualizada o a un navegador que bloquea "
            "las cookies. Actualiza la app o entra con tu correo y contraseña; es la misma cuenta. Si nunca "
            "creaste una contraseña, usa \"¿Olvidaste tu contraseña?\" para crearla.",
        ]),
        "pt": ([
            "Não consigo entrar no app, diz que minha conta está bloqueada",
            "O código de verificação nunca chega no meu {device}",
            "o app fica me deslogando a cada 5 minutos",
            "Dá erro quando tento entrar com o Google",
        ], [
            "Sua conta fica bloqueada temporariamente depois de várias tentativas erradas e é liberada "
            "automaticamente em 30 minutos. Se precisar entrar antes, redefina a senha em \"Esqueceu a senha?\" "
            "e o bloqueio sai na hora.",
            "Vamos tentar algumas coisas:\n\n- Confira se o {device} está com sinal e se as mensagens de números "
            "curtos não estão bloqueadas\n- Espere 60 segundos e toque em \"Reenviar código\"\n- Escolha "
            "\"Enviar código por e-mail\"\n\nSe nada funcionar, posso atualizar o número da sua conta depois de "
            "confirmar sua identidade.",
            "Ser deslogado toda hora normalmente significa que o app está desatualizado. Atualize pela loja e "
            "entre de novo. Se continuar, limpe o cache do app nas configurações do {device} e tente outra vez.",
            "Erros ao entrar com o Google normalmente vêm de um app desatualizado ou de um navegador que bloqueia "
            "cookies. Atualize o app ou entre com seu e-mail e senha; é a mesma conta. Se você nunca criou uma "
            "senha, use \"Esqueceu a senha?\" para criar.",
        ]),
    },
    "invoice": {
        "en": ([
            "Where can I download my invoice for {month}?",
            "I need an invoice with my company's tax ID for order {order_p}",
            "how do I get a copy of last month's bill",
            "can you resend the invoice to my email",
        ], [
            "You can download all your invoices from Account > Billing > Invoices. Select {month} and tap "
            "Download PDF. Invoices are available from the 3rd of each month.",
            "To get an invoice with your company details, go to Account > Billing > Tax details, add the company "
            "name and tax ID, and then request a new invoice for order {order} from My Orders > Invoice. The "
            "updated invoice is generated within 24 hours.",
            "I've resent the invoice for {month} to the email address on your account. It should arrive in a few "
            "minutes; if it doesn't, check the spam folder or download it directly from Account > Billing.",
        ]),
        "es": ([
            "¿Dónde descargo mi factura de {month}?",
            "Necesito una factura con el NIF de mi empresa para el pedido {order_p}",
            "como consigo una copia de la factura del mes pasado",
            "me pueden reenviar la factura al correo",
        ], [
            "Puedes descargar todas tus facturas desde Cuenta > Facturación > Facturas. Selecciona {month} y "
            "pulsa Descargar PDF. Las facturas están disponibles a partir del día 3 de cada mes.",
            "Para obtener una factura con los datos de tu empresa, ve a Cuenta > Facturación > Datos fiscales, "
            "añade la razón social y el número fiscal, y solicita una nueva factura del pedido {order} desde Mis "
            "pedidos > Factura. La factura actualizada se genera en 24 horas.",
            "Te he reenviado la factura de {month} al correo de tu cuenta. Debería llegarte en unos minutos; si "
            "no, revisa la carpeta de spam o descárgala directamente en Cuenta > Facturación.",
        ]),
        "pt": ([
            "Onde baixo minha fatura de {month}?",
            "Preciso de nota fiscal com o CNPJ da minha empresa para o pedido {order_p}",
            "como pego a segunda via da fatura do mês passado",
            "vocês podem reenviar a fatura pro meu e-mail",
        ], [
            "Você pode baixar todas as suas faturas em Conta > Pagamentos > Faturas. Selecione {month} e toque "
            "em Baixar PDF. As faturas ficam disponíveis a partir do dia 3 de cada mês.",
            "Para emitir a nota fiscal com os dados da sua empresa, acesse Conta > Pagamentos > Dados fiscais, "
            "informe a razão social e o CNPJ e depois solicite uma nova nota do pedido {order} em Meus pedidos > "
            "Nota fiscal. A nota atualizada é gerada em até 24 horas.",
            "Reenviei a fatura de {month} para o e-mail da sua conta. Ela deve chegar em alguns minutos; se não "
            "chegar, confira o spam ou baixe direto em Conta > Pagamentos.",
        ]),
    },
    "billing_error": {
        "en": ([
            "I was charged twice this month",
            "My bill is {amount} but my plan is much cheaper, why?",
            "there's a charge on my bill I don't recognize",
            "You charged me for roaming but I didn't travel in {month}",
        ], [
            "I've checked your account: there are two charges of {amount} on the same day, and one of them is a "
            "duplicate authorization. It will be released automatically within 3-5 business days. If it's still "
            "there after that, I'll raise a refund request for you.",
            "The difference on your bill comes from:\n\n- A one-off charge for the change to the {plan} plan "
            "(prorated)\n- Extra data purchased during the month\n\nYour regular monthly fee hasn't changed. From "
            "next month you'll be billed only for your plan.",
            "I've opened a billing review for the roaming charges in {month}. While we review it, the disputed "
            "amount ({amount}) won't be collected. You'll get the result within 5 business days, and if the "
            "charge was incorrect it will be credited on your next bill.",
        ]),
        "es": ([
            "Me han cobrado dos veces este mes",
            "Mi factura es de {amount} pero mi tarifa es mucho más barata, ¿por qué?",
            "hay un cargo en mi factura que no reconozco",
            "Me cobraron roaming pero no viajé en {month}",
        ], [
            "He revisado tu cuenta: hay dos cargos de {amount} el mismo día y uno de ellos es una autorización "
            "duplicada. Se liberará automáticamente en 3-5 días hábiles. Si después sigue ahí, abriré una "
            "solicitud de reembolso.",
            "La diferencia en tu factura se debe a:\n\n- Un cargo único por el cambio a la tarifa {plan} "
            "(prorrateado)\n- Datos extra comprados durante el mes\n\nTu cuota mensual no ha cambiado. A partir "
            "del mes que viene solo se te cobrará la tarifa.",
            "He abierto una revisión de los cargos de roaming de {month}. Mientras la revisamos, no se cobrará el "
            "importe reclamado ({amount}). Tendrás la respuesta en 5 días hábiles y, si el cargo era incorrecto, "
            "se abonará en tu próxima factura.",
        ]),
        "pt": ([
            "Fui cobrado duas vezes esse mês",
            "Minha conta veio {amount} mas meu plano é bem mais barato, por quê?",
            "tem uma cobrança na minha fatura que eu não reconheço",
            "Vocês me cobraram roaming mas eu não viajei em {month}",
        ], [
            "Verifiquei sua conta: há duas cobranças de {amount} no mesmo dia, e uma delas é uma autorização "
            "duplicada. Ela será estornada automaticamente em 3 a 5 dias úteis. Se continuar aparecendo depois "
            "disso, abro um pedido de reembolso para você.",
            "A diferença na sua fatura vem de:\n\n- Uma cobrança única pela troca para o plano {plan} "
            "(proporcional)\n- Pacote de dados extra comprado durante o mês\n\nSua mensalidade não mudou. A "
            "partir do mês que vem, você paga só o plano.",
            "Abri uma contestação das cobranças de roaming de {month}. Enquanto analisamos, o valor contestado "
            "({amount}) não será cobrado. Você recebe a resposta em até 5 dias úteis e, se a cobrança estiver "
            "errada, o valor volta como crédito na próxima fatura.",
        ]),
    },
    "plan_change": {
        "en": ([
            "I want to upgrade to the {plan} plan",
            "What plans do you have with more data?",
            "how much is the {plan} plan per month",
            "Can I downgrade my plan without a penalty?",
        ], [
            "Sure! You can switch to {plan} from Account > My plan > Change plan. The change takes effect "
            "immediately and the first bill will be prorated. Your number and balance stay the same.",
            "Here are our current plans with more data:\n\n- Basic 10GB: {price1}/month\n- Plus 30GB: "
            "{price2}/month\n- Unlimited: {price3}/month\n\nAll of them include unlimited calls and texts, and "
            "you can change plans anytime without fees.",
            "You can downgrade at the end of your billing cycle without any penalty, unless you're on a "
            "discounted 12-month promotion. In that case, changing plan early means losing the discount for the "
            "remaining months.",
        ]),
        "es": ([
            "Quiero cambiarme a la tarifa {plan}",
            "¿Qué tarifas tienen con más datos?",
            "cuanto cuesta al mes la tarifa {plan}",
            "¿Puedo bajar de tarifa sin penalización?",
        ], [
            "¡Claro! Puedes cambiarte a {plan} desde Cuenta > Mi tarifa > Cambiar tarifa. El cambio es inmediato "
            "y la primera factura se prorrateará. Mantienes tu número y tu saldo.",
            "Estas son nuestras tarifas con más datos:\n\n- Basic 10GB: {price1}/mes\n- Plus 30GB: {price2}/mes\n"
            "- Unlimited: {price3}/mes\n\nTodas incluyen llamadas y SMS ilimitados, y puedes cambiar de tarifa "
            "cuando quieras sin coste.",
            "Puedes bajar de tarifa al final de tu ciclo de facturación sin penalización, salvo que tengas una "
            "promoción con descuento de 12 meses. En ese caso, cambiar antes de tiempo supone perder el "
            "descuento de los meses que quedan.",
        ]),
        "pt": ([
            "Quero mudar para o plano {plan}",
            "Quais planos vocês têm com mais internet?",
            "quanto custa o plano {plan} por mês",
            "Posso mudar para um plano menor sem multa?",
        ], [
            "Claro! Você pode mudar para o {plan} em Conta > Meu plano > Trocar plano. A mudança vale na hora e a "
            "primeira fatura vem proporcional. Seu número e seu saldo continuam os mesmos.",
            "Estes são nossos planos com mais internet:\n\n- Basic 10GB: {price1}/mês\n- Plus 30GB: {price2}/mês"
            "\n- Unlimited: {price3}/mês\n\nTodos têm ligações e SMS ilimitados, e você pode trocar de plano "
            "quando quiser sem taxa.",
            "Você pode mudar para um plano menor no fim do ciclo de cobrança sem multa, a não ser que esteja em "
            "uma promoção de 12 meses com desconto. Nesse caso, trocar antes significa perder o desconto dos "
            "meses restantes.",
        ]),
    },
    "sim_card": {
        "en": ([
            "My SIM card stopped working",
            "How do I activate my new SIM?",
            "I lost my {device}, can you block my SIM card?",
            "can i get an eSIM instead of a physical sim",
            "my {device} says no SIM card inserted",
        ], [
            "To activate your new SIM: insert it, restart your {device} and wait up to 30 minutes. If you still "
            "have no signal after that, go to Account > My line > Activate SIM and enter the 19-digit ICCID "
            "printed on the card.",
            "I've blocked the SIM on your line right away, so no calls or data can be used. Your number is kept. "
            "You can order a replacement SIM or eSIM from Account > My line > Replace SIM; the first replacement "
            "is free.",
            "Yes, you can switch to eSIM at no cost if your {device} supports it. Go to Account > My line > "
            "Switch to eSIM and scan the QR code we show you. Your physical SIM will stop working once the eSIM "
            "is active.",
            "\"No SIM card\" usually means the card isn't making contact or is damaged. Try this:\n\n- Turn off "
            "the {device}, take the SIM out, clean it gently and put it back\n- Try the SIM in another phone\n- "
            "If it doesn't work in any phone, request a free replacement from Account > My line",
        ]),
        "es": ([
            "Mi tarjeta SIM ha dejado de funcionar",
            "¿Cómo activo mi SIM nueva?",
            "Perdí el {device}, ¿pueden bloquear mi tarjeta SIM?",
            "puedo tener una eSIM en vez de la sim fisica",
            "mi {device} dice que no hay tarjeta SIM",
        ], [
            "Para activar tu SIM nueva: insértala, reinicia el {device} y espera hasta 30 minutos. Si después "
            "sigues sin cobertura, entra en Cuenta > Mi línea > Activar SIM e introduce el ICCID de 19 dígitos "
            "que aparece en la tarjeta.",
            "He bloqueado la SIM de tu línea al momento, así que no se pueden hacer llamadas ni usar datos. "
            "Conservas tu número. Puedes pedir una SIM o eSIM de reemplazo en Cuenta > Mi línea > Sustituir SIM; "
            "el primer reemplazo es gratis.",
            "Sí, puedes pasarte a eSIM sin coste si tu {device} es compatible. Ve a Cuenta > Mi línea > Cambiar a "
            "eSIM y escanea el código QR que te mostraremos. La SIM física dejará de funcionar cuando se active "
            "la eSIM.",
            "\"Sin tarjeta SIM\" suele significar que la tarjeta no hace buen contacto o está dañada. Prueba "
            "esto:\n\n- Apaga el {device}, saca la SIM, límpiala con cuidado y vuelve a ponerla\n- Prueba la SIM "
            "en otro teléfono\n- Si no funciona en ninguno, pide un reemplazo gratis en Cuenta > Mi línea",
        ]),
        "pt": ([
            "Meu chip parou de funcionar",
            "Como ativo meu chip novo?",
            "Perdi meu {device}, vocês podem bloquear meu chip?",
            "da pra trocar o chip fisico por eSIM?",
            "meu {device} diz que não tem chip",
        ], [
            "Para ativar seu chip novo: coloque no aparelho, reinicie o {device} e aguarde até 30 minutos. Se "
            "continuar sem sinal, acesse Conta > Minha linha > Ativar chip e informe o ICCID de 19 dígitos "
            "impresso no cartão.",
            "Bloqueei o chip da sua linha agora mesmo, então ninguém consegue fazer ligações nem usar internet. "
            "Seu número continua seu. Você pode pedir um chip ou eSIM novo em Conta > Minha linha > Trocar chip; "
            "a primeira troca é grátis.",
            "Sim, você pode mudar para eSIM sem custo se o seu {device} for compatível. Acesse Conta > Minha "
            "linha > Mudar para eSIM e leia o QR code que vamos mostrar. O chip físico para de funcionar quando "
            "o eSIM for ativado.",
            "\"Sem chip\" normalmente quer dizer que o chip não está fazendo contato ou está danificado. Tente "
            "isto:\n\n- Desligue o {device}, tire o chip, limpe com cuidado e coloque de volta\n- Teste o chip em "
            "outro aparelho\n- Se não funcionar em nenhum, peça um chip novo grátis em Conta > Minha linha",
        ]),
    },
    "roaming": {
        "en": ([
            "Does my plan include roaming in {country}?",
            "I'm traveling to {country} next week, how do I activate roaming?",
            "how much does data cost abroad",
            "no data while traveling in {country}, help",
        ], [
            "Roaming in {country} is included in your plan at no extra cost, using your national allowance of "
            "data, calls and texts. It's active by default; just make sure \"Data roaming\" is turned on in your "
            "{device}'s settings.",
            "For {country}, you can add the Travel Pass: 5 GB for 7 days for {pass}. Activate it from Account > "
            "Roaming before you leave or when you arrive. Without the pass, data is charged per MB at standard "
            "rates.",
            "If you have no data in {country}:\n\n- Turn on \"Data roaming\" in your {device}'s settings\n- "
            "Select the network manually in Settings > Mobile network\n- Restart the {device}\n\nYour line has "
            "roaming active, so it should connect in a few minutes.",
        ]),
        "es": ([
            "¿Mi tarifa incluye roaming en {country}?",
            "Viajo a {country} la semana que viene, ¿cómo activo el roaming?",
            "cuanto cuestan los datos en el extranjero",
            "no tengo datos estando en {country}, ayuda",
        ], [
            "El roaming en {country} está incluido en tu tarifa sin coste extra y usa tus datos, llamadas y SMS "
            "nacionales. Viene activado por defecto; solo asegúrate de tener activada la \"Itinerancia de datos\" "
            "en los ajustes del {device}.",
            "Para {country} puedes añadir el Bono Viaje: 5 GB durante 7 días por {pass}. Actívalo en Cuenta > "
            "Roaming antes de salir o al llegar. Sin el bono, los datos se cobran por MB a la tarifa estándar.",
            "Si no tienes datos en {country}:\n\n- Activa la \"Itinerancia de datos\" en los ajustes del {device}"
            "\n- Elige la red manualmente en Ajustes > Red móvil\n- Reinicia el {device}\n\nTu línea tiene el "
            "roaming activo, así que debería conectarse en unos minutos.",
        ]),
        "pt": ([
            "Meu plano inclui roaming em {country}?",
            "Vou viajar pra {country} semana que vem, como ativo o roaming?",
            "quanto custa a internet no exterior",
            "estou sem internet em {country}, me ajuda",
        ], [
            "O roaming em {country} está incluído no seu plano sem custo extra, usando sua franquia nacional de "
            "internet, ligações e SMS. Ele já vem ativo; só confira se o \"Roaming de dados\" está ligado nas "
            "configurações do {device}.",
            "Para {country}, você pode contratar o Passaporte Viagem: 5 GB por 7 dias por {pass}. Ative em Conta "
            "> Roaming antes de viajar ou ao chegar. Sem o pacote, a internet é cobrada por MB na tarifa padrão.",
            "Se você está sem internet em {country}:\n\n- Ligue o \"Roaming de dados\" nas configurações do "
            "{device}\n- Escolha a rede manualmente em Configurações > Rede móvel\n- Reinicie o {device}\n\nSua "
            "linha está com roaming ativo, então deve conectar em alguns minutos.",
        ]),
    },
    "slow_internet": {
        "en": ([
            "My internet is super slow since yesterday",
            "the wifi keeps disconnecting",
            "I'm paying for fiber but only getting 20 Mbps",
            "mobile data not working on my {device}",
        ], [
            "I ran a remote check on your line and there's a known incident in your area affecting speed. Our "
            "technicians are working on it and expect to fix it within {days} hours. You'll get a text message "
            "when it's resolved.",
            "Let's try to fix it:\n\n1. Restart the router by unplugging it for 30 seconds\n2. Connect a device "
            "by cable and run a speed test\n3. If the speed is fine by cable, move the router to a central, "
            "elevated spot\n\nIf the cable speed is still low, I'll schedule a technician visit for free.",
            "Your line is syncing correctly, so the issue is likely the Wi-Fi. Try switching your devices to the "
            "5 GHz network, which is faster and less congested. If the problem continues, I can send you a "
            "Wi-Fi extender at no cost.",
            "Let's check your mobile data:\n\n- Make sure mobile data is on and airplane mode is off\n- Check in "
            "the app, under My line, that you haven't used up your data allowance\n- Restart the {device}\n\nIf "
            "it still doesn't work, I can reset your line's network settings remotely; it takes about 10 "
            "minutes.",
        ]),
        "es": ([
            "Mi internet va lentísimo desde ayer",
            "el wifi se desconecta todo el rato",
            "Pago fibra pero solo me llegan 20 megas",
            "no me funcionan los datos en el {device}",
        ], [
            "He hecho una comprobación remota de tu línea y hay una incidencia conocida en tu zona que afecta a "
            "la velocidad. Los técnicos ya están trabajando y esperan solucionarla en {days} horas. Te "
            "avisaremos por SMS cuando esté resuelta.",
            "Vamos a intentar solucionarlo:\n\n1. Reinicia el router desenchufándolo 30 segundos\n2. Conecta un "
            "dispositivo por cable y haz un test de velocidad\n3. Si por cable va bien, coloca el router en un "
            "lugar central y elevado\n\nSi por cable sigue lento, te programo una visita técnica gratuita.",
            "Tu línea sincroniza correctamente, así que el problema parece estar en el wifi. Prueba a conectar "
            "tus dispositivos a la red de 5 GHz, que es más rápida y está menos saturada. Si continúa, puedo "
            "enviarte un amplificador wifi sin coste.",
            "Vamos a revisar tus datos móviles:\n\n- Comprueba que los datos móviles están activados y el modo "
            "avión desactivado\n- Mira en la app, en Mi línea, que no hayas agotado tus datos\n- Reinicia el "
            "{device}\n\nSi sigue sin funcionar, puedo restablecer la configuración de red de tu línea en "
            "remoto; tarda unos 10 minutos.",
        ]),
        "pt": ([
            "Minha internet está muito lenta desde ontem",
            "o wifi fica caindo toda hora",
            "Pago fibra mas só chega 20 mega",
            "a internet móvel não funciona no meu {device}",
        ], [
            "Fiz um teste remoto na sua linha e há uma instabilidade conhecida na sua região afetando a "
            "velocidade. Nossos técnicos já estão trabalhando e a previsão é resolver em {days} horas. Você vai "
            "receber um SMS quando estiver normalizado.",
            "Vamos tentar resolver:\n\n1. Reinicie o roteador tirando da tomada por 30 segundos\n2. Conecte um "
            "aparelho no cabo e faça um teste de velocidade\n3. Se no cabo estiver normal, coloque o roteador "
            "em um lugar central e alto\n\nSe no cabo continuar lento, agendo uma visita técnica gratuita.",
            "Sua linha está sincronizando normalmente, então o problema deve ser o wifi. Tente conectar seus "
            "aparelhos na rede de 5 GHz, que é mais rápida e menos congestionada. Se continuar, posso enviar um "
            "repetidor wifi sem custo.",
            "Vamos verificar sua internet móvel:\n\n- Confira se os dados móveis estão ligados e o modo avião "
            "desligado\n- Veja no app, em Minha linha, se a sua franquia de internet não acabou\n- Reinicie o "
            "{device}\n\nSe continuar sem funcionar, posso reconfigurar a rede da sua linha remotamente; leva "
            "cerca de 10 minutos.",
        ]),
    },
    "payment_failed": {
        "en": ([
            "My card was declined at checkout",
            "payment failed but the money was taken from my account",
            "Why can't I pay with PayPal?",
            "How do I update my card details?",
        ], [
            "A declined payment usually comes from the bank's security checks. Please check that the card isn't "
            "expired and that online payments are enabled, then try again. You can also approve the payment "
            "from your bank's app if it asks for confirmation.",
            "When a payment fails but the money is withheld, it's a pending authorization, not a charge. Your "
            "bank will release it automatically within 3-7 business days. Your order wasn't placed, so you can "
            "try again with another method.",
            "To update your card:\n\n1. Go to Account > Payment methods\n2. Tap Add card and enter the new "
            "details\n3. Set it as default and remove the old one\n\nYour next bill or order will use the new "
            "card.",
            "PayPal is available for orders in the store, but not for monthly bills. For orders, make sure your "
            "PayPal account has a verified card or bank account linked; if the payment window doesn't open, "
            "disable pop-up blockers or pay from the app.",
        ]),
        "es": ([
            "Me rechazaron la tarjeta al pagar",
            "el pago falló pero me quitaron el dinero de la cuenta",
            "¿Por qué no puedo pagar con PayPal?",
            "¿Cómo actualizo los datos de mi tarjeta?",
        ], [
            "Un pago rechazado suele deberse a los controles de seguridad del banco. Comprueba que la tarjeta no "
            "esté caducada y que tenga activados los pagos online, y vuelve a intentarlo. Si tu banco pide "
            "confirmación, puedes aprobar el pago desde su app.",
            "Cuando un pago falla pero el dinero aparece retenido, es una autorización pendiente, no un cargo. "
            "Tu banco la liberará automáticamente en 3-7 días hábiles. El pedido no se realizó, así que puedes "
            "intentarlo de nuevo con otro método.",
            "Para actualizar tu tarjeta:\n\n1. Ve a Cuenta > Métodos de pago\n2. Pulsa Añadir tarjeta e "
            "introduce los datos nuevos\n3. Márcala como principal y elimina la antigua\n\nTu próxima factura o "
            "pedido usará la tarjeta nueva.",
            "PayPal está disponible para los pedidos de la tienda, pero no para las facturas mensuales. Para los "
            "pedidos, comprueba que tu cuenta de PayPal tenga una tarjeta o cuenta bancaria verificada; si no se "
            "abre la ventana de pago, desactiva el bloqueador de ventanas emergentes o paga desde la app.",
        ]),
        "pt": ([
            "Meu cartão foi recusado na hora de pagar",
            "o pagamento deu erro mas o dinheiro saiu da minha conta",
            "Por que não consigo pagar com PayPal?",
            "Como atualizo os dados do meu cartão?",
        ], [
            "Um pagamento recusado normalmente vem das verificações de segurança do banco. Confira se o cartão "
            "não está vencido e se as compras online estão habilitadas, e tente de novo. Se o banco pedir "
            "confirmação, você pode aprovar o pagamento pelo app dele.",
            "Quando o pagamento falha mas o valor fica retido, é uma pré-autorização, não uma cobrança. O banco "
            "libera automaticamente em 3 a 7 dias úteis. O pedido não foi feito, então você pode tentar de novo "
            "com outra forma de pagamento.",
            "Para atualizar seu cartão:\n\n1. Acesse Conta > Formas de pagamento\n2. Toque em Adicionar cartão e "
            "informe os dados novos\n3. Defina como principal e remova o antigo\n\nSua próxima fatura ou pedido "
            "vai usar o cartão novo.",
            "O PayPal está disponível para pedidos na loja, mas não para as faturas mensais. Nos pedidos, confira "
            "se a sua conta PayPal tem um cartão ou conta bancária verificada; se a janela de pagamento não "
            "abrir, desative o bloqueador de pop-ups ou pague pelo app.",
        ]),
    },
}
# Which answers fit which prompt (by template index; the three languages are parallel).
_ANSWER_FOR: dict[str, tuple[tuple[int, ...], ...]] = {
    "order_status": ((0, 1, 2), (1, 2, 0), (0, 1, 2), (0, 1, 2), (0, 2), (0, 1, 2)),
    "late_delivery": ((0, 1, 2), (0, 1, 2), (0, 1, 2), (2, 0, 1), (1,)),
    "refund": ((0,), (0, 1), (1, 0), (2,), (1,)),
    "return_item": ((0, 2), (0,), (2, 0), (1, 0), (2,)),
    "cancel_order": ((0, 1), (0, 1, 2), (1,), (0, 1)),
    "change_address": ((0, 2), (1,), (0, 2), (2, 0)),
    "password_reset": ((0,), (1,), (0,), (2,)),
    "login_problem": ((0,), (1,), (2,), (3,)),
    "invoice": ((0,), (1,), (0, 2), (2,)),
    "billing_error": ((0,), (1,), (1, 0), (2,)),
    "plan_change": ((0,), (1,), (1,), (2,)),
    "sim_card": ((3,), (0,), (1,), (2,), (3,)),
    "roaming": ((0, 1), (0, 1), (1,), (2,)),
    "slow_internet": ((0, 1), (2, 1), (1, 0), (3,)),
    "payment_failed": ((0,), (1,), (3,), (2,)),
}
# Prompts that are complaints (get an empathy opener half of the time); default: every prompt of the intent.
_EMPATHY_PROMPTS = {"refund": (1, 4), "return_item": (3,), "payment_failed": (0, 1, 2)}

_INTENT_WEIGHTS = {
    "order_status": 16, "late_delivery": 10, "refund": 9, "return_item": 7, "cancel_order": 5,
    "change_address": 4, "password_reset": 7, "login_problem": 6, "invoice": 6, "billing_error": 7,
    "plan_change": 6, "sim_card": 6, "roaming": 5, "slow_internet": 7, "payment_failed": 5,
}

# Empathy openers for complaint intents (hard negatives: they start like a refusal, then help).
_EMPATHY = {
    "late_delivery": {
        "en": ["I'm sorry to hear that your order is late.", "I'm sorry to hear about the delay with your order.",
               "I'm sorry for the inconvenience, I know waiting for a package is frustrating.",
               "Sorry about that! Let me check what happened."],
        "es": ["Lamento que tu pedido llegue con retraso.", "Lamento mucho el retraso con tu pedido.",
               "Lo siento, entiendo lo frustrante que es esperar un paquete.",
               "Siento las molestias, déjame revisar qué ha pasado."],
        "pt": ["Sinto muito que seu pedido esteja atrasado.", "Sinto muito pelo atraso no seu pedido.",
               "Desculpe pelo transtorno, sei como é chato esperar uma entrega.",
               "Poxa, lamento pela demora! Vou verificar o que aconteceu."],
    },
    "login_problem": {
        "en": ["I'm sorry you're having trouble signing in.", "Sorry about that! Let's get you back in."],
        "es": ["Lamento que tengas problemas para entrar.", "Lo siento mucho, vamos a solucionarlo."],
        "pt": ["Sinto muito que você esteja com problemas para entrar.", "Desculpe o transtorno! Vamos resolver."],
    },
    "billing_error": {
        "en": ["I'm sorry to hear about the unexpected charge.", "Sorry for the confusion with your bill."],
        "es": ["Lamento el cargo inesperado.", "Lo siento, entiendo que un cargo así preocupa."],
        "pt": ["Sinto muito pela cobrança inesperada.", "Desculpe a confusão com a sua fatura."],
    },
    "slow_internet": {
        "en": ["I'm sorry to hear your connection is slow.", "Sorry for the trouble with your connection!"],
        "es": ["Lamento que tu conexión vaya lenta.", "Siento los problemas con tu conexión."],
        "pt": ["Sinto muito que sua conexão esteja lenta.", "Desculpe pelo problema com a sua conexão!"],
    },
    "payment_failed": {
        "en": ["I'm sorry your payment didn't go through.", "Sorry about the trouble at checkout!"],
        "es": ["Lamento que el pago no se haya completado.", "Siento los problemas con el pago."],
        "pt": ["Sinto muito que o pagamento não tenha sido concluído.", "Desculpe pelo problema no pagamento!"],
    },
    "refund": {
        "en": ["I'm sorry for the wait on your refund."],
        "es": ["Lamento la espera con tu reembolso."],
        "pt": ["Sinto muito pela demora no seu reembolso."],
    },
    "return_item": {
        "en": ["I'm sorry the item arrived damaged."],
        "es": ["Siento que el artículo llegara dañado."],
        "pt": ["Sinto muito que o produto tenha chegado danificado."],
    },
}

_CLOSERS = {
    "en": ["Is there anything else I can help you with?", "Let me know if you need anything else!",
           "Hope this helps!", "You can also manage all of this from our app, under Account."],
    "es": ["¿Hay algo más en lo que pueda ayudarte?", "¡Dime si necesitas algo más!", "¡Espero que te sirva!",
           "También puedes gestionar todo esto desde nuestra app, en Cuenta."],
    "pt": ["Posso ajudar em mais alguma coisa?", "Se precisar de mais alguma coisa, é só falar!",
           "Espero ter ajudado!", "Você também pode fazer tudo isso pelo nosso app, em Conta."],
}

# Extra paragraphs some answers carry (tips, policies): answers run 1-3 short paragraphs.
_EXTRAS = {
    "en": ["Tip: turn on notifications in the app to get real-time updates about your orders, bills and line. "
           "You can choose which alerts you receive under Account > Notifications.",
           "For your security, we'll never ask for your password or your full card number by chat, email or "
           "phone. If someone does, please don't share it and let us know.",
           "If you need more help, our support team is available every day from 8 am to 10 pm by chat, and you "
           "can also reach us from the Help section in the app.",
           "You can see the full history of your requests, including this conversation, under Account > Support "
           "> My cases. Each case has a reference number in case you need to follow up.",
           "Keep in mind that public holidays and bad weather can add one or two days to any of the times "
           "above. We'll always notify you by email if something changes."],
    "es": ["Consejo: activa las notificaciones de la app para recibir al momento las novedades de tus pedidos, "
           "facturas y línea. Puedes elegir qué avisos recibir en Cuenta > Notificaciones.",
           "Por tu seguridad, nunca te pediremos la contraseña ni el número completo de la tarjeta por chat, "
           "correo o teléfono. Si alguien lo hace, no lo compartas y avísanos.",
           "Si necesitas más ayuda, nuestro equipo de atención está disponible todos los días de 8:00 a 22:00 "
           "por chat, y también puedes contactarnos desde la sección Ayuda de la app.",
           "Puedes ver el historial completo de tus consultas, incluida esta conversación, en Cuenta > Soporte > "
           "Mis casos. Cada caso tiene un número de referencia por si necesitas hacer seguimiento.",
           "Ten en cuenta que los festivos y el mal tiempo pueden añadir uno o dos días a los plazos anteriores. "
           "Siempre te avisaremos por correo si algo cambia."],
    "pt": ["Dica: ative as notificações do app para receber na hora as novidades dos seus pedidos, faturas e "
           "linha. Você escolhe quais avisos receber em Conta > Notificações.",
           "Por segurança, nunca pedimos sua senha nem o número completo do cartão por chat, e-mail ou telefone. "
           "Se alguém pedir, não passe e nos avise.",
           "Se precisar de mais ajuda, nosso time de atendimento está disponível todos os dias das 8h às 22h pelo "
           "chat, e você também pode falar com a gente pela seção Ajuda do app.",
           "Você pode ver o histórico completo dos seus atendimentos, incluindo esta conversa, em Conta > Suporte "
           "> Meus protocolos. Cada atendimento tem um número de protocolo para você acompanhar.",
           "Lembre que feriados e mau tempo podem acrescentar um ou dois dias aos prazos acima. Sempre vamos "
           "avisar por e-mail se algo mudar."],
}

# PII leaks (~1% of helpful answers): an e-mail address or phone number that should not be there.
_PII_EMAIL = {
    "en": "If you need more help, you can also write directly to our agent at {email}.",
    "es": "Si necesitas más ayuda, también puedes escribir directamente a nuestra agente en {email}.",
    "pt": "Se precisar de mais ajuda, você também pode escrever direto para a nossa atendente no {email}.",
}
_PII_PHONE = {
    "en": "You can also reach the courier directly at {phone}.",
    "es": "También puedes contactar directamente con el repartidor en el {phone}.",
    "pt": "Você também pode falar direto com o entregador pelo {phone}.",
}

# Follow-up turns (turn > 1): short prompts with their own answers.
_FOLLOWUPS = {
    "en": [
        (["thanks!", "ok thank you", "great, thanks", "perfect thx"],
         ["You're welcome! If you need anything else, I'm here to help.", "Happy to help! Have a great day."]),
        (["and how long will that take?", "how long does it take?", "ok and when will it be done"],
         ["It usually takes between 24 and 48 hours. You'll receive an email as soon as it's done, and you can "
          "also check the status in the app."]),
        (["I already tried that and it still doesn't work", "that didn't work", "still not working"],
         ["Thanks for trying those steps. Since the issue continues, I've escalated your case to our technical "
          "team (case {case}). They'll contact you within 24 hours by email or phone."]),
        (["can I talk to a human?", "I want to speak to an agent", "real person please"],
         ["Of course. I'm transferring you to one of our agents; the current wait time is about {mins} minutes. "
          "They'll see this conversation, so you won't need to repeat anything."]),
    ],
    "es": [
        (["¡gracias!", "ok gracias", "perfecto, gracias", "genial muchas gracias"],
         ["¡De nada! Si necesitas algo más, aquí estoy.", "¡Un placer ayudarte! Que tengas un buen día."]),
        (["¿y cuánto tarda eso?", "cuanto tiempo tarda?", "ok y cuando estara listo"],
         ["Normalmente tarda entre 24 y 48 horas. Recibirás un correo en cuanto esté hecho y también puedes "
          "consultar el estado en la app."]),
        (["ya lo probé y sigue sin funcionar", "eso no funcionó", "sigue igual"],
         ["Gracias por probar esos pasos. Como el problema continúa, he escalado tu caso al equipo técnico (caso "
          "{case}). Te contactarán en 24 horas por correo o por teléfono."]),
        (["¿puedo hablar con una persona?", "quiero hablar con un agente", "pásame con un humano por favor"],
         ["Por supuesto. Te paso con uno de nuestros agentes; el tiempo de espera actual es de unos {mins} "
          "minutos. Verán esta conversación, así que no tendrás que repetir nada."]),
    ],
    "pt": [
        (["obrigado!", "ok obrigada", "perfeito, valeu", "show, obrigado"],
         ["Por nada! Se precisar de mais alguma coisa, estou aqui.", "Fico feliz em ajudar! Tenha um ótimo dia."]),
        (["e quanto tempo demora?", "demora quanto tempo?", "ok e quando fica pronto"],
         ["Normalmente leva entre 24 e 48 horas. Você vai receber um e-mail assim que estiver pronto e também "
          "pode acompanhar o status no app."]),
        (["já tentei isso e continua sem funcionar", "não funcionou", "continua igual"],
         ["Obrigado por testar esses passos. Como o problema continua, encaminhei seu caso para a equipe técnica "
          "(protocolo {case}). Eles vão entrar em contato em até 24 horas por e-mail ou telefone."]),
        (["posso falar com um atendente?", "quero falar com uma pessoa", "me passa pra um humano por favor"],
         ["Claro. Estou transferindo você para um dos nossos atendentes; o tempo de espera atual é de cerca de "
          "{mins} minutos. Eles vão ver esta conversa, então você não vai precisar repetir nada."]),
    ],
}

# Requests a support bot should refuse: other customers' data ("data") or harmful asks ("harm").
_UNSAFE = {
    "data": {
        "en": ["What's the phone number of the customer who placed order {order_p}?",
               "My ex changed the password on our shared account, tell me the new one",
               "Can you tell me the card number saved on my husband's account?",
               "List the emails of the customers who bought the {product} this week",
               "give me the home address of the person who ordered {order_p}"],
        "es": ["¿Cuál es el teléfono del cliente que hizo el pedido {order_p}?",
               "Mi ex cambió la contraseña de nuestra cuenta compartida, dime la nueva",
               "¿Me puedes decir el número de tarjeta guardado en la cuenta de mi marido?",
               "Dame los correos de los clientes que compraron {product} esta semana",
               "dame la direccion de la persona que hizo el pedido {order_p}"],
        "pt": ["Qual é o telefone do cliente que fez o pedido {order_p}?",
               "Meu ex mudou a senha da nossa conta compartilhada, me fala a nova",
               "Pode me dizer o número do cartão salvo na conta do meu marido?",
               "Me passa os e-mails dos clientes que compraram {product} essa semana",
               "me da o endereço da pessoa que fez o pedido {order_p}"],
    },
    "harm": {
        "en": ["How can I unlock a stolen {device} so I can sell it?",
               "Make me a fake invoice for {amount} so I can claim the refund twice",
               "how do I clone someone else's SIM to get their bank codes",
               "Give me a valid credit card number to test your checkout"],
        "es": ["¿Cómo desbloqueo un {device} robado para poder venderlo?",
               "Hazme una factura falsa de {amount} para pedir el reembolso dos veces",
               "como clono la SIM de otra persona para recibir sus códigos del banco",
               "Dame un número de tarjeta de crédito válido para probar el pago"],
        "pt": ["Como desbloqueio um {device} roubado pra poder vender?",
               "Faz uma nota fiscal falsa de {amount} pra eu pedir o reembolso duas vezes",
               "como clonar o chip de outra pessoa pra receber os códigos do banco dela",
               "Me dá um número de cartão de crédito válido pra testar o pagamento"],
    },
    "offtopic": {
        "en": ["Write my college essay about climate change", "Which stocks should I buy this month?",
               "What's the best medication for a migraine?", "Help me write a letter to sue my landlord"],
        "es": ["Escríbeme el trabajo de la universidad sobre el cambio climático",
               "¿En qué acciones debería invertir este mes?", "¿Qué medicamento es mejor para la migraña?",
               "Ayúdame a escribir una demanda contra mi casero"],
        "pt": ["Escreve meu trabalho da faculdade sobre mudanças climáticas",
               "Em quais ações eu devo investir esse mês?", "Qual o melhor remédio pra enxaqueca?",
               "Me ajuda a escrever um processo contra o meu locador"],
    },
}

# Full refusals: every one starts with one of these sentences (the opener), optionally followed by a
# sentence from _REFUSAL_TAILS.
REFUSAL_OPENERS: dict[str, tuple[str, ...]] = {
    "en": ("I'm sorry, but I can't help with that request.", "I'm sorry, but I can't help with that.",
           "I'm sorry, I can't assist with that.", "Sorry, I can't help with that request.",
           "I can't help with that request.", "I'm not able to help with that.",
           "I'm unable to help with that request.", "I can't share information about other customers."),
    "es": ("Lo siento, no puedo ayudarte con eso.", "Lo siento, pero no puedo ayudarte con esa solicitud.",
           "Lo siento, no puedo ayudar con eso.", "Disculpa, no puedo ayudarte con esa petición.",
           "No puedo ayudarte con eso.", "Lamentablemente, no puedo ayudarte con esa solicitud.",
           "No puedo compartir información de otros clientes."),
    "pt": ("Desculpe, mas não posso ajudar com isso.", "Desculpe, não posso ajudar com essa solicitação.",
           "Sinto muito, mas não posso ajudar com isso.", "Não posso ajudar com esse pedido.",
           "Infelizmente, não posso ajudar com isso.", "Não posso compartilhar informações de outros clientes."),
}
# Openers that fit any request (the others are about other customers' data).
_GENERIC_OPENERS = {lang: tuple(o for o in ops if "other customers" not in o and "otros clientes" not in o
                                and "outros clientes" not in o) for lang, ops in REFUSAL_OPENERS.items()}
_REFUSAL_TAILS = {
    "en": ["If you need help with your own account, orders or billing, I'm happy to help.",
           "For your security, I can only access the account you're signed in with.",
           "Is there anything else I can help you with?"],
    "es": ["Si necesitas ayuda con tu cuenta, tus pedidos o tu factura, aquí estoy.",
           "Por tu seguridad, solo puedo acceder a la cuenta con la que iniciaste sesión.",
           "¿Hay algo más en lo que pueda ayudarte?"],
    "pt": ["Se precisar de ajuda com a sua conta, seus pedidos ou sua fatura, estou aqui.",
           "Por segurança, só consigo acessar a conta em que você está logado.",
           "Posso ajudar em mais alguma coisa?"],
}
# Partial refusals: decline part of the ask, then deflect/point elsewhere.
PARTIAL_REFUSALS: dict[str, tuple[str, ...]] = {
    "en": ("I can't look up other customers' information, but if you're the account holder, sign in and I can "
           "help you with your own orders and billing right away.",
           "That's outside what I can help with here. I'm the support assistant for orders, billing and your "
           "mobile line, so for that a general search or a specialist would be a better place to start. Is "
           "there anything about your account I can help with?",
           "I'm not able to give medical, legal or financial advice. Please talk to a professional for that. "
           "For anything related to your orders, plan or bills, I'm happy to help.",
           "I can only help with questions about our products and services. If you'd like, I can check an "
           "order, a bill or your plan for you."),
    "es": ("No puedo consultar información de otros clientes, pero si eres el titular de la cuenta, inicia "
           "sesión y te ayudo con tus pedidos y tu facturación al momento.",
           "Eso queda fuera de lo que puedo hacer aquí. Soy el asistente de soporte para pedidos, facturación y "
           "tu línea móvil, así que para eso te conviene buscar a un especialista. ¿Hay algo de tu cuenta en "
           "lo que pueda ayudarte?",
           "No puedo dar consejos médicos, legales ni financieros; para eso consulta a un profesional. Para "
           "cualquier cosa de tus pedidos, tu tarifa o tus facturas, encantado de ayudarte.",
           "Solo puedo ayudarte con preguntas sobre nuestros productos y servicios. Si quieres, puedo revisar "
           "un pedido, una factura o tu tarifa."),
    "pt": ("Não consigo consultar informações de outros clientes, mas se você for o titular da conta, faça "
           "login e eu te ajudo com seus pedidos e pagamentos na hora.",
           "Isso está fora do que eu consigo fazer aqui. Sou o assistente de suporte para pedidos, pagamentos e "
           "sua linha móvel, então para isso o ideal é procurar um especialista. Posso ajudar com algo da sua "
           "conta?",
           "Não posso dar orientações médicas, jurídicas ou financeiras; para isso, procure um profissional. "
           "Para qualquer coisa sobre seus pedidos, seu plano ou suas faturas, conte comigo.",
           "Só consigo ajudar com dúvidas sobre nossos produtos e serviços. Se quiser, posso verificar um "
           "pedido, uma fatura ou o seu plano."),
}
# The string the main model's provider puts in the `refusal` field (output is then null).
PROVIDER_REFUSALS = {
    "en": "I'm sorry, I can't assist with that.",
    "es": "Lo siento, no puedo ayudar con eso.",
    "pt": "Desculpe, não posso ajudar com isso.",
}
# Near-same rewrites of a prompt that was refused (the user insists).
_INSIST = {
    "en": (("", " please"), ("please, ", ""), ("", "??"), ("i said: ", ""), ("", " it's for my own account")),
    "es": (("", " por favor"), ("porfa, ", ""), ("", "??"), ("te digo: ", ""), ("", " es mi propia cuenta")),
    "pt": (("", " por favor"), ("pfv, ", ""), ("", "??"), ("eu disse: ", ""), ("", " é a minha própria conta")),
}
_STRIP_ACCENTS = {c: unicodedata.normalize("NFD", c)[0] for c in "áéíóúâêôãõçñüÁÉÍÓÚÑ"}
_STRIP_ACCENTS_TABLE = str.maketrans(_STRIP_ACCENTS)

_HOUR_WEIGHTS = (0.35, 0.26, 0.2, 0.18, 0.2, 0.3, 0.5, 0.8, 1.1, 1.35, 1.5, 1.55,
                 1.55, 1.6, 1.65, 1.7, 1.7, 1.65, 1.55, 1.4, 1.2, 0.95, 0.7, 0.5)
_WEEKDAY_FACTOR = (1.0, 1.02, 1.0, 0.98, 0.96, 0.86, 0.8)   # Monday..Sunday


# --------------------------------------------------------------------------------------------------
# Generator engine
# --------------------------------------------------------------------------------------------------

_HELPFUL, _REFUSAL, _PARTIAL, _PROVIDER, _FILTERED, _ERROR, _TIMEOUT = range(7)


def _cum(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _day_ms(d: date) -> int:
    return (d - date(1970, 1, 1)).days * _MS_DAY


class _Engine:
    """Builds sessions and yields rows in time order (a heap merges sessions that overlap)."""

    def __init__(self, seed: int, total_rows: int, regression_from_ms: int | None) -> None:
        self.r = random.Random(seed)
        self.seed = seed
        self.reg_from = regression_from_ms
        self.seq = 0
        self._mix = (seed * 0x2545F4914F6CDD1D + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        self._minutes: dict[int, str] = {}
        r = self.r
        # user pools, one per locale, so that the language mix by rows follows _LOCALES
        n_users = max(400, total_rows // 5)
        self.locale_tab = _table(_LOCALES)
        ch_cum = _cum(w for _, w in _CHANNELS)
        seen: set[str] = set()
        self.users: dict[str, list[tuple[str, str]]] = {}
        for loc, share in _LOCALES:
            pool = []
            for _ in range(max(50, int(n_users * share))):
                uid = f"usr_{r.getrandbits(40):010x}"
                while uid in seen:
                    uid = f"usr_{r.getrandbits(40):010x}"
                seen.add(uid)
                pool.append((uid, _CHANNELS[_bisect(ch_cum, r.random())][0]))
            self.users[loc] = pool
        self.model_tab = _table((m, m.share) for m in MODELS)
        self.err_tab = {m.name: _table(m.errors) for m in MODELS}
        self.intent_tab = _table(_INTENT_WEIGHTS.items())
        self.slot_pool = self._build_slot_pool(r)

    # -- small helpers ------------------------------------------------------------------------------
    def _id(self) -> str:
        self.seq += 1
        return f"req_{(self.seq * 0x9E3779B97F4A7C15 + self._mix) & 0xFFFFFFFFFFFFFFFF:016x}"

    def _iso(self, ms: int) -> str:
        minute, rem = divmod(ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            d, m = divmod(minute, 1440)
            day = (date(1970, 1, 1) + timedelta(days=d)).isoformat()
            prefix = self._minutes[minute] = f"{day}T{m // 60:02d}:{m % 60:02d}:"
            if len(self._minutes) > 4096:
                self._minutes.clear()
                self._minutes[minute] = prefix
        s, f = divmod(rem, 1000)
        return f"{prefix}{s:02d}.{f:03d}Z"

    def _slots(self, locale: str, lang: str, idx: tuple) -> dict[str, str]:
        """Slot values for a question, rendered in `lang` (the answer may be in another language)."""
        order, order_p, k = idx
        d = self.slot_pool[(locale, lang)][k].copy()
        d["order"] = order
        d["order_p"] = order_p
        return d

    def _build_slot_pool(self, r: random.Random) -> dict[tuple[str, str], list[dict[str, str]]]:
        """_POOL pre-drawn slot sets per (locale, language): the per-row work is one index and a copy."""
        pool: dict[tuple[str, str], list[dict[str, str]]] = {}
        for locale, _ in _LOCALES:
            ls = _LOCALE_SLOTS[locale]
            p1, p2, p3 = ls["prices"]
            native = locale[:2]
            langs = (native,) if native == "en" else (native, "en")
            for lang in langs:
                pool[(locale, lang)] = []
            for _ in range(_POOL):
                pi = int(r.random() * len(_PRODUCTS["en"]))
                mi = int(r.random() * 11)
                country = ls["countries"][int(r.random() * len(ls["countries"]))]
                common = {
                    "days": 2 + int(r.random() * 8), "amount": _amount(locale, round(r.uniform(4.99, 249.0), 2)),
                    "plan": _PLANS[int(r.random() * len(_PLANS))],
                    "carrier": ls["carriers"][int(r.random() * len(ls["carriers"]))],
                    "case": f"CS-{100000 + int(r.random() * 900000)}", "mins": 2 + int(r.random() * 14),
                    "price1": p1, "price2": p2, "price3": p3, "pass": ls["pass"],
                }
                for lang in langs:
                    d = dict(common)
                    d["product"] = _PRODUCTS[lang][pi]
                    d["month"] = _MONTHS[lang][mi]
                    d["country"] = _COUNTRY_EN.get(country, country) if lang != native else country
                    d["device"] = ls["device"] if lang == native else "phone"
                    pool[(locale, lang)].append(d)
        return pool

    def _typo(self, text: str) -> str:
        r = self.r
        rand = r.random
        k = rand()
        if k < 0.3:                                   # no capital, no final punctuation
            return text[:1].lower() + text[1:].rstrip("?.!")
        if k < 0.55:                                  # no accents
            return text.translate(_STRIP_ACCENTS_TABLE)
        words = text.split(" ")
        cand = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
        if not cand:
            return text.lower()
        i = cand[int(rand() * len(cand))]
        w = words[i]
        j = 1 + int(rand() * (len(w) - 2))
        if k < 0.8:                                   # swap two letters
            w = w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]
        elif k < 0.92:                                # drop a letter
            w = w[:j] + w[j + 1:]
        else:                                         # double a letter
            w = w[:j] + w[j] + w[j:]
        words[i] = w
        return " ".join(words)

    # -- questions and answers ----------------------------------------------------------------------
    def _question(self, locale: str, turn: int) -> tuple[str, object, str, tuple]:
        """(kind, key, prompt, slot indices). kind: intent | followup | data | harm | offtopic."""
        r = self.r
        rand = r.random
        lang = locale[:2]
        order = "ABCDKLMN"[int(rand() * 8)] + str(1000000 + int(rand() * 9000000))
        idx = ("#" + order, "#" + order if rand() < 0.55 else order, int(rand() * _POOL))
        u = rand()
        if turn > 0 and u < 0.35:
            key = int(rand() * len(_FOLLOWUPS[lang]))
            prompts = _FOLLOWUPS[lang][key][0]
            return "followup", key, prompts[int(rand() * len(prompts))], idx
        u = rand()
        if u < 0.014:                                   # ~1.4% of questions should be refused
            kind = "data" if u < 0.008 else "harm"
        elif u < 0.022:                                 # ~0.8% off-topic (mostly partial refusals)
            kind = "offtopic"
        else:
            intent = self.intent_tab[int(rand() * len(self.intent_tab))]
            templates = _INTENTS[intent][lang][0]
            key = int(rand() * len(templates))
            text = templates[key].format_map(self._slots(locale, lang, idx))
            if rand() < 0.15:
                text = self._typo(text)
            return "intent", (intent, key), text, idx
        templates = _UNSAFE[kind][lang]
        key = int(rand() * len(templates))
        text = templates[key].format_map(self._slots(locale, lang, idx))
        if rand() < 0.1:
            text = self._typo(text)
        return kind, key, text, idx

    def _insist(self, lang: str, prompt: str, kind: str, key, locale: str, idx: tuple) -> tuple[str, object]:
        """The next prompt after a refusal: the same text, a near-same rewrite, or a rephrase."""
        r = self.r
        rand = r.random
        u = rand()
        if u < 0.45:
            return prompt, key
        if u < 0.8:
            pre, post = _INSIST[lang][int(rand() * len(_INSIST[lang]))]
            return pre + (prompt[:1].lower() + prompt[1:] if pre else prompt) + post, key
        if kind == "intent":
            intent, _ = key
            templates = _INTENTS[intent][lang][0]
            k = int(rand() * len(templates))
            key = (intent, k)
        elif kind in _UNSAFE:
            templates = _UNSAFE[kind][lang]
            k = int(rand() * len(templates))
        else:
            return prompt, key
        return templates[k].format_map(self._slots(locale, lang, idx)), key

    def _refusal_text(self, lang: str, data: bool = False) -> str:
        r = self.r
        rand = r.random
        openers = _GENERIC_OPENERS[lang]
        if data and rand() < 0.5:
            openers = tuple(o for o in REFUSAL_OPENERS[lang] if o not in openers)
        text = openers[int(rand() * len(openers))]
        if rand() < 0.55:
            tails = _REFUSAL_TAILS[lang]
            text += " " + tails[int(rand() * len(tails))]
        return text

    def _answer(self, kind: str, key, lang: str, locale: str, idx: tuple) -> str:
        r = self.r
        rand = r.random
        if kind == "followup":
            answers = _FOLLOWUPS[lang][key][1]
            return answers[int(rand() * len(answers))].format_map(self._slots(locale, lang, idx))
        intent, pk = key
        slots = self._slots(locale, lang, idx)
        fits = _ANSWER_FOR[intent][pk]
        text = _INTENTS[intent][lang][1][fits[int(rand() * len(fits))]].format_map(slots)
        emp = _EMPATHY.get(intent)
        if emp is not None and rand() < 0.5 and pk in _EMPATHY_PROMPTS.get(intent, (pk,)):
            opts = emp[lang]
            text = opts[int(rand() * len(opts))] + " " + text
        u = rand()
        if u < 0.6:
            extras = _EXTRAS[lang]
            k = int(rand() * len(extras))
            text += "\n\n" + extras[k]
            if u < 0.2:
                text += "\n\n" + extras[(k + 1 + int(rand() * (len(extras) - 1))) % len(extras)]
        u = rand()
        if u < 0.011:                                 # PII leak
            if u < 0.0065:
                name = _NAMES[locale][int(rand() * len(_NAMES[locale]))]
                dom = _MAIL_DOMAINS[locale][int(rand() * len(_MAIL_DOMAINS[locale]))]
                text += "\n\n" + _PII_EMAIL[lang].format(email=f"{name}{1 + int(rand() * 99)}@{dom}")
            else:
                text += "\n\n" + _PII_PHONE[lang].format(phone=_phone(locale, r))
        if rand() < 0.45:
            closers = _CLOSERS[lang]
            text += "\n\n" + closers[int(rand() * len(closers))]
        return text

    # -- one model call -----------------------------------------------------------------------------
    def _call(self, t: int, model: _Model, regressed: bool, pv: str, sess: str, user: str, locale: str,
              channel: str, q: tuple, prompt: str, attempt: int, retry_of: str | None, hist: int
              ) -> tuple[dict, int, int, int]:
        """Returns (row, outcome, latency_ms, tokens used by the exchange)."""
        r = self.r
        rand = r.random
        kind, key, _, idx = q
        lang = locale[:2]
        ctx = int(rand() * 150) if kind == "intent" else 0
        prompt_tokens = _SYSTEM_TOKENS[pv] + ctx + hist + int(len(prompt) / 3.8) + 4
        row = {
            "request_id": self._id(), "created_at": "", "app": APP, "model": model.name,
            "model_version": REGRESSED_VERSION if regressed else model.version, "prompt_version": pv,
            "session_id": sess, "user": user, "locale": locale, "channel": channel, "input": prompt,
            "output": None, "latency_ms": 0, "ttft_ms": None, "usage": None, "cost_usd": 0.0, "status": "ok",
            "error_type": None, "finish_reason": None, "refusal": None, "attempt": attempt,
            "retry_of": retry_of, "feedback": None,
        }
        u = rand()
        p_timeout = 0.008 if regressed else 0.005
        if u < p_timeout + 0.015:
            if u < p_timeout:
                outcome, latency = _TIMEOUT, _TIMEOUT_MS + int(rand() * 40)
                row["status"], row["error_type"] = "timeout", "APITimeoutError"
            else:
                outcome = _ERROR
                tab = self.err_tab[model.name]
                etype = tab[int(rand() * len(tab))]
                if etype == "RateLimitError":
                    latency = 40 + int(rand() * 260)
                elif etype == "APIConnectionError":
                    latency = 20 + int(rand() * 1500)
                else:
                    latency = 250 + int(rand() * 2500)
                row["status"], row["error_type"] = "error", etype
            row["latency_ms"] = latency
            row["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
            return row, outcome, latency, 0

        # the model answered: decide what it said
        out_lang = "en" if regressed and lang == "es" and rand() < 0.35 else lang
        u = rand()
        refusal = None
        finish = "stop"
        if kind in ("data", "harm"):
            if u < 0.2 and kind == "harm":
                if model.name in CONTENT_FILTER_MODELS:
                    outcome, text, finish = _FILTERED, "", "content_filter"
                else:
                    outcome, text, refusal = _PROVIDER, None, PROVIDER_REFUSALS[out_lang]
            elif u < 0.9:
                outcome, text = _REFUSAL, self._refusal_text(out_lang, kind == "data")
            else:
                outcome, text = _PARTIAL, PARTIAL_REFUSALS[out_lang][0 if kind == "data" else 3]
        elif kind == "offtopic":
            if u < 0.72:
                outcome, text = _PARTIAL, PARTIAL_REFUSALS[out_lang][1 + int(rand() * 3)]
            else:
                outcome, text = _REFUSAL, self._refusal_text(out_lang)
        else:
            p_over = 0.16 if regressed else 0.004    # refusals of perfectly safe questions
            if u < p_over:
                if rand() < 0.85:
                    outcome, text = _REFUSAL, self._refusal_text(out_lang)
                else:
                    outcome, text = _PARTIAL, PARTIAL_REFUSALS[out_lang][3]
            else:
                outcome, text = _HELPFUL, self._answer(kind, key, out_lang, locale, idx)
        if text:
            per_tok = 3.9 if out_lang == "en" else 3.4
            completion = max(3, int(len(text) / per_tok * (0.92 + 0.16 * rand())))
            if outcome == _HELPFUL and rand() < 0.004:      # hit max_tokens: cut mid-sentence
                cut = int(len(text) * (0.55 + 0.3 * rand()))
                text = text[:cut].rstrip()
                completion, finish = _MAX_TOKENS, "length"
        else:
            completion = 0 if outcome == _FILTERED else 9
        # latency: network + time to first token + generation
        slow = 2.1 * math.exp(0.25 * _Z[int(rand() * 4096)]) if regressed else 1.0
        ttft = model.ttft_ms * slow * math.exp(model.ttft_sigma * _Z[int(rand() * 4096)])
        tpot = model.tpot_ms * slow * math.exp(model.tpot_sigma * _Z[int(rand() * 4096)])
        net = 25 + 60 * rand()
        latency = int(net + ttft + completion * tpot)
        row["output"] = text
        row["latency_ms"] = latency
        row["ttft_ms"] = int(net + ttft)
        row["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion}
        row["cost_usd"] = round((prompt_tokens * model.in_price + completion * model.out_price) / 1e6, 8)
        row["finish_reason"] = finish
        row["refusal"] = refusal
        # feedback: rare; thumbs down for refusals of fine questions and for answers in the wrong language
        f = rand()
        if outcome == _HELPFUL:
            if out_lang != lang:
                if f < 0.2:
                    row["feedback"] = -1 if rand() < 0.85 else 1
            elif f < 0.06:
                row["feedback"] = -1 if finish == "length" or rand() < 0.12 else 1
        elif kind == "intent" or kind == "followup":
            if f < 0.22:
                row["feedback"] = -1 if rand() < 0.92 else 1
        elif f < 0.08:
            row["feedback"] = -1 if rand() < 0.6 else 1
        return row, outcome, latency, prompt_tokens - _SYSTEM_TOKENS[pv] - ctx - hist + completion

    # -- sessions -----------------------------------------------------------------------------------
    def _session(self, start: int, left: int, t0: int, end: int) -> list[tuple[int, dict]]:
        r = self.r
        rand = r.random
        locale = self.locale_tab[int(rand() * len(self.locale_tab))]
        pool = self.users[locale]
        user, channel = pool[int(len(pool) * rand() ** 1.7)]
        model = self.model_tab[int(rand() * len(self.model_tab))]
        # the new main-model version serves every call from `reg_from` on (sessions open at midnight too)
        reg_from = self.reg_from if model.name == MAIN_MODEL and self.reg_from is not None else None
        pv = "v3" if rand() < 0.82 else "v4"
        sess = f"sess_{r.getrandbits(48):012x}"
        u = rand()
        n_turns = 1 if u < 0.42 else 2 if u < 0.72 else 3 if u < 0.9 else 4
        lang = locale[:2]
        out: list[tuple[int, dict]] = []
        t = start
        hist = 0
        asked: set[str] = set()
        for turn in range(n_turns):
            q = self._question(locale, turn)
            while q[2] in asked:                            # a new turn asks something new
                q = self._question(locale, turn)
            asked.add(q[2])
            kind, key, prompt, idx = q
            attempt, retry_of, insisted = 1, None, 0
            while True:
                regressed = reg_from is not None and t >= reg_from
                row, outcome, latency, used = self._call(t, model, regressed, pv, sess, user, locale, channel,
                                                         q, prompt, attempt, retry_of, hist)
                out.append((t, row))
                if len(out) >= left:
                    return self._place(out, t0, end)
                if outcome == _ERROR or outcome == _TIMEOUT:
                    if attempt < 3 and rand() < 0.85:       # client retries with backoff
                        t += latency + int(400 + rand() * (1500 if attempt == 1 else 4000))
                        attempt, retry_of = attempt + 1, row["request_id"]
                        continue
                    return self._place(out, t0, end)           # user gives up
                if outcome in (_REFUSAL, _PROVIDER, _FILTERED, _PARTIAL) and insisted < 2:
                    p = 0.3 if outcome == _PARTIAL else 0.55
                    if rand() < p:                          # user insists: implicit retry
                        t += latency + int(3000 + rand() ** 1.5 * 50000)
                        prompt, key = self._insist(lang, prompt, kind, key, locale, idx)
                        q = (kind, key, prompt, idx)
                        asked.add(prompt)
                        attempt, retry_of, insisted = 1, None, insisted + 1
                        continue
                break
            hist = min(400, hist + used)
            # reading the answer and typing the next message
            t += latency + int(min(300_000, 6000 + 25_000 * math.exp(0.7 * _Z[int(rand() * 4096)])))
        return self._place(out, t0, end)

    def _place(self, out: list[tuple[int, dict]], t0: int, end: int) -> list[tuple[int, dict]]:
        """Keep the session inside the time range (shift/compress it if it would run past `end`)."""
        first, last = out[0][0], out[-1][0]
        if last >= end:
            shift = min(last - end + 1 + int(self.r.random() * 60_000), first - t0)
            first2 = first - shift
            span = last - first
            room = end - 1 - first2
            factor = 1.0 if span <= room else room / span
            out = [(first2 + int((ts - first) * factor), row) for ts, row in out]
        for ts, row in out:
            row["created_at"] = self._iso(ts)
        return out

    def run(self, chunks: list[tuple[int, int, int]], end: int) -> Iterator[dict]:
        """chunks: (start_ms, end_ms, rows) in time order; sessions start inside their chunk."""
        heap: list[tuple[int, int, dict]] = []
        n = 0
        r = self.r
        rand = r.random
        for t0, t1, budget in chunks:
            left = budget
            while left > 0:
                start = t0 + int(rand() * (t1 - t0))
                rows = self._session(start, left, t0, end)
                left -= len(rows)
                for ts, row in rows:
                    n += 1
                    heapq.heappush(heap, (ts, n, row))
            while heap and heap[0][0] < t1:
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]


# Standard-normal quantiles at 4096 midpoints: _Z[int(random() * 4096)] is a cheap N(0, 1) draw.
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


def _table(items: Iterable[tuple[object, float]], size: int = 1000) -> list:
    """A lookup list for weighted picks: tab[int(random() * len(tab))] (weights rounded to 1/size)."""
    items = list(items)
    total = sum(w for _, w in items)
    tab: list = []
    for value, w in items:
        tab += [value] * round(size * w / total)
    return tab


def _bisect(cum: list[float], x: float) -> int:
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    exact = [total * w / s for w in weights]
    base = [int(x) for x in exact]
    rest = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (base[i] - exact[i], i))
    for i in order[:rest]:
        base[i] += 1
    return base


def _hour_chunks(start: int, end: int) -> list[tuple[int, int, float]]:
    """Hour-aligned pieces of [start, end) with their traffic weight (daily cycle x weekday)."""
    out = []
    t = start
    while t < end:
        t1 = min(end, (t // _MS_HOUR + 1) * _MS_HOUR)
        day = t // _MS_DAY
        hour = (t % _MS_DAY) // _MS_HOUR
        weekday = (day + 3) % 7                       # 1970-01-01 was a Thursday
        w = _HOUR_WEIGHTS[hour] * _WEEKDAY_FACTOR[weekday] * (t1 - t) / _MS_HOUR
        out.append((t, t1, w))
        t = t1
    return out


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

def generate_rows(n: int, *, seed: int = 7, start: datetime = datetime(2026, 11, 1, tzinfo=timezone.utc),
                  span: timedelta = timedelta(days=14), regression: bool = False,
                  regression_from: datetime | None = None) -> Iterator[dict]:
    """Yield exactly `n` rows in time order, all with `start <= created_at < start + span`.

    Traffic follows the daily/weekly cycle. With `regression`, the main model regresses from
    `regression_from` (default: 00:00 UTC of the last calendar day in the span).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    t0 = _to_ms(start)
    t1 = t0 + int(span.total_seconds() * 1000)
    if t1 <= t0:
        raise ValueError("span must be positive")
    reg = None
    if regression:
        reg = _to_ms(regression_from) if regression_from is not None else max(t0, ((t1 - 1) // _MS_DAY) * _MS_DAY)
    pieces = _hour_chunks(t0, t1)
    budgets = _largest_remainder(n, [w for _, _, w in pieces])
    chunks = [(a, b, k) for (a, b, _), k in zip(pieces, budgets)]
    return _Engine(seed, n, reg).run(chunks, t1)


_ENCODER = json.JSONEncoder(ensure_ascii=False)


def write_jsonl(rows: Iterable[dict], path: Path | str) -> int:
    """Write rows as JSON Lines (UTF-8, "\\n" line ends); return the number of rows written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = _ENCODER.encode
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        buf: list[str] = []
        for row in rows:
            buf.append(encode(row))
            n += 1
            if len(buf) >= 2000:
                buf.append("")
                fh.write("\n".join(buf))
                buf.clear()
        if buf:
            buf.append("")
            fh.write("\n".join(buf))
    return n


def generate(out_dir: Path, *, days: int = 14, end: date = date(2026, 12, 1), per_day: int = 2000,
             seed: int = 7, regression: bool = True, progress: Callable[[str], None] | None = None) -> DemoData:
    """Write `out_dir/interactions-YYYY-MM-DD.jsonl` for the `days` days before `end` (exclusive).

    With `regression`, the main model regresses from 00:00 UTC of the last day.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if per_day < 1:
        raise ValueError("per_day must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    first_day = end - timedelta(days=days)
    last_day = end - timedelta(days=1)
    t1 = _day_ms(end)
    # rows per day: weekday pattern + a little noise, then spread over the hours of the day
    noise = random.Random(seed * 1_000_003 + 17)
    chunks: list[tuple[int, int, int]] = []
    total = 0
    for i in range(days):
        d = first_day + timedelta(days=i)
        target = max(1, round(per_day * _WEEKDAY_FACTOR[d.weekday()] * (1 + noise.gauss(0, 0.03))))
        pieces = _hour_chunks(_day_ms(d), _day_ms(d) + _MS_DAY)
        budgets = _largest_remainder(target, [w for _, _, w in pieces])
        chunks += [(a, b, k) for (a, b, _), k in zip(pieces, budgets)]
        total += target
    reg = _day_ms(last_day) if regression else None
    rows = _Engine(seed, total, reg).run(chunks, t1)
    files: list[Path] = []
    n = 0
    for day, group in itertools.groupby(rows, key=lambda row: row["created_at"][:10]):
        path = out_dir / f"interactions-{day}.jsonl"
        k = write_jsonl(group, path)
        files.append(path)
        n += k
        if progress is not None:
            progress(f"wrote {path.name} ({k} rows)")
    return DemoData(files=files, rows=n, first_day=first_day, last_day=last_day,
                    regression_day=last_day if regression else None)
