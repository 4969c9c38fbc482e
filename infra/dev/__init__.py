"""The local stack behind `make dev` and `make token`: services, secret, gateway."""

# What `make dev` writes into DATA_DIR once it serves (contract section 5).
ENDPOINTS_FILE = "local-endpoints.json"
