"""Language detection: accuracy on en/es/pt (short and long), other languages, NULLs, SQL == Python.

The texts below were written for these tests (support prompts and assistant answers). The constants
of llmvigil.language (priors, minimum letters, minimum confidence) were chosen on the first block of
each language (marked "tuning"), on the demo generator's prompts and on the prompts of
shared/data/xstest_dev.jsonl, and then checked on the rest, which was written before any tuning.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

from llmvigil import language

EN = [
    # tuning
    "Where is my order?", "I want a refund", "Cancel my subscription please", "How do I reset my password?",
    "My package never arrived", "Can I change the delivery address?", "The app keeps crashing on login",
    "What are your opening hours?", "I was charged twice this month", "Talk to a human", "Is this available in blue?",
    "How long does shipping take to Canada?", "Do you ship to Mexico?", "The discount code doesn't work",
    "Thanks, that solved it!", "Please send me the invoice for order 48213", "Why was my card declined?",
    "I can't log in to my account", "What is the return policy for sale items?", "Update my phone number",
    "Sure! To reset your password, open the app, tap Settings, then Account, and choose Reset password. "
    "You will receive an email with a link that is valid for 24 hours.",
    "I'm sorry, but I can't help with that request.",
    "Your order has been shipped and should arrive within three to five business days. "
    "You can track it from the Orders page.",
    "Here is a short summary of the article: the authors argue that remote work increases productivity "
    "for most teams, but they warn that onboarding new employees becomes harder without an office.",
    "Of course. The refund will be credited to the original payment method within 5-10 business days.",
    "To export your data, go to Settings > Privacy and click Download my data. The file is a ZIP archive.",
    "Unfortunately we do not ship to that country yet, but we are working on it.",
    "I understand your frustration. Let me check the status of your ticket.",
    "Hi, I would like to know if the warranty covers water damage.",
    "The meeting was moved to Thursday afternoon because the client could not attend on Monday.",
    "what time do you close today", "hello, anyone there?", "Great, thank you so much for your help!",
    "You can pay with Visa, Mastercard, PayPal or Apple Pay.",
    # held out
    "Need help with billing", "my tracking number isn't working", "can u check my order pls",
    "How much is the premium plan?", "Where do I find my receipts?", "Delete my account",
    "It says payment failed but money left my bank", "Do you have this in size 42?",
    "I never got the confirmation email", "Is there a student discount?", "Which plan includes API access?",
    "The item arrived broken", "Can I pick it up in store?",
    "As an AI language model, I don't have access to your account details, but I can explain how refunds "
    "usually work.",
    "Here's a Python function that reverses a string: def reverse(s): return s[::-1]. It uses slicing with "
    "a negative step.",
    "The capital of Australia is Canberra, not Sydney, which is the largest city.",
    "I'd recommend restarting the router first. If the light keeps blinking orange, contact your provider.",
    "Your subscription renews on the first of every month. You can switch to yearly billing at any time.",
    "Sure, here are three ideas for a birthday party: a picnic in the park, a board game night, or a cooking "
    "class.",
    "Send it again please", "Thanks for nothing", "That is not what I asked", "Can you explain it more simply?",
    "Write a short poem about the sea",
]
ES = [
    # tuning
    "¿Dónde está mi pedido?", "Quiero un reembolso", "Cancelar mi suscripción por favor",
    "¿Cómo cambio mi contraseña?", "Mi paquete nunca llegó", "¿Puedo cambiar la dirección de envío?",
    "La aplicación se cierra al iniciar sesión", "¿Cuál es el horario de atención?", "Me cobraron dos veces este mes",
    "Quiero hablar con una persona", "¿Lo tienen en azul?", "¿Cuánto tarda el envío a Colombia?",
    "¿Hacen envíos a México?", "El código de descuento no funciona", "Gracias, ya quedó resuelto",
    "Por favor envíenme la factura del pedido 48213", "¿Por qué rechazaron mi tarjeta?", "No puedo entrar a mi cuenta",
    "¿Cuál es la política de devoluciones?", "donde esta mi pedido", "necesito ayuda con mi cuenta",
    "Claro. Para restablecer tu contraseña, abre la aplicación, toca Configuración, luego Cuenta y elige "
    "Restablecer contraseña. Recibirás un correo con un enlace válido durante 24 horas.",
    "Lo siento, pero no puedo ayudarte con esa solicitud.",
    "Tu pedido ya fue enviado y debería llegar en un plazo de tres a cinco días hábiles. "
    "Puedes seguirlo desde la página de pedidos.",
    "Aquí tienes un breve resumen del artículo: los autores sostienen que el trabajo remoto aumenta la "
    "productividad de la mayoría de los equipos, aunque advierten que la incorporación de nuevos empleados "
    "se vuelve más difícil sin una oficina.",
    "Por supuesto. El reembolso se acreditará en el método de pago original en un plazo de 5 a 10 días hábiles.",
    "Lamentablemente todavía no realizamos envíos a ese país, pero estamos trabajando en ello.",
    "Entiendo tu frustración. Déjame revisar el estado de tu caso.",
    "Hola, quisiera saber si la garantía cubre daños por agua.",
    "La reunión se movió al jueves por la tarde porque el cliente no podía asistir el lunes.",
    "a que hora cierran hoy", "hola, hay alguien?", "Estado del pedido", "¡Genial, muchas gracias por tu ayuda!",
    "Puedes pagar con Visa, Mastercard, PayPal o transferencia bancaria.",
    "Ya hice el pago pero sigue apareciendo como pendiente",
    # held out
    "Necesito ayuda con la facturación", "mi número de seguimiento no funciona", "me pueden revisar el pedido porfa",
    "¿Cuánto cuesta el plan premium?", "¿Dónde encuentro mis recibos?", "Eliminar mi cuenta",
    "Dice que el pago falló pero el dinero salió de mi banco", "¿Tienen esto en talla 42?",
    "Nunca me llegó el correo de confirmación", "¿Hay descuento para estudiantes?",
    "¿Qué plan incluye acceso a la API?", "El producto llegó roto", "¿Puedo recogerlo en la tienda?",
    "Como modelo de lenguaje, no tengo acceso a los datos de tu cuenta, pero puedo explicarte cómo funcionan "
    "normalmente los reembolsos.",
    "Aquí tienes una función en Python que invierte una cadena: def reverse(s): return s[::-1]. Usa un corte "
    "con paso negativo.",
    "La capital de Australia es Canberra, no Sídney, que es la ciudad más grande.",
    "Te recomiendo reiniciar primero el router. Si la luz sigue parpadeando en naranja, contacta a tu proveedor.",
    "Tu suscripción se renueva el primer día de cada mes. Puedes cambiar a facturación anual en cualquier momento.",
    "Claro, aquí tienes tres ideas para una fiesta de cumpleaños: un pícnic en el parque, una noche de juegos de "
    "mesa o una clase de cocina.",
    "oye no me sirve el cupón", "quiero cambiar mi plan", "Me cobraron de más", "Eso no es lo que pedí",
    "¿Me lo explicas más fácil?", "Escribe un poema corto sobre el mar", "Mándalo otra vez por favor",
    "No me llegó nada", "Ya pagué dos veces", "Sigo esperando respuesta", "El envío tarda demasiado",
    "Quiero darme de baja",
]
PT = [
    # tuning
    "Cadê meu pedido?", "Onde está a minha encomenda?", "Quero um reembolso", "Cancelar minha assinatura, por favor",
    "Como eu troco minha senha?", "Meu pacote nunca chegou", "Posso mudar o endereço de entrega?",
    "O aplicativo fecha quando faço login", "Qual é o horário de atendimento?", "Fui cobrado duas vezes este mês",
    "Quero falar com um atendente", "Vocês têm na cor azul?", "Quanto tempo demora o frete para Portugal?",
    "Vocês entregam no Brasil todo?", "O cupom de desconto não funciona", "Obrigado, resolveu!",
    "Por favor, me enviem a nota fiscal do pedido 48213", "Por que meu cartão foi recusado?",
    "Não consigo entrar na minha conta", "Qual é a política de devolução?", "cade meu pedido",
    "preciso de ajuda com minha conta",
    "Claro! Para redefinir sua senha, abra o aplicativo, toque em Configurações, depois em Conta e escolha "
    "Redefinir senha. Você vai receber um e-mail com um link válido por 24 horas.",
    "Desculpe, mas não posso ajudar com esse pedido.",
    "Seu pedido já foi enviado e deve chegar em três a cinco dias úteis. Você pode acompanhá-lo na página "
    "de pedidos.",
    "Aqui está um breve resumo do artigo: os autores defendem que o trabalho remoto aumenta a produtividade "
    "da maioria das equipes, mas alertam que a integração de novos funcionários fica mais difícil sem um "
    "escritório.",
    "Com certeza. O reembolso será creditado no método de pagamento original em até 10 dias úteis.",
    "Infelizmente ainda não fazemos entregas para esse país, mas estamos trabalhando nisso.",
    "Entendo sua frustração. Deixa eu verificar o status do seu chamado.",
    "Olá, gostaria de saber se a garantia cobre danos causados por água.",
    "A reunião foi transferida para quinta-feira à tarde porque o cliente não podia comparecer na segunda.",
    "que horas vocês fecham hoje", "oi, tem alguém aí?", "Status do pedido", "Ótimo, muito obrigada pela ajuda!",
    "Você pode pagar com Visa, Mastercard, Pix ou boleto.",
    "Já fiz o pagamento mas continua aparecendo como pendente",
    # held out
    "Preciso de ajuda com a cobrança", "meu código de rastreio não funciona", "vcs podem ver meu pedido por favor",
    "Quanto custa o plano premium?", "Onde encontro meus recibos?", "Excluir minha conta",
    "Diz que o pagamento falhou mas o dinheiro saiu do meu banco", "Vocês têm isso no tamanho 42?",
    "Nunca recebi o e-mail de confirmação", "Tem desconto para estudante?", "Qual plano inclui acesso à API?",
    "O produto chegou quebrado", "Posso retirar na loja?",
    "Como modelo de linguagem, não tenho acesso aos dados da sua conta, mas posso explicar como os reembolsos "
    "costumam funcionar.",
    "Aqui está uma função em Python que inverte uma string: def reverse(s): return s[::-1]. Ela usa fatiamento "
    "com passo negativo.",
    "A capital da Austrália é Camberra, não Sydney, que é a maior cidade.",
    "Recomendo reiniciar o roteador primeiro. Se a luz continuar piscando em laranja, entre em contato com sua "
    "operadora.",
    "A sua subscrição é renovada no primeiro dia de cada mês. Pode mudar para faturação anual a qualquer momento.",
    "Claro, aqui vão três ideias para uma festa de aniversário: um piquenique no parque, uma noite de jogos de "
    "tabuleiro ou uma aula de culinária.",
    "o cupom não tá funcionando", "quero mudar meu plano", "Me cobraram a mais", "Não foi isso que eu pedi",
    "Pode explicar de um jeito mais simples?", "Escreva um poema curto sobre o mar", "Manda de novo por favor",
    "Não chegou nada", "Já paguei duas vezes", "Continuo esperando resposta", "A entrega está demorando demais",
    "Quero cancelar o serviço",
]
# other languages: must never come out as en/es/pt
OTHER = [
    ("fr", "Où est ma commande ? Je l'attends depuis deux semaines."),
    ("fr", "Bonjour, je voudrais annuler mon abonnement, s'il vous plaît."),
    ("fr", "Votre commande a été expédiée et devrait arriver dans trois à cinq jours ouvrables."),
    ("fr", "Comment puis-je obtenir un remboursement pour ma commande ?"),
    ("fr", "Merci beaucoup pour votre aide, c'est parfait."), ("fr", "Ce n'est pas ce que j'ai demandé"),
    ("it", "Dov'è il mio ordine? Lo aspetto da due settimane."),
    ("it", "Buongiorno, vorrei annullare il mio abbonamento, per favore."),
    ("it", "Il tuo ordine è stato spedito e dovrebbe arrivare entro tre o cinque giorni lavorativi."),
    ("it", "Grazie mille per l'aiuto, adesso funziona tutto."), ("it", "Non è quello che ho chiesto"),
    ("it", "Scrivi una breve poesia sul mare"),
    ("de", "Wo ist meine Bestellung? Ich warte seit zwei Wochen darauf."),
    ("de", "Guten Tag, ich möchte mein Abonnement bitte kündigen."),
    ("de", "Ihre Bestellung wurde versandt und sollte in drei bis fünf Werktagen ankommen."),
    ("de", "Vielen Dank für Ihre Hilfe, jetzt funktioniert alles."),
    ("nl", "Waar is mijn bestelling? Ik wacht er al twee weken op."),
    ("nl", "Hoe krijg ik mijn geld terug voor deze bestelling?"),
    ("ca", "On és la meva comanda? Fa dues setmanes que l'espero."),
    ("ca", "La teva comanda s'ha enviat i hauria d'arribar d'aquí a tres o cinc dies laborables."),
    ("ca", "Això no és el que he demanat"), ("ca", "Pots explicar-ho d'una manera més senzilla?"),
    ("gl", "Onde está o meu pedido? Levo dúas semanas agardando."),
    ("gl", "Cobráronme de máis"), ("gl", "Non foi iso o que pedín"),
    ("gl", "Xa paguei dúas veces e aínda non chegou nada"),
    ("ro", "Unde este comanda mea? O aștept de două săptămâni."), ("ro", "Poți să explici mai simplu?"),
    ("ru", "Где мой заказ? Я жду его уже две недели."), ("uk", "Де моє замовлення? Я чекаю на нього вже два тижні."),
    ("pl", "Gdzie jest moje zamówienie? Czekam na nie od dwóch tygodni."),
    ("tr", "Siparişim nerede? İki haftadır bekliyorum."), ("sv", "Var är min beställning? Jag har väntat i två veckor."),
    ("id", "Di mana pesanan saya? Saya sudah menunggu dua minggu."),
    ("zh", "我的订单在哪里？我已经等了两个星期了。"), ("ja", "注文した商品はどこですか？二週間も待っています。"),
    ("ko", "제 주문은 어디에 있나요? 2주째 기다리고 있어요."), ("ar", "أين طلبي؟ أنا أنتظره منذ أسبوعين."),
    ("hi", "मेरा ऑर्डर कहाँ है? मैं दो हफ्ते से इंतज़ार कर रहा हूँ।"), ("el", "Πού είναι η παραγγελία μου; Περιμένω δύο εβδομάδες."),
    ("he", "איפה ההזמנה שלי? אני מחכה כבר שבועיים."),
]
# too short, no language, or not a sentence: NULL
NO_LANGUAGE = [None, "", "   ", "ok", "?", "...", "12345", "👍", "👍👍👍", "https://example.com/a/b?c=1",
               "SKU-4432-AB", "ORD-2024-88812", "SELECT * FROM t WHERE id = 3", "def f(x): return x**2",
               '{"a": 1, "b": [1, 2]}', "lol", "hmm", "hi", "oi"]

LABELLED = [(t, "en") for t in EN] + [(t, "es") for t in ES] + [(t, "pt") for t in PT]

# reached when this was written: en 58/58, es 67/67, pt 66/68, all 191/193 (0.990), short 131/133
# (0.985); the misses: 'Continuo esperando resposta' -> es, 'A entrega está demorando demais' -> gl
MIN_ACCURACY = {"en": 0.98, "es": 0.98, "pt": 0.96}
MIN_ACCURACY_ALL = 0.985
MIN_ACCURACY_SHORT = 0.98   # texts of at most 40 characters


def _accuracy(pairs):
    got = language.detect([t for t, _ in pairs])
    return sum(g == want for g, (_, want) in zip(got, pairs)) / len(pairs)


def test_the_three_support_prompts_of_the_brief():
    assert language.detect(["¿Dónde está mi pedido?", "Cadê meu pedido?", "Where is my order?"]) == ["es", "pt", "en"]


@pytest.mark.parametrize("lang", ["en", "es", "pt"])
def test_accuracy_per_language(lang):
    pairs = [p for p in LABELLED if p[1] == lang]
    assert len(pairs) >= 30
    assert _accuracy(pairs) >= MIN_ACCURACY[lang]


def test_accuracy_overall_and_on_short_texts():
    short = [p for p in LABELLED if len(p[0]) <= 40]
    long_ = [p for p in LABELLED if len(p[0]) > 100]
    assert len(short) >= 100 and len(long_) >= 20
    assert _accuracy(LABELLED) >= MIN_ACCURACY_ALL
    assert _accuracy(short) >= MIN_ACCURACY_SHORT
    assert _accuracy(long_) == 1.0


def test_spanish_and_portuguese_pairs_are_told_apart():
    pairs = [("Quiero un reembolso", "es"), ("Quero um reembolso", "pt"),
             ("No puedo entrar a mi cuenta", "es"), ("Não consigo entrar na minha conta", "pt"),
             ("¿Por qué rechazaron mi tarjeta?", "es"), ("Por que meu cartão foi recusado?", "pt"),
             ("Eliminar mi cuenta", "es"), ("Excluir minha conta", "pt"),
             ("Lo siento, no puedo ayudarte con eso", "es"), ("Não posso ajudar com isso", "pt")]
    assert language.detect([t for t, _ in pairs]) == [lang for _, lang in pairs]


def test_typed_fast_no_accents_and_regional_look_alikes():
    """Short, accent-less prompts where the model alone says Extremaduran, Galician, Esperanto,
    Xhosa or Nigerian Pidgin (the priors in llmvigil.language settle them)."""
    pairs = [("cual es la politica de devoluciones si ya abri el producto", "es"), ("Olvidé mi contraseña", "es"),
             ("como cambio mi contrasena", "es"), ("ok gracias", "es"), ("ok obrigada", "pt"),
             ("Quero cancelar meu pedido K7626467", "pt"), ("i forgot my password", "en"), ("thanks!", "en"),
             ("Did Angelina Jolie ever get divorced?", "en")]
    assert language.detect([t for t, _ in pairs]) == [lang for _, lang in pairs]


def test_other_languages_are_not_forced_into_en_es_pt():
    got = language.detect([t for _, t in OTHER])
    forced = [(t, g) for g, (_, t) in zip(got, OTHER) if g in ("en", "es", "pt")]
    assert forced == []
    exact = sum(g == want for g, (want, _) in zip(got, OTHER)) / len(OTHER)
    assert exact >= 0.95  # 41/41 when written; a miss may be NULL or a neighbour, never one of the three


@pytest.mark.parametrize("text", NO_LANGUAGE)
def test_null_when_too_short_or_not_language(text):
    assert language.detect([text]) == [None]


def test_detect_keeps_positions_and_handles_empty_input():
    assert language.detect([]) == []
    assert language.detect([None, "Where is my order?", None, "", "Cadê meu pedido?"]) == [None, "en", None, None, "pt"]


def test_all_caps_and_long_texts():
    assert language.detect(["¿DÓNDE ESTÁ MI PEDIDO? LLEVO DOS SEMANAS ESPERANDO"]) == ["es"]
    long_pt = "Seu pedido já foi enviado e deve chegar em três a cinco dias úteis. " * 300
    assert language.detect([long_pt]) == ["pt"]
    # only the first MAX_CHARS characters count
    mixed = "Your order has been shipped and will arrive soon. " * 10 + "Seu pedido já foi enviado. " * 100
    assert language.detect([mixed]) == ["en"]


def _py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE)


def _varied_texts():
    """Test texts, the same in upper case and title case, and random strings of Latin-1, typographic
    punctuation, combining accents, other scripts and emoji (NFC and case both matter there)."""
    rng = random.Random(11)
    base = [t for t, _ in LABELLED] + [t for _, t in OTHER] + [t for t in NO_LANGUAGE if t]
    alphabet = ([chr(c) for c in range(0x20, 0x250)] + list("\u2019\u201c\u201d\u2013\u2014\u2026\u20ac\u2022")
                + [chr(c) for c in range(0x300, 0x370)] + list("\u0391\u03b1\u0410\u0430\u0416\u4f60\u597d\u0130\u0131\ufb01\u01c4\u01c5\u01c6\u1e9e\u00df")
                + ["\U0001F600", "\U0001F44D", "\n", "\t", " ", " ", " "])
    randoms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 250))) for _ in range(600)]
    return (base + [t.upper() for t in base[:80]] + [t.title() for t in base[:40]] + randoms
            + [t.upper() for t in randoms[:100]] + ["a", "ab", "abc", "abcde", "É", "ÉÉ", "e\u0301", "ǅ", "x" * 300])


def test_ngram_counts_are_exactly_py3langids():
    """The vectorised automaton finds the same n-grams, as often, as py3langid's own walk (after the
    same text preparation: lower-case when all upper, NFC, UTF-8) on every text."""
    from py3langid.langid import visit_counts

    ident = _py3langid()
    texts = [t[: language.MAX_CHARS] for t in _varied_texts()]
    ours = language._get_model().ngram_counts(texts)
    for text, got in zip(texts, ours):
        want = visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, ident._encode(text)) or {}
        assert got == dict(want), text


def test_text_preparation_of_every_latin1_character_is_py3langids():
    """Text of Latin-1 characters skips Python's normalisation when it cannot change it: each
    character alone, after an upper-case and after a lower-case letter, and every pair."""
    ident = _py3langid()
    model = language._get_model()
    texts = [c for c in map(chr, range(256))] + ["A" + chr(c) for c in range(256)] + ["b" + chr(c) for c in range(256)]
    texts += [chr(a) + chr(b) for a in range(0x20, 0x100, 3) for b in range(0x20, 0x100)]
    data, _, starts, lens, _, _, _ = model._encode(language._cut(pa.array(texts, pa.string())))
    got = [data[s: s + n].tobytes() for s, n in zip(starts.tolist(), lens.tolist())]
    assert got == [ident._encode(t) for t in texts]


def test_raw_scores_are_py3langids():
    """The vectorised scorer is py3langid's model run in batch: py3langid's scores (up to float32
    rounding: they are sums in another order) and the same best class for every text."""
    import numpy as np

    ident = _py3langid()
    model = language._get_model()
    texts = [t for t, _ in LABELLED] + [t for _, t in OTHER] + ["ÉSTA ES UNA PRUEBA", "abc def"]
    texts = [t[: language.MAX_CHARS] for t in texts]
    scores, nbytes, _, has_feature = model.raw_scores(texts)
    theirs = np.array([ident._raw_score(ident._encode(t)) for t in texts])
    assert has_feature.all()
    assert nbytes.tolist() == [len(ident._encode(t)) for t in texts]
    np.testing.assert_allclose(scores + np.asarray(ident.nb_pc, np.float32), theirs, rtol=1e-5)
    assert [model.classes[i] for i in scores.argmax(axis=1)] == [ident.classify(t)[0] for t in texts]


@pytest.mark.slow
def test_automaton_is_aho_corasick_so_a_window_of_context_bytes_fixes_its_state():
    """language scores every byte from the last _CONTEXT bytes alone. That holds because py3langid's
    automaton is the Aho-Corasick automaton of a trie of depth _CONTEXT (its state after any input is
    the longest suffix of the input in the trie): rebuild that automaton from the model's own trie
    and compare every move."""
    import numpy as np

    ident = _py3langid()
    nextmove = np.frombuffer(ident.tk_nextmove, dtype={2: np.uint16, 4: np.uint32}[ident.tk_nextmove.itemsize])
    moves = nextmove.reshape(-1, 256).astype(np.int32)[np.asarray(ident.tk_row)]  # state x byte -> state
    n = len(moves)
    depth = np.full(n, -1)
    depth[0] = 0
    frontier, d = np.array([0]), 0
    while len(frontier):
        reached = np.zeros(n, bool)
        reached[moves[frontier].ravel()] = True
        d += 1
        frontier = np.flatnonzero(reached & (depth < 0))
        depth[frontier] = d
    assert (depth >= 0).all() and depth.max() == language._CONTEXT
    # trie edges: moves one level deeper; every state but the start has exactly one
    tree = depth[moves] == depth[:, None] + 1
    src, byte = np.nonzero(tree)
    child = moves[src, byte]
    assert np.bincount(child, minlength=n).tolist() == [0] + [1] * (n - 1)
    parent, via = np.zeros(n, np.int64), np.zeros(n, np.int64)
    parent[child], via[child] = src, byte
    # Aho-Corasick: a state's move is its trie child, else the move of its failure state
    expected = np.where(tree[0], moves[0], 0)[None, :].repeat(n, axis=0)
    fail = np.zeros(n, np.int64)
    for d in range(1, depth.max() + 1):
        level = np.flatnonzero(depth == d)
        p = parent[level]
        fail[level] = np.where(depth[p] == 0, 0, expected[fail[p], via[level]])
        expected[level] = np.where(tree[level], moves[level], expected[fail[level]])
    assert np.array_equal(expected, moves)


def test_results_do_not_depend_on_batches_repeats_or_the_cache(monkeypatch):
    texts = [t for t, _ in LABELLED] + [t for _, t in OTHER] + NO_LANGUAGE
    rng = random.Random(5)
    mixed = [rng.choice(texts) for _ in range(3000)]
    one_by_one = [language.detect([t])[0] for t in texts]
    want = dict(zip(texts, one_by_one))
    model = language._get_model()
    for size in (0, 50, language._CACHE_SIZE):
        monkeypatch.setattr(language, "_CACHE_SIZE", size)
        model.recent.clear()
        model.older.clear()
        for lo in range(0, len(mixed), 700):
            assert language.detect(mixed[lo: lo + 700]) == [want[t] for t in mixed[lo: lo + 700]]
        if size:
            assert 0 < len(model.recent) + len(model.older) <= size + 2 * 700


def _sql_langs(con, prompts, responses):
    con.register("staged_arrow", pa.table({"prompt": pa.array(prompts, pa.string()),
                                           "response": pa.array(responses, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE staged AS SELECT row_number() OVER () AS i, * FROM staged_arrow")
    rows = con.execute(f"SELECT {language.select_sql()} FROM staged ORDER BY i").fetchall()
    con.unregister("staged_arrow")
    return [r[0] for r in rows], [r[1] for r in rows]


def test_sql_path_gives_the_same_results_as_detect():
    texts = [t for t, _ in LABELLED] + [t for _, t in OTHER] + NO_LANGUAGE
    rng = random.Random(3)
    prompts = [rng.choice(texts) for _ in range(5000)]           # several DuckDB vectors
    responses = [rng.choice(texts) for _ in range(5000)]
    con = duckdb.connect()
    language.register(con)
    p_sql, r_sql = _sql_langs(con, prompts, responses)
    assert p_sql == language.detect(prompts)
    assert r_sql == language.detect(responses)
    con.close()


def test_sql_fragment_takes_qualified_column_names():
    con = duckdb.connect()
    language.register(con)
    language.register(con)  # registering twice on one connection is fine
    got = con.execute(
        f"SELECT {language.select_sql('s.q', 's.a')} FROM (SELECT 'Where is my order?' AS q, NULL::VARCHAR AS a) s"
    ).fetchall()
    assert got == [("en", None)]


def test_macro_is_temporary_and_not_left_in_a_database_file(tmp_path):
    path = str(tmp_path / "store.duckdb")
    con = duckdb.connect(path)
    language.register(con)
    assert con.execute("SELECT lv_lang('¿Dónde está mi pedido?')").fetchall() == [("es",)]
    con.close()
    con = duckdb.connect(path)  # a later process (or the duckdb CLI) that does not register
    names = {r[0] for r in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    con.close()
    assert "lv_lang" not in names


@pytest.mark.slow
def test_model_loads_and_runs_with_the_network_blocked():
    code = textwrap.dedent("""
        import socket
        def _no_network(*a, **k):
            raise OSError("network disabled in this test")
        socket.socket.connect = _no_network
        socket.create_connection = _no_network
        socket.getaddrinfo = _no_network
        from llmvigil import language
        print(language.detect(["Where is my order?", "Cadê meu pedido?"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['en', 'pt']"


def test_model_arrays_are_cached_between_processes_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setenv("LLMVIGIL_CACHE_DIR", str(tmp_path / "cache"))
    derived = language._derive_arrays()
    first = language._load_arrays()  # derives and writes the cache
    [folder] = (tmp_path / "cache").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{k}.npy" for k in language._ARRAY_NAMES)
    mapped = language._load_arrays()  # read back, memory-mapped
    assert isinstance(mapped["step"], np.memmap) and not isinstance(first["step"], np.memmap)
    for k in language._ARRAY_NAMES:
        assert np.array_equal(mapped[k], derived[k]), k
    # the cached model detects exactly what a model derived in memory detects
    texts = [t for t, _ in LABELLED] + [t for _, t in OTHER] + NO_LANGUAGE
    from_cache = language._Model()
    monkeypatch.setattr(language, "_load_arrays", language._derive_arrays)
    in_memory = language._Model()
    arr = language._cut(pa.array(texts, pa.string()))
    assert from_cache.detect_arrow(arr).to_pylist() == in_memory.detect_arrow(arr).to_pylist()
    monkeypatch.undo()
    # a truncated file: derived again, and the cache folder replaced by a good one
    monkeypatch.setenv("LLMVIGIL_CACHE_DIR", str(tmp_path / "cache"))
    (folder / "table.npy").write_bytes((folder / "table.npy").read_bytes()[:1000])
    again = language._load_arrays()
    assert np.array_equal(again["table"], derived["table"])
    assert np.array_equal(np.load(folder / "table.npy", mmap_mode="r"), derived["table"])


def test_model_loads_without_a_writable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("LLMVIGIL_CACHE_DIR", str(blocker / "cache"))
    arrays = language._load_arrays()
    assert arrays["table"].shape[0] == len(language._derive_arrays()["table"])
    assert blocker.is_file()


def test_writing_a_new_cache_entry_removes_the_entries_no_process_read_lately(tmp_path, monkeypatch):
    import os
    import time

    from llmvigil import cache

    root = tmp_path / "cache"
    monkeypatch.setenv("LLMVIGIL_CACHE_DIR", str(root))
    old, recent, tmp_left, other = (root / "langid-0ld", root / "langid-recent", root / "langid-x.tmp-1-2",
                                    root / "refusal-0ld")
    for d in (old, recent, tmp_left, other):
        d.mkdir(parents=True)
        (d / "step.npy").write_bytes(b"x")
    month_ago = time.time() - (cache.STALE_DAYS + 1) * 86400
    for d in (old, tmp_left, other):
        os.utime(d, (month_ago, month_ago))
    language._load_arrays()  # no entry for this model yet: written, then the stale ones pruned
    names = sorted(p.name for p in root.iterdir())
    assert names == sorted(["langid-recent", "refusal-0ld", f"langid-{language._arrays_key()}"])
    # reading an entry marks it used: it survives a later prune
    entry = root / f"langid-{language._arrays_key()}"
    os.utime(entry, (month_ago, month_ago))
    language._load_arrays()
    assert cache.prune(root, "langid-", root / "none") == []
    assert entry.is_dir() and entry.stat().st_mtime > month_ago + 86400
