"""The whole flow of ``holdmusic serve`` in a real browser: Debian's chromium, driven by
playwright (its bundled driver; no browser is downloaded), against a real ``holdmusic
serve`` process on SeaweedFS and the Daily stand-in.

Screenshots are saved as artifacts under the test's tmp folder, or in
``$HOLDMUSIC_WEB_SCREENSHOTS`` when set (that is how docs/serve.png is made).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Stack
from tests.test_web_cli import serving
from tests.webpage import clean_mp3  # noqa: F401  (fixture)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"needs Debian's chromium at {CHROMIUM} (.ci/system-packages installs it)",
    ),
    pytest.mark.slow,
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HOLDMUSIC_WEB_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_whole_flow_in_chromium(
    stack: Stack,
    tmp_path: Path,
    browser: object,
    shots: Path,
    clean_mp3: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3, bucket = stack.s3, stack.public_bucket
    original_key = "hold-music/original.mp3"
    s3.client().put_object(
        Bucket=bucket,
        Key=original_key,
        Body=(SAMPLES / "calm-vbr.mp3").read_bytes(),
        ContentType="audio/mpeg",
    )
    original = s3.object_url(bucket, original_key)
    # readable ids, as in the playground (Daily's are UUIDs)
    support = stack.daily.add_config(
        name_prefix="support-line", hold_music_url=original, config_id="support-line"
    )
    sales = stack.daily.add_config(
        name_prefix="sales-line", hold_music_url=original, config_id="sales-line"
    )
    stack.daily.add_config(
        name_prefix="after-hours", hold_music_url=original, config_id="after-hours"
    )
    monkeypatch.setenv("HOLDMUSIC_PUBLIC_BASE_URL", f"{s3.endpoint_url}/{bucket}")
    reports = tmp_path / "reports"
    reports.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()

    with serving("--reports-dir", str(reports), env={"TMPDIR": str(tmp)}) as running:
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(120_000)  # fix on a loaded 2-core machine takes its time
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )

        def upload(path: Path) -> None:
            """Choose a file (the page submits it) and wait for its verdict page."""
            before = page.url
            page.set_input_files("#file", str(path))
            page.wait_for_url(lambda url: url != before and url.endswith("#verdict"))

        # 1. log in through the link: the cookie is set and we land on /
        page.goto(running.link)
        assert page.url == running.base + "/"
        assert page.get_by_role("heading", name="1. Check a file").is_visible()

        # 2. an HTML page saved as .mp3: FAILED, not_mp3 (choosing the file submits it)
        upload(SAMPLES / "error-page.mp3")
        status = page.locator("#verdict-original [data-testid=status]")
        assert status.inner_text() == "FAILED"
        assert "not_mp3" in page.locator("#verdict-original .problems").inner_text()
        page.screenshot(path=str(shots / "1-not-mp3.png"), full_page=True)

        # 3. a good file: PASSED
        upload(clean_mp3)
        assert page.locator("#verdict-original [data-testid=status]").inner_text() == "PASSED"
        page.screenshot(path=str(shots / "2-passed.png"), full_page=True)

        # 4. play the phone preview: its <audio> source is served as audio/*
        preview = page.locator("audio[data-testid=play-preview]")
        src = preview.get_attribute("src")
        assert src is not None and src.endswith("/preview-original")
        with page.expect_response(lambda r: r.url.endswith(src)) as got:
            preview.evaluate("a => a.play().catch(() => null)")
        assert got.value.status in (200, 206)
        assert got.value.headers["content-type"].startswith("audio/")
        for player in page.locator("audio[data-testid^=play-]").all():
            r = page.request.get(running.base + player.get_attribute("src"))
            assert r.status == 200 and r.headers["content-type"].startswith("audio/")

        # 5. a file that is too long: fix it, then publish to two configs
        upload(SAMPLES / "too-long.mp3")
        assert page.locator("#verdict-original [data-testid=status]").inner_text() == "FAILED"
        assert page.locator("figure.wave line.mark.cut").count() >= 1  # the planned cut
        page.get_by_role("button", name="Fix").click()
        page.wait_for_url(re.compile(r"#fix$"))
        assert page.locator("#verdict-fixed [data-testid=status]").inner_text().startswith("PASSED")
        assert "75.1 s → 59.5 s" in page.locator("[data-testid=fix-summary]").inner_text()
        assert page.locator("audio[data-testid=play-fixed]").count() == 1
        page.fill("#prefix", "s")  # the filter keeps support-line and sales-line
        assert page.locator("#config-table tbody tr:not(.hidden)").count() == 2
        page.check(f"input[name=config][value='{support}']")
        page.check(f"input[name=config][value='{sales}']")
        page.locator("#configs").screenshot(path=str(shots / "3-configs.png"))
        page.screenshot(path=str(shots / "serve.png"), full_page=True)
        page.get_by_test_id("dry-run").click()
        page.wait_for_url(re.compile(r"#dry-run$"))
        dry = page.locator("#dry-run").inner_text()
        assert dry.count("would update") == 2 and original in dry
        assert stack.daily.puts() == []
        page.get_by_test_id("publish").click()
        page.wait_for_url(re.compile(r"/runs/"))
        page.wait_for_selector("[data-testid=run-status][data-done=yes]")
        assert page.get_by_test_id("run-status").inner_text() == "done"
        page.screenshot(path=str(shots / "4-run.png"), full_page=True)
        page.get_by_test_id("report-link").click()
        items = page.get_by_test_id("report-items").inner_text()
        assert items.count("updated") == 2
        new = stack.daily.get(support)["config"]["hold_music_url"]
        assert new != original and stack.daily.get(sales)["config"]["hold_music_url"] == new
        assert "/too-long-hold-" in new
        page.screenshot(path=str(shots / "5-report.png"), full_page=True)

        # 6. roll back
        page.get_by_test_id("rollback").click()
        page.wait_for_url(re.compile(r"/runs/"))
        page.wait_for_selector("[data-testid=run-status][data-done=yes]")
        assert page.get_by_test_id("run-status").inner_text() == "done"
        assert stack.daily.get(support)["config"]["hold_music_url"] == original
        assert stack.daily.get(sales)["config"]["hold_music_url"] == original
        page.goto(running.base + "/history")
        assert page.locator("table.history tbody tr").count() == 2  # publish and rollback
        page.screenshot(path=str(shots / "6-history.png"), full_page=True)

        # the audit page plays every config's current hold music
        page.goto(running.base + "/audit?run=1")
        assert page.locator("table.audit audio").count() == 3
        assert errors == [], errors  # no CSP violation, no script error
        context.close()
        code, _, err = running.stop()
    assert code == 0, err
