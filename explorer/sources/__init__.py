"""Where traces come from: the embedded store or a remote tracing backend, behind one interface."""
