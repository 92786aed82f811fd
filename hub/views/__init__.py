"""REST views, one module per capability."""
