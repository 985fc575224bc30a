"""C4 diagrams as SVG through graphviz: the container diagram, overlays on it, the system map."""
