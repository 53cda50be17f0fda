"""The words of synthetic articles: titles, excerpts, names, and their YAML spelling.

Everything here is made up; the pools are small on purpose so that search terms recur
across a corpus the way real news vocabulary does.
"""

from __future__ import annotations

import random
import re
import unicodedata


def _words(text: str) -> list[str]:
    """Splits on `|` when present (names with spaces), else on whitespace."""
    return [word.strip() for word in text.split("|" if "|" in text else None) if word.strip()]


_NOUNS = _words("""
platform update model chip network service startup policy deal outage breach report
study feature device tool app market investment partnership lawsuit rule standard system grid
battery satellite rocket vaccine trial dataset algorithm browser server cloud licence workforce
factory pipeline framework library release preview roadmap strategy budget merger team community
project portal dashboard connector assistant chatbot robot drone sensor camera display processor
laptop phone headset console game studio festival museum campaign election court regulator
ministry harbour airport railway bridge tunnel café résumé façade engine compiler kernel database
index cluster workload firmware patch exploit password identity wallet token exchange bank insurer
retailer supplier warehouse fleet vehicle charger turbine reactor farm harvest forecast heatwave
storm river coastline glacier telescope galaxy particle material fabric menu recipe""")
_VERBS = _words("""
launches|unveils|acquires|expands|delays|cancels|tests|opens|closes|backs|blocks|approves|rejects|
funds|doubles|cuts|boosts|rethinks|reshapes|targets|wins|loses|joins|leaves|pauses|revives|
replaces|upgrades|secures|trains|automates|simplifies|challenges|scraps|extends|previews|ships|
questions|rolls out|warns about|bets on|teams up on""")
_ADJS = _words("""
new open faster cheaper smarter secure hybrid global local quiet bold naïve risky record
first final major surprising long-awaited low-code no-code real-time cloud-native green
sustainable private public experimental generative autonomous affordable premium rugged tiny
massive modular unified digital quantum regional national Nordic Alpine urban rural über-fast
next-generation self-driving offline encrypted ethical agile legacy vintage compact""")
_PLACES = _words("""
Zürich|Genève|São Paulo|Kraków|Montréal|Málaga|Reykjavík|Düsseldorf|Göteborg|Łódź|
Besançon|Nürnberg|Lisbon|Nairobi|Lagos|Seoul|Taipei|Singapore|Jakarta|Mumbai|Bengaluru|Sydney|
Auckland|Toronto|Vancouver|Austin|Denver|Chicago|Boston|Dublin|Helsinki|Oslo|Tallinn|Vienna|
Prague|Bogotá|Santiago|Lima|Cairo|Istanbul|東京|Москва|Kyiv|Brussels""")
_ORGS = _words("""
Nordwind|Quantiva|Helixa|Brightpath|Corvana|Lumetric|Stratavia|Kelpworks|Orbisys|
Veridian Labs|Tesserakt|Northbeam|Café Nova|Zürcher Data|O'Brien Analytics|Mistral Grid|Palomar|
Ardent Bio|Kestrel Motors|Sundial Energy|Fjordline|Cobalt & Pine|Ironbark|Halcyon Cloud|Vantara|
Solenne|Drumlin|Marisol Foods|Tideway|Glasswing""")
_PREPS = _words("in for across after amid over with near beyond at")
_FILLER = _words("""
the a of and to in on with for as by from its their after while more than this that
will could said year week users customers engineers officials analysts teams new data plan
""")
TOPICS = _words("""
AI|Machine Learning|Computer Vision|Natural Language Processing|Robotics|Cloud Computing|
Edge Computing|Cybersecurity|Privacy|Data Protection|Ransomware|Quantum Computing|Semiconductors|
5G|Telecom|Smartphones|Wearables|Virtual Reality|Augmented Reality|Gaming|Esports|Streaming|
Social Media|Open Source|Linux|Databases|DevOps|Low-Code|Programming Languages|Web Development|
Browsers|Search|E-commerce|Fintech|Cryptocurrency|Blockchain|Payments|Banking|Insurance|Startups|
Venture Capital|IPOs|Mergers & Acquisitions|Layoffs|Remote Work|Future of Work|Education|EdTech|
Health Tech|Biotech|Genomics|Vaccines|Public Health|Mental Health|Climate|Renewable Energy|
Solar Power|Wind Power|Batteries|Electric Vehicles|Autonomous Vehicles|Aviation|Space|Satellites|
Astronomy|Physics|Chemistry|Materials Science|Agriculture|Food Tech|Retail|Logistics|Supply Chain|
Manufacturing|3D Printing|Drones|Smart Cities|Internet of Things|Smart Home|Energy Grid|
Nuclear Energy|Hydrogen|Carbon Capture|Water|Oceans|Biodiversity|Weather|Regulation|Antitrust|
Elections|Policy|Courts|Taxes|Trade|Economy|Inflation|Jobs|Housing|Real Estate|Transport|
Railways|Shipping|Tourism|Café Culture|Music|Film|Television|Books|Photography|Design|
Architecture|Art|Sports|Football|Tennis|Cycling|Science|Research|Universities|Open Data|
Accessibility|Digital Identity|Facial Recognition|Surveillance|Misinformation|Journalism|Media|
Advertising|Marketing|Customer Experience|ERP|CRM|Collaboration Tools|Productivity|Email|
Messaging|Video Conferencing|Hardware|Laptops|Operating Systems|Mobile Apps|Developer Tools|APIs|
Kubernetes|Serverless|Data Centers|Supercomputers|Analytics|Big Data|Data Science|
Business Intelligence|Automation|Generative AI|Chatbots|AI Ethics|AI Regulation|Deepfakes|
Identity & Access|Zero Trust|Phishing|Vulnerabilities|Outages|Économie|Mobility""")
PROVIDER_HEADS = _words("""
Daily Nordic Harbor Metro Global Pacific Alpine Northern Silicon Capital Urban
Coastal Open Digital Bright Iron Summit Lakeside Redwood Quantum Civic Atlas Meridian Granite Orbit
Pioneer Beacon Copper Evergreen Zürich Baltic Andes Midland Prairie Tidal""")
PROVIDER_TAILS = _words("""
Times Tribune Ledger Wire Post Herald Review Journal Gazette Insider Dispatch
Chronicle Report Observer Monitor Bulletin Digest Weekly Tech Byte Circuit Stack Signal Lab
Pulse""")

_MIXED = _FILLER + _NOUNS + _ADJS
_YAML_WORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}


def quote(text: str) -> str:
    """A YAML double-quoted scalar: only these characters ever need escaping in generated text."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if '"' in text:
        text = text.replace('"', '\\"')
    if "\r" in text or "\n" in text or "\t" in text:
        text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return f'"{text}"'


def scalar(text: str) -> str:
    """Plain when YAML reads it back as the same string (as real files write names), else quoted."""
    plain = (
        text[:1].isalpha()
        and text[-1:].isalnum()
        and all(c.isalnum() or c in " .&'-" for c in text)
        and text.lower() not in _YAML_WORDS
    )
    return text if plain else quote(text)


def slug(text: str) -> str:
    """The lowercase ASCII form of a title used in file names and URLs, at most 90 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(out) > 90:
        out = out[:90].rsplit("-", 1)[0]
    return out or "article"


def _pick(rng: random.Random, words: list[str]) -> str:
    return words[int(rng.random() * len(words))]


def title(rng: random.Random) -> str:
    """A headline from one of a few patterns, some with quotes, colons and apostrophes."""
    r = rng.random
    org, adj, place = _pick(rng, _ORGS), _pick(rng, _ADJS), _pick(rng, _PLACES)
    noun, noun2, verb = _pick(rng, _NOUNS), _pick(rng, _NOUNS), _pick(rng, _VERBS)
    form = int(r() * 10)
    if form == 0:
        text = f"{place}: {adj} {noun} {verb} {noun2} {_pick(rng, _PREPS)} {_pick(rng, _NOUNS)}"
    elif form == 1:
        text = f'Why the "{adj}" {noun} {verb} the {noun2} {_pick(rng, _PREPS)} {place}'
    elif form == 2:
        text = f"{org}\u2019s {adj} {noun} {verb} {noun2} as rivals {_pick(rng, _VERBS)} {place}"
    elif form == 3:
        text = f"{3 + int(r() * 12)} {adj} {noun} trends to watch in {place}, says {org}"
    elif form == 4:
        text = f"{org} & {_pick(rng, _ORGS)} {verb} {adj} {noun} deal {_pick(rng, _PREPS)} {place}"
    elif form == 5:
        text = f"How a {adj} {noun} {verb} {noun2} in {place}"
    elif form == 6:
        text = f"'{adj.capitalize()} {noun}' {verb} {place} {noun2}"
    else:
        text = f"{org} {verb} {adj} {noun} {_pick(rng, _PREPS)} {place} {noun2}"
    return text[0].upper() + text[1:]


def _sentence(rng: random.Random) -> str:
    ch = rng.choice
    form = rng.randrange(8)
    if form == 0:
        text = f"{ch(_ORGS)} {ch(_VERBS)} the {ch(_ADJS)} {ch(_NOUNS)} {ch(_PREPS)} {ch(_PLACES)}."
    elif form == 1:
        text = f"The {ch(_NOUNS)} {ch(_VERBS)} {ch(_NOUNS)} and {ch(_NOUNS)}, said {ch(_ORGS)}."
    elif form == 2:
        text = f"\u201c{ch(_ADJS).capitalize()} is not {ch(_ADJS)},\u201d a spokesperson said."
    elif form == 3:
        text = (
            f"It&#8217;s the {ch(_ADJS)} {ch(_NOUNS)} for {ch(_PLACES)}&nbsp;&amp; {ch(_PLACES)}."
        )
    elif form == 4:
        text = f'The so-called "{ch(_ADJS)} {ch(_NOUNS)}" approach {ch(_VERBS)} the {ch(_NOUNS)}.'
    else:
        text = " ".join(rng.choices(_MIXED, k=rng.randrange(6, 16))).capitalize() + "."
    return text


# Excerpts are stitched from a fixed pool of sentences: drawing words one by one for every
# excerpt costs more than everything else in a file put together.
_SENTENCE_RNG = random.Random(2015)
_SENTENCES = [_sentence(_SENTENCE_RNG) for _ in range(8192)]
_SEPARATORS = ["\r\n"] * 3 + ["&nbsp; "] * 5 + [" "] * 92


def excerpt(rng: random.Random, limit: int) -> str:
    """About `limit` characters of sentences, with the entities and line breaks feeds leave in."""
    r = rng.random
    parts: list[str] = []
    size = 0
    while size < limit:
        sentence = _SENTENCES[int(r() * 8192)]
        parts.append(sentence)
        parts.append(_SEPARATORS[int(r() * 100)])
        size += len(sentence) + 1
    text = "".join(parts[:-1])
    # Feeds cut excerpts at a fixed length, often mid-word; some mark the cut with an ellipsis.
    return text[:limit] if r() < 0.7 else text[: limit - 4].rstrip() + " ..."
