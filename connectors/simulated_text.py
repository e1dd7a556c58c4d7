"""Post templates for the simulated source, in Swedish, Danish, Norwegian and English.

Written to resemble what customer-service teams see: praise, neutral questions, news shares, and
complaints about each of the six aspects in monitor.kernel.types.ASPECTS, with emoji, hashtags, handles,
genitives and compounds ("Telias kundtjänst", "Telia-kundeservice") that the brand matcher must handle.
Placeholders: {brand} {brand_s} (genitive) {handle} {tag} {n} (minutes) {amount} {days} {author}.
"""

from __future__ import annotations

GENERAL: dict[str, dict[str, tuple[str, ...]]] = {
    "sv": {
        "praise": (
            "Stort tack till {brand} som löste mitt problem på fem minuter! 🙌",
            "Måste säga att {brand_s} kundtjänst var riktigt trevlig idag {tag}",
            "Bytte till {brand} förra månaden och är jättenöjd 😊",
            "{handle} tack för snabb hjälp med flytten, ni är bäst!",
            "Smidigt och enkelt, {brand} levererar som vanligt 👍",
        ),
        "question": (
            "Vet någon om {brand} har öppet i butiken på söndagar?",
            "{handle} hur gör jag för att byta abonnemang i appen?",
            "Har {brand} något studentpris? Funderar på att byta.",
            "Någon som vet när {brand_s} nya erbjudande börjar gälla?",
            "Fråga till {handle}: går det att pausa abonnemanget under sommaren?",
        ),
        "news": (
            "{brand} redovisar stigande vinst för kvartalet enligt DI",
            "Nyheter: {brand} investerar i nytt kundcenter i Luleå",
            "{brand} byter vd, meddelar bolaget i ett pressmeddelande",
            "Läste att {brand} höjer priserna från nästa år {tag}",
        ),
    },
    "da": {
        "praise": (
            "Kæmpe ros til {brand} for hurtig hjælp i dag! 🙌",
            "{brand_s} kundeservice var super venlige, tak for det {tag}",
            "Har lige skiftet til {brand} og er rigtig glad 😊",
            "{handle} tak for den hurtige løsning, I er gode!",
            "Nemt og smertefrit, {brand} leverer som altid 👍",
        ),
        "question": (
            "Er der nogen der ved om {brand} har åbent i butikken søndag?",
            "{handle} hvordan skifter jeg abonnement i appen?",
            "Har {brand} rabat til studerende? Overvejer at skifte.",
            "Hvornår starter {brand_s} nye tilbud egentlig?",
            "Spørgsmål til {handle}: kan man sætte abonnementet på pause?",
        ),
        "news": (
            "{brand} melder om stigende overskud i kvartalet ifølge Børsen",
            "Nyhed: {brand} åbner nyt kundecenter i Aarhus",
            "{brand} skifter direktør, oplyser selskabet i en meddelelse",
            "Har læst at {brand} hæver priserne fra næste år {tag}",
        ),
    },
    "no": {
        "praise": (
            "Stor takk til {brand} som fikset problemet mitt på fem minutter! 🙌",
            "{brand_s} kundeservice var veldig hyggelige i dag {tag}",
            "Byttet til {brand} forrige måned og er kjempefornøyd 😊",
            "{handle} takk for rask hjelp med flyttingen, dere er best!",
            "Enkelt og greit, {brand} leverer som vanlig 👍",
        ),
        "question": (
            "Vet noen om {brand} har åpent i butikken på søndager?",
            "{handle} hvordan bytter jeg abonnement i appen?",
            "Har {brand} studentrabatt? Vurderer å bytte.",
            "Noen som vet når {brand_s} nye tilbud starter?",
            "Spørsmål til {handle}: kan jeg sette abonnementet på pause i sommer?",
        ),
        "news": (
            "{brand} melder om økt overskudd i kvartalet, skriver DN",
            "Nyhet: {brand} åpner nytt kundesenter i Trondheim",
            "{brand} bytter konsernsjef, opplyser selskapet",
            "Leste at {brand} øker prisene fra neste år {tag}",
        ),
    },
    "en": {
        "praise": (
            "Huge thanks to {brand} for sorting out my issue in five minutes! 🙌",
            "{brand_s} support team was lovely today {tag}",
            "Switched to {brand} last month and really happy so far 😊",
            "{handle} thanks for the quick help with my move, you're the best!",
            "Smooth and easy, {brand} delivers as usual 👍",
        ),
        "question": (
            "Does anyone know if {brand} stores are open on Sundays?",
            "{handle} how do I change my plan in the app?",
            "Does {brand} have a student discount? Thinking of switching.",
            "Anyone know when {brand_s} new offer starts?",
            "Question for {handle}: can I pause my subscription over the summer?",
        ),
        "news": (
            "{brand} reports rising quarterly profit, Reuters says",
            "News: {brand} opens a new customer centre in Malmö",
            "{brand} names a new CEO, the company said in a statement",
            "Read that {brand} is raising prices from next year {tag}",
        ),
    },
}

COMPLAINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "sv": {
        "availability_wait": (
            "Har suttit i telefonkö hos {brand} i {n} minuter nu. Hallå?? 😡",
            "{handle} ingen svarar i chatten, {n} min väntetid. Skämt?",
            "Typisk {brand}kundtjänst: {n} minuter i kö och sen läggs luren på",
        ),
        "not_resolved": (
            "Tredje gången jag kontaktar {brand} om samma fel och fortfarande inte löst {tag}",
            "{handle} ni lovade återkoppling för {days} dagar sedan. Inget har hänt.",
            "Ärendet hos {brand} stängdes utan att problemet var löst. Igen. 🙄",
        ),
        "staff_attitude": (
            "Otroligt otrevlig personal i {brand_s} butik idag, blev utskrattad 😠",
            "{handle} er kundtjänst var nedlåtande och arg när jag ställde en enkel fråga",
        ),
        "competence_wrong_info": (
            "Fick helt fel information av {brand} om uppsägningstiden, nu får jag betala extra",
            "{handle} tre handläggare, tre olika svar. Vet ni ens själva hur det funkar?",
        ),
        "price_billing": (
            "{brand} har dragit {amount} kr för mycket på fakturan igen 😤 {tag}",
            "{handle} varför har jag fått en faktura på {amount} kr när jag sagt upp abonnemanget?",
            "Dubbeldebiterad av {brand}. Vill ha tillbaka mina pengar nu.",
        ),
        "product_delivery_fault": (
            "Routern från {brand} har inte kommit, {days} dagar försenad leverans {tag}",
            "{handle} mobilnätet ligger nere igen i hela Göteborg, inget funkar 📵",
            "Nya telefonen från {brand} var trasig vid leverans. Suck.",
        ),
    },
    "da": {
        "availability_wait": (
            "Har ventet i telefonkø hos {brand} i {n} minutter nu. Hallo?? 😡",
            "{handle} ingen svarer i chatten, {n} min ventetid. Seriøst?",
            "{brand}-kundeservice når det er værst: {n} minutter i kø og så bliver røret lagt på",
        ),
        "not_resolved": (
            "Tredje gang jeg kontakter {brand} om den samme fejl og stadig ikke løst {tag}",
            "{handle} I lovede at vende tilbage for {days} dage siden. Intet er sket.",
            "Sagen hos {brand} blev lukket uden at problemet var løst. Igen. 🙄",
        ),
        "staff_attitude": (
            "Utroligt uhøflig personale i {brand_s} butik i dag 😠",
            "{handle} jeres kundeservice var nedladende og sur da jeg stillede et simpelt spørgsmål",
        ),
        "competence_wrong_info": (
            "Fik helt forkert information af {brand} om opsigelsen, nu skal jeg betale ekstra",
            "{handle} tre medarbejdere, tre forskellige svar. Ved I overhovedet selv hvordan det virker?",
        ),
        "price_billing": (
            "{brand} har trukket {amount} kr for meget på regningen igen 😤 {tag}",
            "{handle} hvorfor har jeg fået en regning på {amount} kr når jeg har opsagt abonnementet?",
            "Dobbelt trukket af {brand}. Jeg vil have mine penge tilbage nu.",
        ),
        "product_delivery_fault": (
            "Routeren fra {brand} er ikke kommet, {days} dage forsinket levering {tag}",
            "{handle} mobilnettet er nede igen i hele København, intet virker 📵",
            "Den nye telefon fra {brand} var i stykker ved levering. Suk.",
        ),
    },
    "no": {
        "availability_wait": (
            "Har sittet i telefonkø hos {brand} i {n} minutter nå. Hallo?? 😡",
            "{handle} ingen svarer i chatten, {n} min ventetid. Seriøst?",
            "{brand}-kundeservice på sitt verste: {n} minutter i kø og så blir det lagt på",
        ),
        "not_resolved": (
            "Tredje gang jeg kontakter {brand} om samme feil og fortsatt ikke løst {tag}",
            "{handle} dere lovet å ta kontakt for {days} dager siden. Ingenting har skjedd.",
            "Saken hos {brand} ble lukket uten at problemet var løst. Igjen. 🙄",
        ),
        "staff_attitude": (
            "Utrolig frekke ansatte i {brand_s} butikk i dag 😠",
            "{handle} kundeservicen deres var nedlatende og sur da jeg stilte et enkelt spørsmål",
        ),
        "competence_wrong_info": (
            "Fikk helt feil informasjon fra {brand} om oppsigelsen, nå må jeg betale ekstra",
            "{handle} tre saksbehandlere, tre forskjellige svar. Vet dere selv hvordan det fungerer?",
        ),
        "price_billing": (
            "{brand} har trukket {amount} kr for mye på regningen igjen 😤 {tag}",
            "{handle} hvorfor har jeg fått en regning på {amount} kr når jeg har sagt opp abonnementet?",
            "Dobbelt belastet av {brand}. Vil ha pengene mine tilbake nå.",
        ),
        "product_delivery_fault": (
            "Ruteren fra {brand} har ikke kommet, {days} dager forsinket levering {tag}",
            "{handle} mobilnettet er nede igjen i hele Bergen, ingenting virker 📵",
            "Den nye telefonen fra {brand} var ødelagt ved levering. Sukk.",
        ),
    },
    "en": {
        "availability_wait": (
            "Been on hold with {brand} for {n} minutes now. Hello?? 😡",
            "{handle} nobody answers the chat, {n} min wait. Seriously?",
            "{brand_s} customer service: {n} minutes in the queue and then they hang up",
        ),
        "not_resolved": (
            "Third time contacting {brand} about the same fault and still not fixed {tag}",
            "{handle} you promised to get back to me {days} days ago. Nothing happened.",
            "{brand} closed my case without fixing anything. Again. 🙄",
        ),
        "staff_attitude": (
            "Incredibly rude staff at the {brand} store today 😠",
            "{handle} your support agent was condescending and rude when I asked a simple question",
        ),
        "competence_wrong_info": (
            "{brand} gave me completely wrong info about the notice period, now I have to pay extra",
            "{handle} three agents, three different answers. Do you even know how it works?",
        ),
        "price_billing": (
            "{brand} overcharged me {amount} kr on the bill again 😤 {tag}",
            "{handle} why did I get a {amount} kr invoice after cancelling my subscription?",
            "Double charged by {brand}. I want my money back now.",
        ),
        "product_delivery_fault": (
            "My router from {brand} still hasn't arrived, delivery {days} days late {tag}",
            "{handle} the mobile network is down again across Oslo, nothing works 📵",
            "New phone from {brand} arrived broken. Sigh.",
        ),
    },
}

# Storm posts that retell one viral complaint (a quote of it, with the viral post as parent).
RETELLINGS: dict[str, tuple[str, ...]] = {
    "sv": (
        "Såg det här från @{author}, exakt samma sak hände mig med {brand} 😡",
        "Helt sjukt hur {brand} behandlar sina kunder. Läs tråden från @{author}",
        "Samma här! Exakt samma problem med {brand} igår. {tag}",
        "Det här måste {handle} svara på. Skandal.",
    ),
    "da": (
        "Så det her fra @{author}, præcis det samme skete for mig med {brand} 😡",
        "Helt vildt hvordan {brand} behandler sine kunder. Læs tråden fra @{author}",
        "Samme her! Præcis det samme problem med {brand} i går. {tag}",
        "Det her må {handle} svare på. Skandale.",
    ),
    "no": (
        "Så dette fra @{author}, akkurat det samme skjedde meg med {brand} 😡",
        "Helt sykt hvordan {brand} behandler kundene sine. Les tråden fra @{author}",
        "Samme her! Akkurat samme problem med {brand} i går. {tag}",
        "Dette må {handle} svare på. Skandale.",
    ),
    "en": (
        "Saw this from @{author}, exactly the same happened to me with {brand} 😡",
        "Unbelievable how {brand} treats customers. Read the thread from @{author}",
        "Same here! Exactly the same problem with {brand} yesterday. {tag}",
        "{handle} needs to answer this. Scandalous.",
    ),
}

REPOST = "RT @{author}: {text}"
FIRST_NAMES = {
    "sv": ("anna", "erik", "sara", "johan", "emma", "lars", "maja", "oskar"),
    "da": ("mette", "mikkel", "freja", "rasmus", "ida", "søren", "line", "jonas"),
    "no": ("ingrid", "ola", "kari", "henrik", "nora", "jørgen", "silje", "eirik"),
    "en": ("james", "olivia", "tom", "emily", "jack", "chloe", "sam", "lucy"),
}
