"""Google accounts logged in the way Gemini CLI does, served through the Code Assist backend.

    tokens.py      credential files and JSON in the shapes found in the wild
    client.py      the token endpoint (refresh, code exchange), PKCE, the authorization URL
    onboarding.py  project discovery and onboarding (loadCodeAssist, onboardUser, its operation)
    account.py     one account and the pool credential standing for it
    sources.py     the folder, OAUTH_CREDS_JSON and the store: loading and writing tokens back
    manager.py     the accounts of one gateway: fresh tokens and projects, once per account
    login.py       the installed-app login (loopback redirect or copy-paste)
    loopback.py    the CLI login's temporary server for the loopback redirect
    cli.py         `gemini-gateway creds login | list`

The backend itself is `gemini_gateway.backends.code_assist`; the management API `admin/oauth_api.py`.
"""
