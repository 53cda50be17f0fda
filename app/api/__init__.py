"""The HTTP layer: dependencies and routers."""
