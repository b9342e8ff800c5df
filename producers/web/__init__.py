"""The web preference center: a customer-facing page and JSON API behind signed, expiring links.

Modules: `signing` (signed links), `csrf` (form tokens), `config` (brand, colours, texts),
`preferences` (current values, form and JSON input, the diff into changes), `events` (the
PreferenceEvent with its proof), `processor_client` (current values from the processor's query
API), `render` (HTML), `app` (the aiohttp pages) and `api` (the JSON API).
"""
