"""The web demo's page in a real browser: headless Chromium driven by Selenium, against the demo
server running on localhost, on the stand-in run of test_web_demo (the page on notebook 02's
smoke run is part of test_web_demo's smoke test).

Needs Debian's `chromium` and `chromium-driver` (`make setup` installs them when missing); the
driver is passed explicitly, so Selenium Manager never goes online. Skips, saying so, only when
they are missing. Each test saves a screenshot in its tmp folder."""

from __future__ import annotations

import pytest
from headless_chromium import (
    accepted,
    console_errors,
    error_text,
    find_chromium,
    open_page,
    start_chromium,
    suggested,
    until_tags_change,
    upload,
    wait,
)
from selenium.webdriver.common.by import By
from test_web_demo import (
    BLUE,
    LIMIT,
    RED,
    make_demo_run,
    png_bytes,
    standin_recommender,
)

from hashtag_kit.web_demo import create_app, load_samples, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium through the system's chromedriver (skips when either is missing)."""
    found = find_chromium()
    if isinstance(found, str):
        pytest.skip(found)
    try:
        drv = start_chromium(*found)
    except RuntimeError as e:  # installed but broken: a failure, not a skip
        pytest.fail(str(e))
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    run = make_demo_run(tmp_path_factory.mktemp("browser_run"))
    app = create_app(standin_recommender(run), samples=load_samples(run), max_upload_bytes=LIMIT)
    with serving(app) as url:
        yield url


def test_page_upload_add_remove_sample_and_bad_uploads(browser, demo_url, tmp_path):
    d = browser
    open_page(d, demo_url)
    assert "Hashtag suggestions" in d.find_element(By.TAG_NAME, "h1").text
    assert "0.3 MB" in d.find_element(By.ID, "run-info").text
    assert d.find_element(By.ID, "caption").get_attribute("maxlength") == "20000"  # the server's
    assert len(d.find_elements(By.CSS_SELECTOR, "#samples button.sample")) == 2

    # upload a photo: the red photo is a cat; a caption adds its own tags
    red = tmp_path / "red cat.png"
    red.write_bytes(png_bytes(RED, (320, 240)))
    upload(d, red)
    first = until_tags_change(d, [], "suggestions for the uploaded photo")
    assert first[:2] == ["cat", "kitten"] and len(first) == 7
    assert d.find_element(By.ID, "preview").is_displayed() and not error_text(d)
    scores = d.execute_script(
        "return [...document.querySelectorAll('#suggestions li')].map((e) => +e.dataset.score)"
    )
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    d.find_element(By.ID, "caption").send_keys("morning coffee")
    d.find_element(By.ID, "suggest").click()
    with_caption = until_tags_change(d, first, "suggestions for photo + caption")
    assert {"cat", "coffee"} <= set(with_caption[:4])

    # Add: the tag moves to the accepted list and the rest is re-ranked without it
    d.find_element(By.CSS_SELECTOR, '#suggestions li[data-tag="coffee"] button.add').click()
    wait(d, lambda d: accepted(d) == ["coffee"], "coffee accepted")
    after_add = until_tags_change(d, with_caption, "re-ranked after Add")
    assert "coffee" not in after_add and "food" in after_add
    assert after_add.index("food") < with_caption.index("food")
    d.save_screenshot(str(tmp_path / "web_demo.png"))

    # remove it again: back to the list it came from
    d.find_element(By.CSS_SELECTOR, '#accepted .chip[data-tag="coffee"]').click()
    wait(d, lambda d: accepted(d) == [], "coffee removed")
    assert until_tags_change(d, after_add, "re-ranked after removing") == with_caption
    assert d.find_element(By.ID, "accepted-empty").is_displayed()

    # a sample: its caption is filled in and its photo suggested for
    d.find_element(By.CSS_SELECTOR, '#samples button[data-id="p_blue"]').click()
    wait(d, lambda d: suggested(d)[:2] == ["beach", "sunset"], "suggestions for the sample")
    assert d.find_element(By.ID, "caption").get_attribute("value") == "a day at the beach"
    assert "#beach #sunset" in d.find_element(By.ID, "sample-tags").text

    # bad uploads: a clear message on the page, and the page keeps working
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a photo\n" * 10)
    upload(d, fake)
    wait(d, error_text, "the message for a file that is not an image")
    assert "holiday.jpg is not an image" in error_text(d) and suggested(d) == []
    d.save_screenshot(str(tmp_path / "web_demo_bad_upload.png"))
    big = tmp_path / "huge.png"
    big.write_bytes(png_bytes(BLUE) + b"\0" * LIMIT)
    upload(d, big)
    wait(d, lambda d: "huge.png is 0.3" in error_text(d), "the message for a too large photo")
    assert "up to 0.3 MB" in error_text(d)
    d.find_element(By.ID, "caption").clear()
    d.find_element(By.ID, "suggest").click()
    wait(d, lambda d: "Give a photo, a caption or both" in error_text(d), "empty post message")
    d.find_element(By.ID, "caption").send_keys("coffee")
    d.find_element(By.ID, "suggest").click()
    wait(d, lambda d: suggested(d)[:1] == ["coffee"] and not error_text(d), "page works again")
    logs = console_errors(d)
    assert not logs, logs  # no script errors, no blocked resources (CSP)
