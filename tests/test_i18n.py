"""The app's languages: the Polish catalog is complete and consistent with the code and its compiled .mo, the
language helpers, and the page in Polish (AppTest): no English sentence of the catalog on it, the selector, the
link's ``lang`` parameter and a hostile one.

The catalog check is the one CI runs: ``read_po`` (Babel) must find every msgid translated, none fuzzy, with the
same placeholders as the English text.
"""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
from pathlib import Path

import pytest
from apptest_support import needs_models, new_app, query_of, rerun, start
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from advdemo.demo import i18n, link
from advdemo.ui import keys, url

ROOT = Path(__file__).resolve().parent.parent
PO = i18n.LOCALE_DIR / "pl" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
MO = PO.with_suffix(".mo")
#: ``{name}``, ``{eps:g}``, ``{count:,}``; ``%s``, ``%(name)s``, ``%d``.
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}|%(?:\([A-Za-z_]+\))?[sdgfr]")


def catalog():
    with PO.open("rb") as file:
        return read_po(file, locale="pl")


def forms(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_every_message_has_a_polish_translation_none_fuzzy():
    problems = []
    for message in catalog():
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        strings = forms(message.string)
        if not strings or not all(text.strip() for text in strings):
            problems.append(f"untranslated: {message.id!r}")
    assert not problems, "\n".join(problems)


def test_polish_has_three_plural_forms():
    assert catalog().num_plurals == 3
    translation = i18n.translator("pl")
    singular, plural = "**The {model} model is not available** ({why}): step {steps} skipped.", \
        "**The {model} model is not available** ({why}): steps {steps} skipped."
    one, few, many = (translation.ngettext(singular, plural, n) for n in (1, 3, 5))
    assert one != few and "krok {steps}" in one and "kroki {steps}" in few and few == many  # "kroki" for 2-4 and 5+
    assert translation.ngettext(singular, plural, 22) == few and translation.ngettext(singular, plural, 12) == many


def test_placeholders_match_between_english_and_polish():
    problems = []
    for message in catalog():
        if not message.id:
            continue
        english = forms(message.id)
        for index, text in enumerate(forms(message.string)):
            source = english[min(index, len(english) - 1)]
            if placeholders(text) != placeholders(source):
                problems.append(f"{source!r}: {placeholders(source)} vs {placeholders(text)}")
    assert not problems, "\n".join(problems)


def test_a_missing_or_fuzzy_entry_fails_the_check(tmp_path):
    """The check above really reads the flags and empty strings (a damaged copy of the catalog)."""
    text = PO.read_text(encoding="utf-8")
    damaged = text.replace('msgstr "Język"', 'msgstr ""', 1).replace('msgid "Language"', '#, fuzzy\nmsgid "Language"')
    with (tmp_path / "damaged.po").open("w", encoding="utf-8") as file:
        file.write(damaged)
    with (tmp_path / "damaged.po").open("rb") as file:
        found = [message for message in read_po(file) if message.id == "Language"][0]
    assert found.fuzzy and not found.string


def test_the_catalog_knows_every_text_of_the_code(tmp_path):
    """pybabel extract (babel.cfg) finds no msgid the .po lacks, and the .po has none the code no longer uses."""
    pot = tmp_path / "advdemo.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_",
                    "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as file:
        extracted = {message.id if isinstance(message.id, str) else tuple(message.id) for message in read_po(file)
                     if message.id}
    translated = {message.id if isinstance(message.id, str) else tuple(message.id) for message in catalog()
                  if message.id}
    assert extracted - translated == set(), "run pybabel update (README: Adding a language)"
    assert translated - extracted == set(), "obsolete msgids: run pybabel update"


def test_the_compiled_mo_is_up_to_date():
    with MO.open("rb") as file:
        compiled = read_mo(file)
    expected = {forms(message.id): forms(message.string) for message in catalog() if message.id}
    found = {forms(message.id): forms(message.string) for message in compiled if message.id}
    assert found == expected, "run pybabel compile -D advdemo -d advdemo/locale"


def test_translator_parse_lang_and_numbers():
    assert isinstance(i18n.translator("en"), gettext.NullTranslations)
    assert i18n.translator("pl").gettext("Attack") == "Atak"
    assert i18n.translator("xx").gettext("Attack") == "Attack"
    assert [i18n.parse_lang(value) for value in ("pl", "PL", "pl-PL", "pl_PL", "pl-PL,pl;q=0.9,en;q=0.8",
                                                 "de-DE,en;q=0.5", "de", "", None, "x" * 500)] == \
        ["pl", "pl", "pl", "pl", "pl", "en", None, None, None, None]
    assert i18n.number(0.2, "g", "pl") == "0,2" and i18n.number(0.2, "g", "en") == "0.2"
    assert i18n.number(10_000, ",", "pl") == "10\u00a0000" and i18n.number(0.5, ".0%", "pl") == "50%"


def test_link_notes_in_polish():
    context = link.LinkContext(models=("base", "robust"), gallery_size=500)
    values, note = url.read_link({"lang": ["xx"], "noise": ["loud"], "attack": ["cw"]}, context, "pl")
    assert keys.LANG not in values
    assert note.startswith("Pominięte z linku: ")
    assert "`lang=xx` (nieznana wartość parametru language: użyj en lub pl)" in note
    assert "(użyj 1 lub 0)" in note and "fgsm lub pgd lub strongest" in note
    values, note = url.read_link({"lang": ["pl"]}, context)
    assert values == {keys.LANG: "pl"} and note is None


def visible_texts(at) -> list[str]:
    """Every text the page shows: markdown, captions, notes, headers, and the widgets' labels, options and help."""
    found = []
    for kind in ("markdown", "caption", "info", "error", "warning", "success", "subheader", "header", "title",
                 "latex"):
        found += [str(element.value) for element in getattr(at, kind)]
    for kind in ("button", "toggle", "checkbox", "radio", "selectbox", "multiselect", "slider", "select_slider",
                 "number_input", "text_input", "expander", "tabs"):
        for element in getattr(at, kind):
            found.append(str(getattr(element, "label", "") or ""))
            found.append(str(getattr(element, "help", "") or ""))
            for option in getattr(element, "options", None) or ():
                found.append(str(option))
    found += [str(element.proto.label) + " " + str(element.proto.help) for element in at.get("button_group")]
    return [text for text in found if text]


def english_sentences() -> list[str]:
    """The catalog's English texts of more than three words, without their placeholders, split at them."""
    sentences = []
    for message in catalog():
        for text in forms(message.id) if message.id else ():
            for piece in PLACEHOLDER.split(text):
                piece = piece.strip(" .,:;·()*`-\n")
                if len(piece.split()) > 3:
                    sentences.append(piece)
    return sentences


def english_on(texts: list[str]) -> list[str]:
    """The catalog's English sentences on the page, outside the models' one-line summaries (from the roster and the
    cards, not the catalog)."""
    from advdemo.models import registry

    summaries = [info.summary for info in registry.list_models().models]
    whole = set()
    for text in texts:
        for summary in summaries:
            text = text.replace(summary, "")
        whole.add(text.strip(" .,:;·()*`-\n"))
    page = "\n".join(whole)
    # A sentence of five words or more counts anywhere; a four-word one only as a whole text (``from a random
    # start`` is also part of the attacks' budget descriptions, which are not the catalog's).
    return sorted({sentence for sentence in english_sentences()
                   if sentence in whole or (len(sentence.split()) > 4 and sentence in page)})


@needs_models
def test_the_page_in_polish_shows_no_english_sentence_of_the_catalog():
    at = start({"lang": "pl"}, view=None)
    texts = visible_texts(at)
    assert any("Jak oszukać sieć neuronową" in text for text in texts)
    assert english_on(texts) == []
    assert query_of(at).get("lang") == "pl"
    assert at.session_state[keys.LANG] == "pl"


@needs_models
def test_english_stays_the_default_and_the_selector_switches_to_polish():
    at = start()
    assert at.session_state[keys.LANG] == "en" and "lang" not in query_of(at)
    assert any("Fooling a neural network" in title.value for title in at.title)
    at.get("button_group")[0].set_value("pl")
    rerun(at)
    assert [title.value for title in at.title] == ["Jak oszukać sieć neuronową i jak uczynić ją odporną"]
    assert query_of(at)["lang"] == "pl"
    assert english_on(visible_texts(at)) == []


@needs_models
def test_a_hostile_lang_gives_the_one_line_note_and_english():
    at = start({"lang": "<script>alert(1)</script>"})
    notes = [info.value for info in at.info if "from the link" in info.value]
    assert len(notes) == 1 and "`lang=<script>alert(1)</script…` (unknown language: use en or pl)" in notes[0]
    assert at.session_state[keys.LANG] == "en"


@needs_models
def test_a_polish_browser_gets_polish_and_its_link_keeps_the_choice(monkeypatch):
    from advdemo.ui import lang

    monkeypatch.setattr(lang, "browser_language", lambda: "pl")
    at = rerun(new_app(**{keys.VIEW: keys.VIEW_CURVES}))
    assert at.session_state[keys.LANG] == "pl" and query_of(at)["lang"] == "pl"


@pytest.mark.parametrize("radius, norm, eps", [(0.3, "linf", 0.2), (0.3, "l2", 0.25), (0.1, "linf", 0.2),
                                               (0.0, "l1", 5.0), (0.000427, "linf", 0.2)])
def test_the_proof_line_in_english_is_the_analysis_text(radius, norm, eps):
    """The page's proof line (translated at the UI layer) says in English exactly what ``analysis.proof`` says."""
    from advdemo.configs import Norm
    from advdemo.demo import analysis
    from advdemo.ui import results

    assert results.proof_line(radius, Norm.parse(norm), eps) == analysis.proof(radius, Norm.parse(norm), eps)


@pytest.mark.parametrize("source", ["white-box", "transfer"])
def test_the_scenario_title_in_english_is_the_scenarios_own(source):
    from advdemo.demo.analysis import Scenario, Source
    from advdemo.ui import controls

    scenario = Scenario(epsilon=0.2, source=Source(source), transfer_from="robust")
    assert controls.scenario_title(scenario) == scenario.describe().replace("eps=", "ε = ")
    polish = i18n.translator("pl").gettext
    assert polish(", white-box") == ", biała skrzynka" and "(transfer)" in polish(" crafted on {model} (transfer)")


def test_the_students_qr_link_keeps_the_language():
    from advdemo.demo import qr

    link_ = qr.student_link("http://192.168.1.5:8501/", {"norm": "linf", "present": "1", "lang": "pl"})
    assert link_ == "http://192.168.1.5:8501/?norm=linf&lang=pl"
