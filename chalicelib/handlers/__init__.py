"""Route handlers: translate API Gateway events into calls on the services, and back."""
