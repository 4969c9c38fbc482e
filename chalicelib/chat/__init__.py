"""The chat service layer: one use case per module, written against ports.

Handlers (chalicelib/handlers) parse a frame or body into a typed model, call one use
case and encode what it returns; the use cases hold the business rules (who may send,
read, recall or manage a group; when a sender is acknowledged; who is told what) and
reach storage, presence and delivery only through the Protocols in `ports.py`, so they
run against in-memory fakes in unit tests and against MongoDB and Redis everywhere else.
"""
