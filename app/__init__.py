"""The application layer: the `neatai` command line, the embedded runner that starts the
services on loopback, and the plots. The one layer that imports the services."""
