"""The HTTP layer: views, middlewares, error mapping. The only place that knows aiohttp requests."""
