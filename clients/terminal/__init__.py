"""The terminal chat client: `make client USER=<id>` or `python -m clients.terminal`.

The protocol has no UI in it: messages.py (wire shapes, parsed by the client's own
code), conversations.py (one conversation by seq: gaps, receipts, recalls),
state.py (what each server frame and REST answer changes), commands.py (typed
/commands), rest.py (conversation list, history, mark-read, recall, groups),
session.py (the connection: sync, keep-alive, reconnect with backoff). ui.py is the
Textual app on top.
"""
