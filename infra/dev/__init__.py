"""The local stack behind `make dev` and `make token`: services, secret, gateway."""
