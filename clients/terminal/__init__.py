"""The terminal chat client: `make client USER=<id>` or `python -m clients.terminal`.

The protocol has no UI in it: messages.py (wire shapes, dedupe), state.py (what each
server frame changes), rest.py (unread pages, mark-read), session.py (the connection:
catch-up, keep-alive, reconnect with backoff). ui.py is the Textual app on top.
"""
