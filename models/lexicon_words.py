"""Word lists for the lexicon scorer: sentiment, negation, intensity, help requests and complaint aspects.

Entries are stems written in normal spelling; they are folded (monitor.kernel.textfold.fold) when loaded, and a
stem of 4+ letters also matches words that extend it by at most 4 letters (dålig -> dåligt, dåliga;
disappoint -> disappointed). "word:2" doubles a weight. Hand-written for customer-service talk about
telecom, transport, retail, banking and delivery in Swedish, Danish, Norwegian (Bokmål, some Nynorsk)
and English; English is always consulted too because Nordic posts mix it in.
"""

from __future__ import annotations

POSITIVE = {
    "sv": """bra:1.5 jättebra:2 toppen:2 super utmärk:2 fantastisk:2 underbar:2 grym:1.5 perfekt:2
        nöjd:1.5 glad snabb smidig enkel trevlig vänlig hjälpsam proffsig professionell kanon
        suverän härlig älska:2 gillar gilla tack:1 tacksam rekommender:1.5 bäst:1.5 bättre fin fint
        snygg skön mysig imponer:1.5 lätt lyckad lyckades smart kul roligt rolig grymt strålande
        tryggt trygg pålitlig effektiv löste fixade fungerar:0.5 funkar:0.5 bravo heja vacker
        underbart gott god utmärkt positiv positivt tillmötesgående serviceinriktad prisvärd billig
        klockren favorit wow najs nice grattis:1.5 söt:1.5 gullig:1.5 kärlek:1.5 lycka:1.5
        lycklig:1.5 stolt skratt haha hahaha snäll:1.5 vackert fräsch proffsigt underhållande:1.5
        spännande:1.5 intressant välkommen
        beröm:1.5 okej:0.5""",
    "da": """god:1 godt:1 super fantastisk:2 fremragende:2 perfekt:2 tilfreds:1.5 glad hurtig nem venlig
        hjælpsom professionel elsk:2 kan_lide tak:1 taknemmelig anbefal:1.5 bedst:1.5 bedre fin flot
        dejlig:1.5 lækker skøn imponer:1.5 let lykkedes smart sjov sjovt fremragende tryg pålidelig
        effektiv løste fiksede fungerer:0.5 virker:0.5 bravo smuk positiv positivt imødekommende
        prisvenlig billig favorit wow nice topklasse genial vildt_god fed fedt sød hyggelig
        spændende:1.5 interessant underholdende:1.5 glæde stolt tillykke:1.5 sej:1.5 sejt:1.5 skønt
        herlig:1.5 pragtfuld:2 fornøjelse lykkelig:1.5 haha hahaha velkommen sød
        ros:1.5 rost:1.5 okay:0.5 topklasse""",
    "no": """bra:1.5 kjempebra:2 supert super fantastisk:2 utmerket:2 perfekt:2 fornøyd:1.5 glad rask
        enkel grei hyggelig vennlig hjelpsom profesjonell elsk:2 liker takk:1 takknemlig anbefal:1.5
        best:1.5 bedre fin flott deilig:1.5 nydelig:1.5 imponer:1.5 lett lyktes smart morsom gøy
        trygg pålitelig effektiv løste fikset fungerer:0.5 virker:0.5 bravo vakker positiv positivt
        imøtekommende prisgunstig billig favoritt wow nice glimrende strålende herlig solid
        sterk:0.5 vellykket god:1 godt:1 gode spennende:1.5 interessant underholdende:1.5 briljant:2
        mesterlig:2 treffende elegant kjekk kjekt velskrevet:1.5 gripende:1.5 rørende:1.5 festlig
        gledelig glede fornøyelse stolt haha velkommen
        ros:1.5 rost:1.5 greit:0.5 ok:0.5""",
    "en": """good:1 great:2 excellent:2 amazing:2 awesome:2 fantastic:2 wonderful:2 perfect:2 happy:1.5
        pleased satisfied fast quick easy friendly kind helpful professional love:2 loved lovely
        like:0.5 thanks:1 thank:1 thx grateful appreciate:1.5 recommend:1.5 best:1.5 better nice
        beautiful impress:1.5 smooth smart fun enjoy reliable efficient solved fixed resolved
        works:0.5 bravo brilliant superb outstanding positive glad delighted cheap affordable
        favorite favourite wow cool kudos:1.5 props hero legend yay appreciated sweet safe
        comfortable enjoyed excited:1.5 welcome congrats:1.5 congratulations:1.5 proud
        impressive:1.5 haha lol:0.5 glad
        sorted:1 okay:0.5 praise:1.5""",
}

NEGATIVE = {
    "sv": """dålig:1.5 dåligt:1.5 sämst:2 sämre usel:2 urusel:2 värdelös:2 katastrof:2 skandal:2
        skämt:1.5 hopplös:2 besviken:2 besvikelse:2 besvikna:2 arg:1.5 irriter:1.5 förbannad:2 sur
        ledsen trött otrevlig:2 oproffsig:2 oförskämd:2 nedlåtande:2 inkompetent:2 trasig:1.5 fel:1
        felaktig problem:1 krångel krånglar krångl:1.5 strul strular fungerar_inte segt seg långsam
        försenad försening:1.5 väntat kö:0.5 aldrig:0.5 bedrägeri:2 lurad lurade blåst:1.5 stöld
        ocker:2 dyr:1 dyrt:1 överdebiter:2 klagomål klaga reklamation reklamer:1 tyvärr:1 synd
        hemsk:2 hemskt:2 vidrig:2 äcklig:2 pinsam:1.5 tråkig jobbig jävla:1.5 fan:1 fy:1.5 suck:1
        suger:2 hatar:2 hat avsky:2 ångrar:1.5 undvik:2 aldrig_mer nere avbrott:1.5 slarv:1.5
        slarvig:1.5 ignorer:1.5 ohjälpsam oacceptabel:2 orimlig:1.5 ilsk i_kö:1 ingen_svarar:1.5
        kris dum:1.5 idiot:2 pinsamt skam:1.5 rädd död:1 olycka:1.5 tragisk:2 jobbigt orkar
        trist:1.5 ful:1.5 elak:1.5 elände:2 usch:1.5 ont:1 gråta gråter förlust
        bedrövlig:2 katastrofal:2 skandalös:2 fruktansvärd:2 förskräcklig:2 gräslig:2 vedervärdig:2
        horribel:2 undermålig:2 oseriös:2 respektlös:2 misslyckad:2 inkompetens:2 ohyfsad:2 skräp:2
        bluff:2 lurendrejeri:2 ruttet:1.5 erbarmlig:2 patetisk:2 löjlig:1.5 vansinnig:1.5 svek:1.5
        sviker:1.5 oanständig:2 uselhet:2""",
    "da": """dårlig:1.5 dårligt:1.5 værst:2 værre elendig:2 ubrugelig:2 katastrofe:2 skandale:2 joke
        håbløs:2 skuffet:2 skuffelse:2 skuffende:2 vred:1.5 irriter:1.5 sur ked træt uhøflig:2
        uprofessionel:2 nedladende:2 inkompetent:2 i_stykker ødelagt:1.5 fejl:1 forkert problem:1
        bøvl:1.5 besvær langsom forsinket forsinkelse:1.5 ventet kø:0.5 aldrig:0.5 svindel:2 snyd:2
        snydt:2 dyr:1 dyrt:1 overtaks:1 klage:1.5 reklamation desværre:1 synd frygtelig:2
        forfærdelig:2 rædsom:2 ulækker:2 pinlig:1.5 kedelig træls:1.5 pis:1.5 fanden:1 for_fanden
        suk:1 stinker:2 hader:2 had afsky:2 fortryder:1.5 undgå:2 nede nedbrud:1.5 sjusk:1.5
        ignorer:1.5 uacceptabel:2 urimelig:1.5 latterlig:1.5 møg:1.5 lorte:1.5 trist i_kø:1
        ingen_svarer:1.5 kritik:1 ulykke:1.5 uheld:1.5 fiasko:2 ulighed dumt:1.5 dum idiot:2
        latterligt frygt bange vrøvl:1.5 pinligt skam:1.5 klamt:1.5 kritisk angreb dræbt:1.5 død:1
        syg farlig:1.5 krise:1.5 tab
        usel:2 uselt:2 usle:2 skandaløs:2 katastrofal:2 horribel:2 rædselsfuld:2 gyselig:2 værdiløs:2
        respektløs:2 uduelig:2 inkompetence:2 amatøragtig:2 uanstændig:2 uhørt:2 skod:2 lort:2
        elendighed:2 sølle:1.5 svigt:1.5 vits:1 ubehagelig:1.5 kritisabel:1.5 tåbelig:1.5 patetisk:2
        hjerteløs:2 horribelt:2 ussel:2""",
    "no": """dårlig:1.5 verst:2 verre elendig:2 ubrukelig:2 katastrofe:2 skandale:2 vits håpløs:2
        skuffet:2 skuffelse:2 skuffende:2 sint:1.5 irriter:1.5 sur lei trøtt frekk:2 uhøflig:2
        uprofesjonell:2 nedlatende:2 inkompetent:2 ødelagt:1.5 feil:1 problem:1 krøll trøbbel:1.5
        tregt treg:1.5 sakte forsinket forsinkelse:1.5 ventet kø:0.5 aldri:0.5 svindel:2 lurt:1.5
        dyr:1 dyrt:1 klage:1.5 reklamasjon dessverre:1 synd forferdelig:2 fryktelig:2 grusom:2
        ekkel:2 pinlig:1.5 kjedelig irriterende:1.5 faen:1.5 helvete:1.5 sukk:1 suger:2 hater:2 hat
        avsky:2 angrer:1.5 unngå:2 nede brudd:1 slurv:1.5 ignorer:1.5 uakseptabel:2 urimelig:1.5
        latterlig:1.5 trist svak:1 middelmådig:1.5 kjip i_kø:1 ingen_svarer:1.5 overfladisk:1.5 tynn
        forutsigbar:1.5 klisje flat langtekkelig:2 mislykket:2 problemer mangler:1 mangel plagsom
        dum teit:1.5 tåpelig:1.5 uinteressant:2 intetsigende:2 tamt:1.5 tam slitsom:1.5 ujevn:1
        rotete:1.5 kjedelig:1.5 svakt:1 dessverre:1
        usel:2 uselt:2 usle:2 ussel:2 skandaløs:2 katastrofal:2 horribel:2 verdiløs:2 respektløs:2
        udugelig:2 inkompetanse:2 amatørmessig:2 uanstendig:2 uhørt:2 dritt:2 møkk:2 ræva:2
        elendighet:2 svik:1.5 ubehagelig:1.5 skrekkelig:2 skammelig:2 råtten:1.5 patetisk:2
        hjerteløs:2 kritikkverdig:1.5 jævlig:2""",
    "en": """bad:1.5 worst:2 worse terrible:2 awful:2 horrible:2 useless:2 disaster:2 scandal:2 joke
        hopeless:2 disappoint:2 angry:1.5 annoy:1.5 irritat:1.5 furious:2 mad upset sad tired rude:2
        unprofessional:2 condescending:2 incompetent:2 broken:1.5 wrong:1 error problem:1 issue:0.5
        hassle slow delay:1.5 delayed:1.5 late:1 waiting wait:0.5 queue:0.5 never:0.5 fraud:2 scam:2
        ripoff:2 rip expensive:1 overcharg:2 complain:1.5 complaint:1.5 unfortunately:1 sorry:0.5
        poor:1.5 pathetic:2 ridiculous:2 unacceptable:2 shame:1.5 embarrass:1.5 boring hate:2
        sucks:2 suck:1.5 regret:1.5 avoid:2 down outage:1.5 fail:1.5 fails:1.5 failed:1.5
        ignored:1.5 ignore:1 lost:1 cancelled:1.5 canceled:1.5 stuck:1 nightmare:2 wtf:2 ugh:1.5
        sigh:1 damn:1 shit:1.5 crap:1.5 lousy:2 mess:1.5 worthless:2 frustrat:1.5 screw screwed
        hostage scream missed missing stranded:1.5 unhelpful:2 disgust:2 disgrace:2 appalling:2
        incompetence:2 waste:1.5 wasted:1.5 miserable:2 dirty:1.5 liar:2 lied:2 refuse:1.5
        refused:1.5 denied:1.5 smh:1.5 fml:2 hours:0.3 on_hold:1.2 still_waiting:1.5 no_answer:1.5
        no_response:1.5
        dreadful:2 abysmal:2 atrocious:2 shocking:2 outrageous:2 horrendous:2 woeful:2 shoddy:2
        dismal:2 inept:2 rubbish:2 garbage:2 trash:1.5 laughable:2 insulting:2 unreliable:1.5
        infuriating:2 shambles:2 farce:2 diabolical:2 disgusting:2 pathetic:2 terrible:2 unbelievable:0.5""",
}

EMOJI_POSITIVE = "😀😃😄😁😆😊🙂😍🥰😘😻❤💕💖💗💙💚💛🧡💜👍👏🙌🎉🥳✨🌟⭐💯🙏😎🤩😂🤣☺"
EMOJI_NEGATIVE = "😠😡🤬😤😞😟😢😭😩😫😒🙄😑😐😕🙁☹👎💔📵🤮🤢😖😣😓😰😱💩🤦"
EMOTICONS_POSITIVE = (":)", ":-)", ":D", ":-D", ";)", ";-)", "<3", ":P")
EMOTICONS_NEGATIVE = (":(", ":-(", ":/", ":-/", ":'(", "D:", ">:(")

# Negators flip the polarity of the next few words ("inte bra", "ikke god", "not good").
NEGATORS = {
    "sv": "inte icke ej aldrig ingen inget inga utan knappast",
    "da": "ikke ej aldrig ingen intet ingenting uden næppe",
    "no": "ikke ikkje ei aldri ingen ingenting uten neppe",
    "en": "not no never none nothing without hardly nobody isnt dont doesnt didnt cant couldnt wont wasnt arent",
}
INTENSIFIERS = {
    "sv": "mycket väldigt jätte otroligt riktigt så helt extremt galet sjukt skit super",
    "da": "meget virkelig vildt utroligt rigtig så helt ekstremt total super",
    "no": "veldig kjempe utrolig virkelig skikkelig så helt ekstremt super",
    "en": "very really so extremely totally super absolutely incredibly truly",
}
# Compound prefixes that intensify ("jättebra", "kjempedårlig", "superlangsom", "skitdålig").
INTENSIFYING_PREFIXES = (
    "jätte",
    "kjempe",
    "kæmpe",
    "super",
    "mega",
    "kanon",
    "skit",
    "sjukt",
    "hyper",
    "ultra",
    "dritt",
    "møg",
    "møkk",
    "pisse",
    "ur",
    "rekord",
    "bund",
    "total",
    "vildt",
)
# A compound whose first part is one of these denies its second part ("missnöjd", "mistilfreds"): the
# polarity of the tail flips instead of carrying over.
NEGATING_PREFIXES = ("miss", "mis", "van", "dis")

# Signals that the author wants something from the brand (for needs_help).
REQUESTS = {
    "sv": "hjälp hjälpa snälla kontakta ring svara svar återkoppla pengarna tillbaka ersättning åtgärda "
    "fixa lös dm pm",
    "da": "hjælp hjælpe venligst kontakt ring svar svare vend tilbage pengene tilbage erstatning ordne fiks "
    "løs dm pm",
    "no": "hjelp hjelpe snill kontakt ring svar svare pengene tilbake erstatning ordne fiks løs dm pm",
    "en": "help please contact call answer respond reply refund compensation fix sort resolve dm pm",
}
QUESTIONS = {
    "sv": "varför hur när vad vem vilken kan går",
    "da": "hvorfor hvordan hvornår hvad hvem hvilken kan går",
    "no": "hvorfor hvordan når hva hvem hvilken kan går kva korleis kvifor",
    "en": "why how when what who which can could will is are",
}
SECOND_PERSON = {
    "sv": "ni er ert era du dig din ditt dina",
    "da": "i jer jeres du dig din dit dine",
    "no": "dere deres du deg din ditt dine",
    "en": "you your yours you're youre",
}

# Complaint aspects (monitor.kernel.types.ASPECTS), stems per language.
ASPECT_KEYWORDS = {
    "availability_wait": {
        "sv": "kö köa väntetid väntat väntar vänta telefonkö timme timmar minuter svarar ingen_svarar "
        "nåbar otillgänglig stängd chatt köade köar upptaget svarstid väntetiden komma_fram nå_er "
        "timmes",
        "da": "kø ventetid ventet venter vente telefonkø time timer minutter svarer utilgængelig lukket "
        "chat optaget igennem komme_igennem svartid ventetiden køen kø_i ventet_i",
        "no": "kø ventetid ventet venter vente telefonkø time timer minutter svarer utilgjengelig "
        "stengt chat opptatt gjennom komme_gjennom svartid ventetiden køen kø_i ventet_i",
        "en": "queue hold wait waiting waited hour hours minutes answer reach unreachable closed chat "
        "longlines engaged busy get_through reply response line on_hold waiting_time",
    },
    "not_resolved": {
        "sv": "fortfarande igen tredje gången ärende återkoppling löst olöst lovade lovat ingenting "
        "händer inget_händer kvar stängde stängt ärendet ärendenummer åtgärdat resultat "
        "utan_resultat början förklara ringa_tillbaka hört ingen_återkoppling",
        "da": "stadig igen tredje sag sagen løst uløst lovede lovet intet ingenting lukkede lukket "
        "sagsnummer ordnet resultat uden_resultat forfra forklare ringe_tilbage hørt sker "
        "intet_sker",
        "no": "fortsatt igjen tredje sak saken løst uløst lovet lovte ingenting lukket saksnummer "
        "ordnet resultat uten_resultat nytt forklare ringe_tilbake hørt skjer ingenting_skjer",
        "en": "still again third case ticket resolved unresolved promised nothing repeatedly "
        "nothing_happens happens closed case_number result no_result scratch explain call_back "
        "heard sorted escalate",
    },
    "staff_attitude": {
        "sv": "otrevlig oförskämd nedlåtande arrogant bemötande personal personalen otrevliga sur "
        "attityd utskrattad skrek bemött himlade struntade ignorerade säljaren chauffören "
        "kassörskan behandlad respektlös",
        "da": "uhøflig uforskammet nedladende arrogant behandling personale personalet sur attitude "
        "grinede råbte behandlet ekspedienten chaufføren rullede ignorerede sælgeren supporter "
        "respektløs",
        "no": "frekk uhøflig nedlatende arrogant behandling ansatte personalet sur holdning lo kjeftet "
        "behandlet ekspeditøren sjåføren himlet ignorerte selgeren respektløs",
        "en": "rude condescending arrogant attitude staff agent employee unfriendly yelled laughed "
        "disrespectful attendant cashier driver rolled ignored shouted grumpy treated salesman "
        "disrespect",
    },
    "competence_wrong_info": {
        "sv": "fel felaktig information info olika inkompetent okunnig handläggare stämde_inte "
        "stämmer_inte olika_svar visste_inte uppgifter felinformation",
        "da": "forkert fejlagtig information info forskellige inkompetent uvidende medarbejdere "
        "passede_ikke passer_ikke forskellige_svar vidste_ikke forkerte oplysninger",
        "no": "feil feilaktig informasjon info forskjellige inkompetent uvitende saksbehandlere "
        "stemte_ikke stemmer_ikke forskjellige_svar visste_ikke opplysninger",
        "en": "wrong incorrect misinformation information info different answers incompetent clueless "
        "misinformed not_true different_answers know_how told misled",
    },
    "price_billing": {
        "sv": "faktura fakturan räkning pris priset priser kostar dyr debiter dubbeldebiter överdebiter "
        "avgift pengar kr kronor betala betalat återbetalning abonnemang dragit drog konto höjde "
        "höjt månadskostnad kostnaden påminnelseavgift debiterades debitera återbetalningen",
        "da": "faktura regning pris prisen priser koster dyr trukket opkræv gebyr penge kr kroner "
        "betale betalt tilbagebetaling abonnement konto hævet hævede månedlig rykkergebyr "
        "opkrævet refusion regningen",
        "no": "faktura regning pris prisen priser koster dyr trukket belast gebyr penger kr kroner "
        "betale betalt tilbakebetaling abonnement konto økte økt månedspris purregebyr belastet "
        "refusjon regningen",
        "en": "bill billing invoice price prices charge charged overcharg fee fees money refund pay "
        "paid payment subscription expensive twice billed raised account",
    },
    "product_delivery_fault": {
        "sv": "leverans levererad försenad trasig router paket nere avbrott fungerar funkar fel "
        "mobilnätet nätet täckning kom_aldrig saknades saknas inställd ställdes_in sönder "
        "slutar_fungera",
        "da": "levering leveret forsinket stykker router pakke nede nedbrud virker fungerer fejl "
        "mobilnettet nettet dækning kom_aldrig manglede mangler aflyst holder_op",
        "no": "levering levert forsinket ødelagt ruter pakke nede brudd virker fungerer feil "
        "mobilnettet nettet dekning kom_aldri manglet mangler innstilt slutter",
        "en": "delivery delivered late delayed broken router package parcel down outage working works "
        "fault network coverage luggage flight cancelled never_arrived missing stops_working",
    },
}

# Everyday customer-service words that tell the languages apart on short posts (models.language): not
# sentiment, just vocabulary. Folded like everything else, so only spelling that survives folding counts.
LANGUAGE_WORDS = {
    "sv": """kundtjänst butiken öppettider öppet stänger beställning leverans paketet
        svar mejl räkningen fakturan abonnemanget mobilen tåget flyget väskan biljett""",
    "da": """kundeservice kundeservicen butikken åbningstider åbent lukker bestilling levering pakken
        svar mail regningen abonnementet mobilen toget flyet kufferten billet hjemmesiden""",
    "no": """kundeservice kundeservicen butikken åpningstider åpent stenger bestilling levering pakken
        svar epost regningen abonnementet mobilen toget flyet kofferten billett nettsiden""",
    "en": """customer service support shop store opening hours open closed order delivery parcel
        package reply email bill invoice subscription phone train flight luggage ticket website""",
}
