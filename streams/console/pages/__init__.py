"""One module per console page: its routes and handlers (templates in ``../templates``)."""
