"""The ``dropline`` command line: ``cli/app.py`` is the root, one module per command
group under a capability (``cli/supply/runs.py`` is ``dropline runs``), and
``cli/console.py`` is what they share (the console, one-line errors, the async runner).


dropline db upgrade          create or migrate the database
dropline demo                seed the demo shop and a live drop (idempotent)
dropline serve               start the API (docs at /docs)
dropline worker              run the background jobs (expiry, events, recovery)
dropline keys create         make an API key (shown once)
dropline buyer-token BUYER   mint a signed buyer token for testing
dropline report DROP         the post-stream report (--csv, --html FILE)
dropline simulate DROP       drive a realistic live drop against a running server
dropline runs|qc|preorders   production runs, quality control, pre-orders
dropline webhooks replay     send failed webhook deliveries again
dropline tracking import F   mark orders shipped from a CSV of tracking numbers
dropline orders cancel O     cancel an unshipped order and refund it
dropline returns ...         authorise, receive, refund and list returns
"""
