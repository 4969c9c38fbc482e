"""The MongoDB adapter of the chat store, one module per concern; chalicelib/store.py
puts them together."""
