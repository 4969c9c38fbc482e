"""Tools that run beside the app: local services, the local API Gateway, dev stack."""
