"""Hand-written sv/da/no/en probe sentences for needs_help and aspects (our own text, not data sets).

WHY: the only complaint-category labels we have are English airline tweets. These probes measure
whether heads trained on them transfer to the Nordic languages through the multilingual encoder.
They are used for measurement only, never for training, so the figures in docs/model.md stay honest.
Each entry: (lang, text, needs_help, aspect or None).
"""

from __future__ import annotations

PROBES: list[tuple[str, str, bool, str | None]] = [
    # --- Swedish
    ("sv", "Jag har väntat i telefonkö i två timmar och ingen svarar", True, "availability_wait"),
    ("sv", "Tredje gången jag kontaktar er om samma fel och det är fortfarande inte löst", True, "not_resolved"),
    ("sv", "Personalen i butiken var otroligt otrevlig mot mig", True, "staff_attitude"),
    ("sv", "Kundtjänst gav mig fel information om min uppsägning", True, "competence_wrong_info"),
    ("sv", "Ni har dragit pengar två gånger för samma faktura", True, "price_billing"),
    ("sv", "Paketet kom fram trasigt och halva beställningen saknas", True, "product_delivery_fault"),
    ("sv", "Regeringen presenterade en dålig budget i dag", False, None),
    ("sv", "Vilket tråkigt väder det är i Stockholm", False, None),
    ("sv", "Tack för snabb hjälp, allt fungerar nu", False, None),
    # --- Danish
    ("da", "Jeg har ventet i telefonkø i over en time og ingen tager den", True, "availability_wait"),
    ("da", "Det er tredje gang jeg skriver om samme problem og det er stadig ikke løst", True, "not_resolved"),
    ("da", "Medarbejderen i kundeservice var utrolig uhøflig", True, "staff_attitude"),
    ("da", "I gav mig forkerte oplysninger om mit abonnement", True, "competence_wrong_info"),
    ("da", "Jeg er blevet opkrævet to gange for den samme regning", True, "price_billing"),
    ("da", "Min pakke kom frem i stykker og der mangler varer", True, "product_delivery_fault"),
    ("da", "Folketinget vedtog en dårlig lov i går", False, None),
    ("da", "Sikke et trist vejr det er i dag", False, None),
    ("da", "Tak for den hurtige hjælp, nu virker det hele", False, None),
    # --- Norwegian (Bokmål)
    ("no", "Jeg har ventet i telefonkø i to timer og ingen svarer", True, "availability_wait"),
    (
        "no",
        "Dette er tredje gang jeg tar kontakt om samme feil, og den er fortsatt ikke løst",
        True,
        "not_resolved",
    ),
    ("no", "Betjeningen i butikken var veldig frekk mot meg", True, "staff_attitude"),
    ("no", "Kundeservice ga meg feil informasjon om oppsigelsen", True, "competence_wrong_info"),
    ("no", "Dere har trukket meg to ganger for samme faktura", True, "price_billing"),
    ("no", "Pakken kom frem ødelagt og halve bestillingen mangler", True, "product_delivery_fault"),
    ("no", "Filmen var kjedelig og skuespillet svakt", False, None),
    ("no", "Stortinget vedtok et dårlig budsjett i går", False, None),
    ("no", "Takk for rask hjelp, alt fungerer nå", False, None),
    # --- English (not airline)
    ("en", "I've been on hold for two hours and nobody picks up", True, "availability_wait"),
    ("en", "Third time contacting you about the same issue and it's still not fixed", True, "not_resolved"),
    ("en", "The staff at your store were incredibly rude to me", True, "staff_attitude"),
    (
        "en",
        "Your support agent gave me completely wrong information about my contract",
        True,
        "competence_wrong_info",
    ),
    ("en", "You charged me twice for the same invoice", True, "price_billing"),
    ("en", "My package arrived broken and half the order is missing", True, "product_delivery_fault"),
    ("en", "The government announced a terrible budget today", False, None),
    ("en", "What a gloomy day it is", False, None),
    ("en", "Thanks for the quick help, everything works now", False, None),
]
