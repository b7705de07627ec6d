"""Presentation mode's "Students: open this on your phone": the students' link and its QR code.

The pure part (``advdemo.demo.qr``: the page's address, the students' link, the SVG and reading its modules back) is
tested directly. The page through ``streamlit.testing.v1.AppTest`` with ``AppTest.context["url"]`` standing for the
address the teacher's browser sends: the button exists only in presentation mode; the QR code shown is segno's code
of the scenario's link (its modules, read back from the SVG the page shows, equal ``segno``'s matrix for that link:
a decoder that knows segno is correct), and the text beneath is the same link. The browser side (the code fills
the screen, and encodes the page's real address) is ``tests/e2e/test_join_browser.py``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from apptest_support import needs_models, new_app, query_of, rerun
from streamlit.testing.v1 import AppTest

from advdemo.configs import Norm
from advdemo.demo import qr
from advdemo.ui import join, keys

SCHOOL = "https://school.example/advdemo/"

# ----------------------------------------------------------------------------------------------------------------
# The link and the code, without Streamlit.


def test_the_page_address_is_the_browsers_without_query_or_fragment():
    assert qr.page_address("https://school.example/advdemo/?eps=0.3#top") == SCHOOL
    assert qr.page_address("http://192.168.1.20:8501") == "http://192.168.1.20:8501/"
    assert qr.page_address("javascript:alert(1)") is None


def test_without_the_browsers_url_the_address_comes_from_a_proxys_headers():
    proxied = {"Host": "10.0.0.5:8501", "X-Forwarded-Host": "school.example", "X-Forwarded-Proto": "https",
               "X-Forwarded-Prefix": "/advdemo"}
    assert qr.page_address(None, proxied) == SCHOOL
    assert qr.page_address(None, {"host": "192.168.1.20:8501"}) == "http://192.168.1.20:8501/"
    assert qr.page_address(None, {"Host": "evil.example/<script>"}) is None
    assert qr.page_address(None, {}) is None


def test_the_students_link_keeps_the_scenario_but_not_presentation_mode():
    link = qr.student_link(SCHOOL, {"norm": "l2", "eps": "1.5", "models": "base,robust", "present": "1",
                                    "digit": "12"})
    assert link == f"{SCHOOL}?norm=l2&eps=1.5&models=base,robust&digit=12"
    assert qr.student_link(SCHOOL, {"present": "1"}) == SCHOOL
    assert qr.is_local("http://localhost:8501/?eps=0.2") and qr.is_local("http://127.0.0.1:8501/")
    assert not qr.is_local(link)


@pytest.mark.parametrize("link", [f"{SCHOOL}?eps=0.2", f"{SCHOOL}?input=draw&drawing={'eJz' * 150}&label=7"])
def test_the_modules_read_back_from_the_svg_are_segnos_code_of_the_link(link):
    svg = qr.svg(link)
    modules = qr.read_modules(svg)
    assert modules == qr.matrix(link)
    assert len(modules) == qr.make(link).symbol_size(border=0)[0]
    assert modules != qr.matrix(link + "1")  # a different link: a different code
    assert 'viewBox="0 0 {0} {0}"'.format(len(modules) + 2 * qr.BORDER) in svg  # the quiet zone is in the picture


# ----------------------------------------------------------------------------------------------------------------
# The page.

def with_url(at: AppTest, url: str | None = SCHOOL) -> AppTest:
    """``at`` as opened from ``url`` (the address the browser sends as ``st.context.url``)."""
    at.context["url"] = url
    return at


def panel(at: AppTest) -> tuple[str | None, str | None]:
    """(the SVG of the QR code shown, the link text beneath it), each None if absent."""
    svg = next((join.shown_svg(element.proto.body) for element in at.get("html")
                if 'class="advdemo-qr-box"' in element.proto.body), None)
    texts = [code.value for code in at.code]
    return svg, texts[0] if texts else None


def open_panel(at: AppTest) -> AppTest:
    at.button(key=join.BUTTON).click()
    return rerun(at)


def expected_link(at: AppTest) -> str:
    """The students' link of the scenario in ``at``'s URL: its parameters without ``present``."""
    return qr.student_link(SCHOOL, {name: value for name, value in query_of(at).items()})


@needs_models
def test_the_button_exists_only_in_presentation_mode():
    at = rerun(with_url(new_app({"models": "base"}, **{keys.VIEW: keys.VIEW_CURVES})))
    assert join.BUTTON not in [button.key for button in at.button]
    at.toggle(key=keys.PRESENT).set_value(True)
    rerun(at)
    assert at.button(key=join.BUTTON).label == join.BUTTON_LABEL
    at.toggle(key=keys.PRESENT).set_value(False)
    rerun(at)
    assert join.BUTTON not in [button.key for button in at.button] and panel(at) == (None, None)


@needs_models
@pytest.mark.parametrize("link", [{"norm": "linf", "eps": "0.3", "digit": "12"},
                                  {"norm": "l2", "eps": "1.5", "digit": "40", "attack": "pgd"}])
def test_the_qr_code_is_the_scenarios_link_and_the_text_beneath_says_it(link):
    at = rerun(with_url(new_app({**link, "models": "base,robust", "present": "1"},
                                **{keys.VIEW: keys.VIEW_CURVES})))
    assert panel(at) == (None, None)  # closed until asked for
    open_panel(at)
    svg, text = panel(at)
    expected = expected_link(at)
    assert text == expected
    assert svg is not None and qr.read_modules(svg) == qr.matrix(expected)
    address = urlsplit(text)
    assert f"{address.scheme}://{address.netloc}{address.path}" == SCHOOL
    shown = {name: values[-1] for name, values in parse_qs(address.query).items()}
    assert {name: shown.get(name) for name in link} == link  # the link's eps, norm, digit (and attack)
    assert shown["models"] == "base,robust" and "present" not in shown  # a phone gets the ordinary page
    assert not [warning for warning in at.warning if "this computer only" in warning.value]

    at.button(key=join.CLOSE).click()
    rerun(at)
    assert panel(at) == (None, None)


@needs_models
def test_the_code_follows_the_scenario_while_the_panel_is_open():
    at = open_panel(rerun(with_url(new_app({"models": "base", "present": "1", "eps": "0.3"},
                                           **{keys.VIEW: keys.VIEW_CURVES}))))
    assert parse_qs(urlsplit(panel(at)[1]).query)["eps"] == ["0.3"]
    at.slider(key=keys.eps_key(Norm.LINF)).set_value(0.1)
    rerun(at)
    svg, text = panel(at)
    assert parse_qs(urlsplit(text).query)["eps"] == ["0.1"] and qr.read_modules(svg) == qr.matrix(text)


@needs_models
def test_a_local_address_or_none_is_said():
    at = open_panel(rerun(with_url(new_app({"models": "base", "present": "1"}, **{keys.VIEW: keys.VIEW_CURVES}),
                                   "http://localhost:8501/")))
    svg, text = panel(at)
    assert text.startswith("http://localhost:8501/?") and svg is not None
    assert any("this computer only" in warning.value for warning in at.warning)
    unknown = open_panel(rerun(with_url(new_app({"models": "base", "present": "1"}, **{keys.VIEW: keys.VIEW_CURVES}),
                                        None)))
    assert panel(unknown) == (None, None)
    assert any(warning.value == join.NO_ADDRESS for warning in unknown.warning)
