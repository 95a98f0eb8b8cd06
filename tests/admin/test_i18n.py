"""The admin UI in two languages, and the first-run page.

A static check that the English and Chinese catalogues hold the same keys and that every key the
modules ask for exists; then every page and dialog rendered in Debian's headless Chromium in
Chinese (no English word outside an allow-list of names and technical tokens) and in English (no
CJK character, no raw key name). The walk is shown to fail on a planted string. Last, the first
run: an empty pool, a gemini-balance .env imported on the Get started page, a first prompt sent;
and gcli2api / Gemini CLI credential files and an AIstudioProxyAPI auth profile imported there.
One browser for the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gemini_gateway.app import create_app
from gemini_gateway.fake_upstream import FakeState
from tests.admin.admin_page import ALL_PAGES, DESKTOP, signed_in_page
from tests.admin.admin_page import go as go_to_page
from tests.admin.conftest import admin_settings
from tests.admin.helpers import USER_TOKEN, admin_client, bearer
from tests.conftest import ADMIN_TOKEN, KEYS, RunningGateway, running_gateway
from tests.oauth.helpers import account_json, oauth_settings
from tests.recorder.conftest import wait_for_records
from tests.servers import serve_in_thread

STATIC = Path(__file__).resolve().parents[2] / "src" / "gemini_gateway" / "admin" / "static"
SAMPLES = Path(__file__).parent / "samples"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "bonjour"}]}

pytestmark = pytest.mark.timeout(180)


def catalogue(lang: str) -> dict[str, str]:
    """A catalogue file read as data: one `"key": "text",` per line between `export default {` and `};`."""
    text = (STATIC / "i18n" / f"{lang}.js").read_text()
    body = text.split("export default {", 1)[1].rsplit("};", 1)[0]
    entries: dict[str, str] = {}
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        [(key, value)] = json.loads("{" + line.rstrip(",") + "}").items()
        assert key not in entries, f"{lang}: {key} twice"
        entries[key] = value
    return entries


EN = catalogue("en")
ZH = catalogue("zh")
GROUPS = {key.split(".")[0] for key in EN}


def used_keys() -> dict[str, set[str]]:
    """Keys named in the modules: t("k"), tn("k") (k.one, k.other), and "group.key" literals."""
    found: dict[str, set[str]] = {}
    for path in sorted((STATIC / "js").rglob("*.js")):
        source = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.MULTILINE)  # not in comments
        keys = set(re.findall(r"\bt\(\s*\"([^\"]+)\"", source))
        counted = set(re.findall(r"\btn\(\s*\"([^\"]+)\"", source))
        for key in counted:
            keys |= {f"{key}.one", f"{key}.other"}
        for literal in re.findall(r"\"([a-z]+(?:\.[A-Za-z0-9_-]+)+)\"", source):
            if (
                literal.split(".")[0] in GROUPS
                and literal not in counted
                and not literal.endswith((".js", ".json"))
            ):
                keys.add(literal)
        found[path.relative_to(STATIC).as_posix()] = keys
    return found


def test_both_catalogues_hold_the_same_keys_and_every_key_used() -> None:
    assert len(EN) > 300
    assert sorted(set(EN) ^ set(ZH)) == []
    missing = {name: sorted(k for k in keys if k not in EN) for name, keys in used_keys().items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}
    # The same placeholders on both sides: a {name} Chinese leaves out would show as nothing.
    differ = [k for k in EN if set(re.findall(r"\{\w+\}", EN[k])) != set(re.findall(r"\{\w+\}", ZH[k]))]
    assert differ == []
    untranslated = [k for k in EN if re.search(r"[A-Za-z]{3}", ZH[k]) and ZH[k] == EN[k] and "-" not in EN[k]]
    assert untranslated == []


def test_the_static_check_sees_a_key_missing() -> None:
    """The check reads t("…") calls: a module asking for an unknown key is reported."""
    source = 'h("p", {}, t("pool.noSuchKey"))'
    assert "pool.noSuchKey" in set(re.findall(r"\bt\(\s*\"([^\"]+)\"", source)) - set(EN)


# English a Chinese page may show: product and protocol names, key names on a keyboard, and the
# signed-in identity. Anything with a digit, an underscore, a dot, a slash, a hyphen or in capitals
# is a technical token (a model id, a path, an env variable, a masked key, JSON, API, RPM...).
ALLOWED = {
    "gemini", "google", "cloud", "code", "assist", "studio", "vertex", "openai", "anthropic", "oauth",
    "playwright", "aistudioproxyapi", "antigravity", "pro", "ultra", "bearer", "curl", "cookie", "cookies", "token", "tokens", "enter",
    "admin", "p", "ms", "s", "m", "h", "k", "b",  # units: 12 ms, 1.2 s, 5m, 3h, 12k tokens, 2 B
}  # fmt: skip
TECHNICAL = re.compile(r"[0-9_./:\\@#$*+=<>\-…]|^[A-Z]{2,}s?$")

VISIBLE_TEXT = """() => {
  const skip = 'body [lang="en"], .mono, code, pre, .code, .bubble, .control, .ro, .log .msg';
  const shown = (el) => el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest(skip) || el.closest('body [lang^="zh"]') && document.documentElement.lang === 'en') continue;
    if (el.closest('select') ? !shown(el.closest('select')) : !shown(el)) continue;
    texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], button[title]')) {
    if (!shown(el) || el.closest(skip)) continue;
    for (const name of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(name)) texts.push(el.getAttribute(name));
  }
  texts.push(document.title);
  return texts;
}"""


def english_words(texts: list[str]) -> list[str]:
    leaks = []
    for text in texts:
        for token in re.split(r"[\s\u3000-\u303f\uff00-\uffef\u201c\u201d()\[\]{}\"',;!?]+", text):
            if not re.search(r"[A-Za-z]", token) or TECHNICAL.search(token):
                continue
            if token.lower() not in ALLOWED:
                leaks.append(token)
    return leaks


# Names the operator gave (a credential, a token): data, in whatever language they were typed.
OPERATOR_NAMES = ("主力密钥", "笔记本")


def problems(page: Any, lang: str) -> list[str]:
    texts: list[str] = page.evaluate(VISIBLE_TEXT)
    for name in OPERATOR_NAMES:
        texts = [text.replace(name, "") for text in texts]
    found = [f"raw key {key!r}" for key in EN if any(key in text for text in texts)]
    if lang == "zh":
        found += [f"English {word!r}" for word in english_words(texts)]
    else:
        found += [
            f"CJK in {text!r}"
            for text in texts
            if re.search(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]", text)
        ]
    return found


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    app = create_app(admin_settings(tmp_path_factory, fake_upstream[0], "i18n", recording_batch_ms=20))
    with serve_in_thread(app) as url:
        client = admin_client(url)
        first = client.get("/api/keys").json()["credentials"][0]
        client.patch(f"/api/keys/{first['id']}", json={"name": OPERATOR_NAMES[0]}).raise_for_status()
        client.post("/api/tokens", json={"name": OPERATOR_NAMES[1]}).raise_for_status()
        client.put("/api/settings", json={"values": {"max_retries": 4}}).raise_for_status()
        for _ in range(3):
            httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
        # Then a 429 with QuotaFailure: the pool's details show a learned limit and an error line.
        fault = fake_upstream[1].add_fault(KEYS[1], "429", count=1, model=CHAT["model"])
        for _ in range(6):
            httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN))
            if fault.count == 0:
                break
        fake_upstream[1].clear_faults()
        wait_for_records(url, 3, timeout=30)
        yield RunningGateway(url, app)


def signed_in(browser: Any, url: str, locale: str) -> tuple[Any, Any, list[str]]:
    return signed_in_page(browser, url, viewport=DESKTOP, locale=locale)


def go(page: Any, name: str) -> None:
    go_to_page(page, name)
    page.wait_for_timeout(250)  # lists, charts and the live log's history filled in


def walk(page: Any, lang: str) -> dict[str, list[str]]:
    """Every page, and the dialogs an operator opens, checked in `lang`."""
    found: dict[str, list[str]] = {}

    def check(where: str) -> None:
        if seen := problems(page, lang):
            found[where] = sorted(set(seen))

    for name in ALL_PAGES:
        go(page, name)
        if name == "requests":
            page.wait_for_selector(".requests-table tbody tr.clickable")
        if name == "live":
            page.wait_for_selector(".log-line[data-kind=request]")
        check(name)
    go(page, "requests")
    page.click(".requests-table tbody tr.clickable")
    page.wait_for_selector(".drawer .facts")
    check("request drawer")
    page.keyboard.press("Escape")
    go(page, "pool")
    page.click(".page-head button.primary")  # Add keys
    page.wait_for_selector(".modal textarea")
    check("add-keys dialog")
    page.keyboard.press("Escape")
    row = page.locator(".pool-table tbody tr").first
    row.locator(".actions button").nth(2).click()  # Validate, Disable, Name
    page.wait_for_selector(".modal input[name=credential_name]")
    check("name dialog")
    page.keyboard.press("Escape")
    row.locator(".actions button.danger").click()
    page.wait_for_selector(".modal footer")
    check("remove dialog")
    page.keyboard.press("Escape")
    # Every credential's details: quota per model, recent errors, proxy, what its project holds.
    ids = [el.get_attribute("data-id") for el in page.locator(".pool-table tbody tr[data-id]").all()]
    for cid in ids:
        page.locator(f'.pool-table tr[data-id="{cid}"] button.details-toggle').click()
        page.locator(f'.pool-table tr.care-row[data-detail-for="{cid}"]').wait_for()
    page.locator(".care-row .error-list li").first.wait_for()
    check("pool details")
    page.locator(".care-row button[name=set_proxy]").first.click()
    page.wait_for_selector(".modal input[name=credential_proxy]")
    check("proxy dialog")
    page.keyboard.press("Escape")
    return found


@pytest.mark.parametrize(("locale", "lang"), [("zh-CN", "zh"), ("en-US", "en")])
def test_every_page_in_each_language_shows_only_that_language(
    browser: Any, site: RunningGateway, locale: str, lang: str
) -> None:
    context, page, errors = signed_in(browser, site.url, locale)
    try:
        assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
        assert walk(page, lang) == {}
        if lang == "zh":  # the names operators gave show where the masks do
            go(page, "requests")
            page.locator(".requests-table .cred-name", has_text="主力密钥").first.wait_for()
            go(page, "live")
            page.locator(".log-line", has_text="主力密钥").first.wait_for()
        # The planted strings are caught: the walk can fail.
        go(page, "dashboard")
        planted = "Untranslated words" if lang == "zh" else "未翻译的文字 pool.lead"
        page.evaluate(
            f"document.querySelector('.page').append(Object.assign(document.createElement('p'), {{textContent: {planted!r}}}))"
        )
        caught = problems(page, lang)
        assert caught and all(
            p in " ".join(caught) for p in (["Untranslated"] if lang == "zh" else ["CJK", "pool.lead"])
        )
        page.evaluate("document.querySelector('.page p:last-child').remove()")
    finally:
        context.close()
    assert errors == [], errors


def test_the_switch_changes_the_language_and_is_remembered(browser: Any, site: RunningGateway) -> None:
    context, page, errors = signed_in(browser, site.url, "en-US")
    try:
        go(page, "pool")
        assert page.inner_text(".page h1") == "Pool"
        page.select_option(".sidebar select[name=language]", "zh")
        page.locator(".page h1", has_text="密钥池").wait_for()
        assert page.evaluate("localStorage.getItem('gw-lang')") == "zh"
        page.reload()
        page.wait_for_selector(".shell")
        assert page.inner_text(".sidebar nav").startswith("仪表盘")
        page.select_option(".sidebar select[name=language]", "en")
        page.locator(".page h1", has_text="Pool").wait_for()
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def empty_site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    values: dict[str, Any] = {
        "gemini_api_keys": [],
        "gemini_base_url": fake_upstream[0],
        "admin_token": ADMIN_TOKEN,
        "data_dir": tmp_path_factory.mktemp("first-run") / "data",
        "gemini_api_key_tier": "",
    }
    with running_gateway(values) as running:
        yield running


def test_first_run_imports_a_gemini_balance_env_and_sends_the_first_prompt(
    browser: Any, empty_site: RunningGateway
) -> None:
    context, page, errors = signed_in(browser, empty_site.url, "zh-CN")
    try:
        page.wait_for_selector('.page[data-page="welcome"] .page-head')  # an empty pool starts here
        page.set_input_files("input[name=import_file]", str(SAMPLES / "gemini-balance.env"))
        result = page.locator(".import-result")
        result.wait_for()
        text = result.inner_text()
        assert "已添加 3 个密钥" in text and "AIza...0003" in text and "…3333" in text
        assert "AIzaSyBalanceSampleKeyNumber0001" not in page.content()
        assert len(empty_site.gateway.pool) == 3
        page.click("button[name=send_test]")
        page.locator(".test-result .notice.ok").wait_for()
        assert "gemini-2.5-flash" in page.inner_text(".test-result")
        assert page.locator(".test-result .bubble").inner_text().strip()
        assert problems(page, "zh") == []
        # The imported AUTH_TOKEN is a client token now: a client gets an answer with it.
        answer = httpx.post(
            f"{empty_site.url}/v1/chat/completions",
            json=CHAT,
            headers=bearer("sk-balance-auth-token-cccc3333"),
        )
        assert answer.status_code == 200
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def accounts_site(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: tuple[str, FakeState]
) -> Iterator[RunningGateway]:
    """An empty gateway whose Google sign-in and Code Assist are the fake's, as on a first run."""
    folder = tmp_path_factory.mktemp("first-run-files")
    values = oauth_settings(
        fake_upstream[0],
        folder / "creds",
        admin_token=ADMIN_TOKEN,
        data_dir=folder / "data",
        aistudio_profiles_dir=folder / "profiles",
        aistudio_warmup=False,  # an imported profile's page opens only when a call needs it
        max_retries=4,
    )
    with running_gateway(values) as running:
        yield running


def test_first_run_imports_gcli2api_and_gemini_cli_credentials_and_an_aistudio_profile(
    browser: Any, accounts_site: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    # A gcli2api credential file of an account the fake Google knows, so that the first call is
    # served by it; then the sample files as gcli2api, Gemini CLI and AIstudioProxyAPI write them.
    served = tmp_path / "gcli2api-served.json"
    served.write_bytes(orjson.dumps(account_json(fake, "first-run@example.com", shape="geminicli2api")))
    context, page, errors = signed_in(browser, accounts_site.url, "zh-CN")
    try:
        page.wait_for_selector('.page[data-page="welcome"] .page-head')  # an empty pool starts here
        page.set_input_files("input[name=import_file]", str(served))
        result = page.locator(".import-result", has_text="gcli2api-served.json")
        result.wait_for()
        assert "gcli2api / Gemini CLI 凭据" in result.inner_text()
        assert "已添加 Google 账号 first-run@example.com" in result.inner_text()
        page.click("button[name=send_test]")
        page.locator(".test-result .notice.ok").wait_for()
        assert "first-run@example.com" in page.inner_text(".test-result")  # served by the account
        assert fake.oauth.accounts["first-run@example.com"].onboarded

        page.select_option("select[name=import_kind]", "oauth")
        page.set_input_files(
            "input[name=import_file]",
            [str(SAMPLES / "oauth_creds.json"), str(SAMPLES / "gemini-cli-oauth_creds.json")],
        )
        # Anchored: "gemini-cli-oauth_creds.json —" holds the same words.
        gcli = page.locator(".import-result", has_text=re.compile(r"^\s*oauth_creds\.json —"))
        gcli.wait_for()
        assert "已添加 Google 账号 sample.operator@example.com" in gcli.inner_text()
        cli = page.locator(".import-result", has_text="gemini-cli-oauth_creds.json")
        cli.wait_for()
        assert cli.locator("li").count() == 2  # the file's two accounts
        page.select_option("select[name=import_kind]", "auto")
        page.set_input_files("input[name=import_file]", str(SAMPLES / "aistudio-auth-profile.json"))
        profile = page.locator(".import-result", has_text="aistudio-auth-profile.json")
        profile.wait_for()
        assert "AIstudioProxyAPI 认证配置" in profile.inner_text()
        assert "已保存 AI Studio 配置 aistudio-auth-profile" in profile.inner_text()
        assert problems(page, "zh") == []
        content = page.content()
        for secret in (
            "1//0gSampleRefreshToken",
            "GOCSPX-sampleClientSecret",
            "1//0gGeminiCliSampleRefreshTokenOne",
            "ya29.a0AfB_geminiCliSample",
            "g.a000sampleSidCookieValue",
        ):
            assert secret not in content
        kinds = [c.kind for c in accounts_site.gateway.pool]
        assert kinds.count("oauth") == 4 and kinds.count("aistudio") == 1
        assert page.locator(".page-head .badge", has_text="5").count() == 1  # the pool's count

        # The imported profile is on the AI Studio page, ready to be signed in again from there.
        page.evaluate("location.hash = '#/aistudio'")
        page.wait_for_selector('.studio-profiles tr[data-profile="aistudio-auth-profile"]')
    finally:
        context.close()
    assert errors == [], errors
