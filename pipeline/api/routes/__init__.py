"""The API's routes, one module per area: search, images (and uploads), the library as a whole."""
