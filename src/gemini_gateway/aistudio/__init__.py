"""AI Studio page automation: saved Google logins drive the AI Studio web page with Playwright.

page_spec.py   everything known about the page (selectors, URLs, RPC format): one file to
               change when AI Studio is redesigned
rpc_hook.js    in-page observer of the page's own RPCs (tier 1 of answer capture)
prompt.py      a GenerateContentRequest as page actions (pure)
driver.py      the page actions themselves
capture.py     taking the answer: page RPC, helper endpoint, or DOM
turns.py       one call at a time per page, with a visible queue
job.py         one call: its events and its progress
instance.py    one profile: credential, page life, watchdog, health
browser.py     the browser and its contexts
profiles.py    the folder of saved logins
scripts.py     user scripts mounted into the page
service.py     all of it running in a gateway; `backends/aistudio_page.py` is the Backend
"""
