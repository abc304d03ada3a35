#!/usr/bin/env python3
"""Writes a synthetic MediaWiki XML export of about SIZE_MB megabytes (deterministic):
articles with infobox templates, references, links, file links, tables, lists,
sections and categories; some redirects and talk pages. Usage: generate.py OUT SIZE_MB"""
import random
import sys
from xml.sax.saxutils import escape

out_path, size_mb = sys.argv[1], float(sys.argv[2])
rng = random.Random(7)
syllables = ["ka", "lo", "mi", "ra", "ten", "so", "vi", "dur", "an", "el", "po", "mar", "in", "ust", "or", "be", "ne", "qua"]
words = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20000)})
common = ["the", "of", "and", "in", "a", "to", "is", "was", "for", "on", "as", "with", "by", "that", "from"]

def sentence():
    n = rng.randint(8, 24)
    parts = []
    for i in range(n):
        r = rng.random()
        w = rng.choice(common) if r < 0.3 else rng.choice(words)
        if r > 0.97:
            w = f"[[{w.capitalize()}|{w}]]"
        elif r > 0.95:
            w = f"[[{w}]]"
        elif r > 0.94:
            w = f"'''{w}'''"
        parts.append(w)
    s = " ".join(parts)
    s = s[0].upper() + s[1:] + "."
    if rng.random() < 0.15:
        s += f"<ref>{{{{cite web |url=http://example.org/{rng.randint(1, 10**6)} |title={rng.choice(words)}}}}}</ref>"
    return s

def paragraph():
    return " ".join(sentence() for _ in range(rng.randint(3, 8)))

def article():
    text = "{{Infobox thing\n| name = %s\n| type = [[%s]]\n| size = {{convert|%d|km}}\n}}\n" % (
        rng.choice(words), rng.choice(words), rng.randint(1, 999))
    text += paragraph() + "\n\n" + paragraph() + "\n"
    for _ in range(rng.randint(2, 6)):
        text += "\n== %s ==\n" % " ".join(rng.choice(words).capitalize() for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            text += "[[File:%s.jpg|thumb|A picture of [[%s]]]]\n" % (rng.choice(words), rng.choice(words))
        for _ in range(rng.randint(1, 4)):
            text += paragraph() + "\n\n"
        if rng.random() < 0.3:
            text += "{| class=\"wikitable\"\n! A !! B\n|-\n| %s || %d\n|}\n" % (rng.choice(words), rng.randint(1, 99))
        if rng.random() < 0.3:
            text += "".join("* %s\n" % sentence() for _ in range(rng.randint(2, 5)))
    text += "\n== References ==\n{{Reflist}}\n\n[[Category:%s]]\n[[Category:%s]]\n" % (rng.choice(words), rng.choice(words))
    return text

target = int(size_mb * 1024 * 1024)
written = 0
page_id = 0
with open(out_path, "w", encoding="utf-8") as f:
    f.write('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">\n'
            "  <siteinfo>\n    <sitename>Benchmark wiki</sitename>\n  </siteinfo>\n")
    while written < target:
        page_id += 1
        r = rng.random()
        if r < 0.08:
            title, ns, text, redirect = f"Alias {page_id}", 0, f"#REDIRECT [[{rng.choice(words)}]]", True
        elif r < 0.14:
            title, ns, text, redirect = f"Talk:{rng.choice(words)} {page_id}", 1, paragraph(), False
        else:
            title, ns, text, redirect = f"{rng.choice(words).capitalize()} {page_id}", 0, article(), False
        page = (f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
                + ("    <redirect title=\"x\" />\n" if redirect else "")
                + f"    <revision>\n      <id>{page_id * 10}</id>\n      <model>wikitext</model>\n"
                + f"      <text bytes=\"{len(text)}\" xml:space=\"preserve\">{escape(text)}</text>\n    </revision>\n  </page>\n")
        f.write(page)
        written += len(page.encode("utf-8"))
    f.write("</mediawiki>\n")
print(f"{out_path}: {page_id} pages, {written / 1e6:.1f} MB", file=sys.stderr)
