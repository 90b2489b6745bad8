"""The service's Falcon resources, one module per area; `app.create_app` routes them."""
